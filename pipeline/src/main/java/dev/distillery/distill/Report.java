package dev.distillery.distill;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.storage.Location;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.geom.Rectangle2D;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.text.TextUtils;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.jfree.svg.SVGGraphics2D;

/**
 * {@code report.html}: the training and held-out loss, the gate, OKD's two losses and the per-epoch
 * chrF as inline SVG charts (JFreeChart, with axes, units and legends) and the comparison table. No
 * scripts, no network.
 */
final class Report {
  private Report() {}

  static {
    // JFreeChart draws rotated text (the y axis's label) as a TextLayout, which an SVG canvas can only
    // record as glyph outlines; plain drawString keeps it a <text> element that can be read and searched.
    TextUtils.setUseDrawRotatedStringWorkaround(false);
  }

  private static final int WIDTH = 640;
  private static final int HEIGHT = 300;

  /**
   * @param validationLoss the held-out loss before training and after each epoch (nats per target token)
   */
  static void write(Location file, String loss, Location metrics, List<Double> validationLoss, List<SystemScores> table)
      throws IOException {
    List<double[]> points = new ArrayList<>();
    List<double[]> gate = new ArrayList<>();
    List<double[]> studentKl = new ArrayList<>();
    List<double[]> teacherLoss = new ArrayList<>();
    ObjectMapper json = new ObjectMapper();
    for (String line : metrics.readLines()) {
      JsonNode n = json.readTree(line);
      points.add(new double[] {n.get("step").asDouble(), n.get("loss").asDouble()});
      if (n.has("gate")) {
        gate.add(new double[] {n.get("step").asDouble(), n.get("gate").asDouble()});
      }
      if (n.has("studentKl")) {
        studentKl.add(new double[] {n.get("step").asDouble(), n.get("studentKl").asDouble()});
        teacherLoss.add(new double[] {n.get("step").asDouble(), n.get("teacherLoss").asDouble()});
      }
    }
    List<double[]> heldOut = new ArrayList<>();
    for (int e = 0; e < validationLoss.size(); e++) {
      heldOut.add(new double[] {e, validationLoss.get(e)});
    }
    StringBuilder html = new StringBuilder();
    html.append("<!doctype html><meta charset=utf-8><title>Distillery: ").append(loss).append("</title>")
        .append("<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:right}"
            + "th:first-child,td:first-child{text-align:left}</style>")
        .append("<h1>Distillation with loss <code>").append(loss).append("</code></h1>")
        .append(chart("Training loss per target token", "step", "loss (nats per target token)",
            loss + " (training minibatches)", points))
        .append(chart("Held-out loss by epoch (0: before training)", "epoch", "loss (nats per target token)",
            "held-out", heldOut));
    if (!gate.isEmpty()) {
      html.append(chart("Hybrid gate g (token-level weight)", "step", "g", "gate g", gate));
    }
    if (!studentKl.isEmpty()) {
      html.append(chart("Online KD: student loss KL(p_T' || q_S) on fixed probes", "step", "nats per token",
              "student KL", studentKl))
          .append(chart("Online KD: LoRA modules' loss a*KL(q_S || p_T') + (1-a)*CE", "step", "nats per token",
              "teacher modules' loss", teacherLoss));
    }
    Location evaluation = metrics.sibling(DistillPipeline.EVALUATION);
    if (evaluation.exists()) {
      List<double[]> chrf = new ArrayList<>();
      for (String line : evaluation.readLines()) {
        JsonNode n = json.readTree(line);
        chrf.add(new double[] {n.get("epoch").asDouble(), n.get("greedyChrf").asDouble()});
      }
      html.append(chart("Greedy chrF on held-out examples, by epoch", "epoch", "chrF (0-100)",
          "greedy chrF", chrf));
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
    file.writeString(html.toString());
  }

  /**
   * One line chart as a {@code <figure>} holding an inline SVG: points are {@code {x, y}}; non-finite
   * y values are left out of the line (a NaN loss would otherwise blank the chart's scale).
   */
  static String chart(String title, String xLabel, String yLabel, String series, List<double[]> points) {
    try {
      return draw(title, xLabel, yLabel, series, points);
    } catch (RuntimeException | LinkageError e) {
      // A JVM without fonts cannot measure the labels; the student is trained and saved by now, so the
      // report says what is missing instead of failing the run.
      return "<figure><figcaption>" + title + ": chart unavailable (" + e + ")</figcaption></figure>";
    }
  }

  private static String draw(String title, String xLabel, String yLabel, String series, List<double[]> points) {
    XYSeries s = new XYSeries(series, false, true);
    for (double[] p : points) {
      if (Double.isFinite(p[1])) {
        s.add(p[0], p[1]);
      }
    }
    XYSeriesCollection data = new XYSeriesCollection(s);
    JFreeChart chart = ChartFactory.createXYLineChart(title, xLabel, yLabel, data);
    chart.setBackgroundPaint(Color.WHITE);
    XYPlot plot = chart.getXYPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, data.getItemCount(0) <= 30);
    renderer.setSeriesStroke(0, new BasicStroke(2f));
    plot.setRenderer(renderer);
    SVGGraphics2D g = new SVGGraphics2D(WIDTH, HEIGHT);
    chart.draw(g, new Rectangle2D.Double(0, 0, WIDTH, HEIGHT));
    return "<figure>" + g.getSVGElement() + "</figure>";
  }
}
