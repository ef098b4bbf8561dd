package dev.distillery.distill;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code report.html}: the loss, gate and per-epoch chrF curves as inline SVG and the comparison
 * table. No scripts, no network.
 */
final class Report {
  private Report() {}

  static void write(Path file, String loss, Path metrics, List<SystemScores> table) throws IOException {
    List<double[]> points = new ArrayList<>();
    List<double[]> gate = new ArrayList<>();
    List<double[]> studentKl = new ArrayList<>();
    List<double[]> teacherLoss = new ArrayList<>();
    if (Files.exists(metrics)) {
      ObjectMapper json = new ObjectMapper();
      for (String line : Files.readAllLines(metrics)) {
        JsonNode n = json.readTree(line);
        points.add(new double[] {n.get("step").asDouble(), n.get("loss").asDouble()});
        if (n.has("gate")) {
          gate.add(new double[] {n.get("step").asDouble(), n.get("gate").asDouble()});
        }
        if (n.has("student_kl")) {
          studentKl.add(new double[] {n.get("step").asDouble(), n.get("student_kl").asDouble()});
          teacherLoss.add(new double[] {n.get("step").asDouble(), n.get("teacher_loss").asDouble()});
        }
      }
    }
    StringBuilder html = new StringBuilder();
    html.append("<!doctype html><meta charset=utf-8><title>Distillery: ").append(loss).append("</title>")
        .append("<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:right}"
            + "th:first-child,td:first-child{text-align:left}</style>")
        .append("<h1>Distillation with loss <code>").append(loss).append("</code></h1>")
        .append("<h2>Training loss per target token</h2>").append(svg(points, "#1f77b4", "step"));
    if (!gate.isEmpty()) {
      html.append("<h2>Hybrid gate g (token-level weight)</h2>").append(svg(gate, "#d62728", "step"));
    }
    if (!studentKl.isEmpty()) {
      html.append("<h2>Online KD: student loss KL(p<sub>T'</sub> ‖ q<sub>S</sub>) on fixed probes</h2>")
          .append(svg(studentKl, "#2ca02c", "step"))
          .append("<h2>Online KD: LoRA modules' loss α·KL(q<sub>S</sub> ‖ p<sub>T'</sub>) + (1−α)·CE</h2>")
          .append(svg(teacherLoss, "#9467bd", "step"));
    }
    Path evaluation = metrics.resolveSibling(DistillPipeline.EVALUATION);
    if (Files.exists(evaluation)) {
      List<double[]> chrf = new ArrayList<>();
      ObjectMapper json = new ObjectMapper();
      for (String line : Files.readAllLines(evaluation)) {
        JsonNode n = json.readTree(line);
        chrf.add(new double[] {n.get("epoch").asDouble(), n.get("greedyChrf").asDouble()});
      }
      html.append("<h2>Greedy chrF on held-out examples, by epoch</h2>").append(svg(chrf, "#2ca02c", "epoch"));
    }
    html.append("<h2>Held-out evaluation</h2><table><tr><th>system<th>greedy BLEU<th>greedy chrF<th>beam BLEU"
        + "<th>beam chrF<th>reference perplexity<th>bucket KL(teacher‖model)<th>vocabulary KL(teacher‖model)"
        + "<th>early &lt;/s&gt; argmax</tr>");
    for (SystemScores s : table) {
      html.append("<tr><td>").append(s.system()).append("<td>").append(StudentEvaluation.fmt(s.greedyBleu()))
          .append("<td>").append(StudentEvaluation.fmt(s.greedyChrf())).append("<td>").append(StudentEvaluation.fmt(s.beamBleu()))
          .append("<td>").append(StudentEvaluation.fmt(s.beamChrf())).append("<td>")
          .append(StudentEvaluation.fmt(s.referencePerplexity())).append("<td>")
          .append(String.format(Locale.ROOT, "%.4f", s.bucketKl())).append("<td>")
          .append(StudentEvaluation.fmt4(s.vocabKl())).append("<td>")
          .append(StudentEvaluation.fmt(100 * s.eosArgmax())).append("%</tr>");
    }
    html.append("</table>");
    Files.writeString(file, html.toString());
  }

  private static String svg(List<double[]> points, String color, String xLabel) {
    if (points.isEmpty()) {
      return "<p>no data</p>";
    }
    double minX = points.get(0)[0], maxX = minX, minY = points.get(0)[1], maxY = minY;
    for (double[] p : points) {
      minX = Math.min(minX, p[0]);
      maxX = Math.max(maxX, p[0]);
      minY = Math.min(minY, p[1]);
      maxY = Math.max(maxY, p[1]);
    }
    double w = 600, h = 240, pad = 40;
    StringBuilder path = new StringBuilder();
    for (double[] p : points) {
      double x = pad + (maxX == minX ? 0 : (p[0] - minX) / (maxX - minX)) * (w - 2 * pad);
      double y = h - pad - (maxY == minY ? 0.5 : (p[1] - minY) / (maxY - minY)) * (h - 2 * pad);
      path.append(path.length() == 0 ? "M" : "L").append(String.format(Locale.ROOT, "%.1f,%.1f", x, y));
    }
    return String.format(Locale.ROOT, "<svg width=%.0f height=%.0f><rect width=100%% height=100%% fill=white stroke=#ccc/>"
        + "<path d='%s' fill=none stroke='%s' stroke-width=2/>"
        + "<text x=5 y=15 font-size=12>%.3f</text><text x=5 y=%.0f font-size=12>%.3f</text>"
        + "<text x=%.0f y=%.0f font-size=12>%s %.0f</text></svg>",
        w, h, path, color, maxY, h - pad, minY, w - 110, h - 5, xLabel, maxX);
  }
}
