package dev.distillery.distill;

import dev.distillery.storage.Location;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.NodeList;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReportTest {
  @TempDir Path dir;

  /** Each chart's SVG, parsed as XML, with the text it shows. */
  private record Chart(Document svg, List<String> texts) {}

  private static List<Chart> charts(String html) throws Exception {
    List<Chart> charts = new ArrayList<>();
    Matcher m = Pattern.compile("<svg.*?</svg>", Pattern.DOTALL).matcher(html);
    while (m.find()) {
      DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
      f.setNamespaceAware(true);
      Document doc = f.newDocumentBuilder().parse(new ByteArrayInputStream(m.group().getBytes(StandardCharsets.UTF_8)));
      NodeList text = doc.getElementsByTagNameNS("*", "text");
      List<String> texts = new ArrayList<>();
      for (int i = 0; i < text.getLength(); i++) {
        texts.add(text.item(i).getTextContent());
      }
      charts.add(new Chart(doc, texts));
    }
    return charts;
  }

  @Test
  void everyChartIsWellFormedSvgWithItsTitleAxesUnitsAndSeries() throws Exception {
    Path metrics = dir.resolve("metrics.jsonl");
    StringBuilder lines = new StringBuilder();
    for (int step = 10; step <= 200; step += 10) {
      lines.append(String.format(java.util.Locale.ROOT, "{\"step\":%d,\"loss\":%.3f,\"gate\":%.3f}%n", step,
          5.0 / Math.sqrt(step), 1 - step / 200.0));
    }
    Files.writeString(metrics, lines);
    Files.writeString(dir.resolve(DistillPipeline.EVALUATION),
        "{\"epoch\":1,\"greedyChrf\":8.5}\n{\"epoch\":2,\"greedyChrf\":11.25}\n");
    Path html = dir.resolve("report.html");

    Report.write(Location.of(html), "hybrid", Location.of(metrics), List.of(6.0, 4.5, Double.NaN, 3.9), List.of());

    List<Chart> charts = charts(Files.readString(html));
    assertEquals(4, charts.size(), "training loss, held-out loss, gate, chrF");
    String[][] expected = {
      {"Training loss per target token", "step", "loss (nats per target token)", "hybrid (training minibatches)"},
      {"Held-out loss by epoch (0: before training)", "epoch", "loss (nats per target token)", "held-out"},
      {"Hybrid gate g (token-level weight)", "step", "g", "gate g"},
      {"Greedy chrF on held-out examples, by epoch", "epoch", "chrF (0-100)", "greedy chrF"},
    };
    for (int c = 0; c < charts.size(); c++) {
      for (String text : expected[c]) {
        assertTrue(charts.get(c).texts().contains(text), "chart " + c + " lacks '" + text + "': " + charts.get(c).texts());
      }
      // Tick labels: numbers on both axes.
      long ticks = charts.get(c).texts().stream().filter(t -> t.matches("-?[0-9][0-9.,]*")).count();
      assertTrue(ticks >= 4, "chart " + c + " has too few tick labels: " + charts.get(c).texts());
    }
    // The training loss's x axis runs to the last step.
    assertTrue(charts.get(0).texts().stream().anyMatch(t -> t.replace(",", "").equals("200")),
        charts.get(0).texts().toString());
  }
}
