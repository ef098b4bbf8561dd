package dev.distillery.prepare;

import dev.distillery.storage.Location;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.tokenizer.TokenBridge;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * {@code inspect}: what a targets directory holds: rows, tokens, shards, bytes per stored position,
 * mean top-k coverage {@code 1 − tail}, a histogram of the teacher's entropy over its top-k (natural
 * log, a lower bound of the full entropy), and a few decoded examples.
 */
public final class Inspect {
  private Inspect() {}

  /** Upper edges of the entropy histogram bins, in nats. */
  static final double[] ENTROPY_BINS = {0.25, 0.5, 1, 1.5, 2, 3, 4, Double.POSITIVE_INFINITY};

  public static Map<String, Object> run(SparkSession spark, Path targets, int examples) throws IOException {
    return run(spark, Location.of(targets), examples, null);
  }

  public static Map<String, Object> run(SparkSession spark, Path targets, int examples, TextTokenizer student)
      throws IOException {
    return run(spark, Location.of(targets), examples, student);
  }

  public static Map<String, Object> run(SparkSession spark, Location targets, int examples) throws IOException {
    return run(spark, targets, examples, null);
  }

  /** References read to measure the alignment with a student tokenizer. */
  static final int ALIGNMENT_ROWS = 500;

  /**
   * @param student a student tokenizer of its own, or null: with one, the report gains how the first
   *     {@value #ALIGNMENT_ROWS} references align with its tokens ({@code acrossTokenizers})
   */
  public static Map<String, Object> run(SparkSession spark, Location targets, int examples, TextTokenizer student)
      throws IOException {
    Manifest manifest = Manifest.read(targets);
    spark.sparkContext().setJobDescription("Verify " + targets + " against its manifest");
    TargetsCheck.verify(spark, targets, manifest, "inspect");
    spark.sparkContext().setJobDescription("Inspect " + targets);
    Dataset<Row> df = spark.read().parquet(targets.toString());
    df.createOrReplaceTempView("targets_inspect");
    Row totals = spark.sql("""
        SELECT count(*) AS rows, count(DISTINCT shard) AS shards,
               sum(size(reference.ids) + 1) AS reference_positions,
               sum(size(beam.ids) + 1) AS beam_positions,
               sum(aggregate(samples, 0L, (acc, s) -> acc + size(s.ids) + 1)) AS sample_positions
        FROM targets_inspect""").first();
    Row coverage = spark.sql("""
        SELECT avg(1 - t) AS coverage FROM targets_inspect LATERAL VIEW explode(reference.tail_mass) x AS t""").first();
    List<Row> entropies = spark.sql("""
        SELECT -aggregate(lp, 0D, (acc, v) -> acc + exp(v) * v) AS h
        FROM targets_inspect LATERAL VIEW explode(reference.topk_logprobs) x AS lp""").collectAsList();
    long[] histogram = new long[ENTROPY_BINS.length];
    for (Row r : entropies) {
      double h = r.getDouble(0);
      int b = 0;
      while (h > ENTROPY_BINS[b]) {
        b++;
      }
      histogram[b]++;
    }
    long bytes;
    bytes = 0;
    for (Location f : targets.files()) {
      if (f.name().endsWith(".parquet") && !f.relativeTo(targets).startsWith(PreparePipeline.REJECTED)) {
        bytes += f.length();
      }
    }
    long positions = totals.getLong(2) + totals.getLong(3) + (totals.isNullAt(4) ? 0 : totals.getLong(4));
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("targets", targets.toString());
    out.put("schemaVersion", manifest.schemaVersion());
    out.put("rows", totals.getLong(0));
    out.put("rejectedRows", manifest.rejectedRows());
    out.put("rejectedByReason", manifest.rejectedByReason());
    out.put("shards", totals.getLong(1));
    out.put("topK", manifest.topK());
    out.put("positions", Map.of("reference", totals.getLong(2), "beam", totals.getLong(3),
        "samples", totals.isNullAt(4) ? 0L : totals.getLong(4)));
    out.put("parquetBytes", bytes);
    out.put("bytesPerPosition", positions == 0 ? 0 : (double) bytes / positions);
    out.put("bytesPerTopkEntry", positions == 0 ? 0 : (double) bytes / positions / manifest.topK());
    out.put("meanTopkCoverage", coverage.isNullAt(0) ? Double.NaN : coverage.getDouble(0));
    Map<String, Long> hist = new LinkedHashMap<>();
    double lo = 0;
    for (int b = 0; b < ENTROPY_BINS.length; b++) {
      hist.put(String.format(java.util.Locale.ROOT, "[%.2f, %s)", lo,
          Double.isInfinite(ENTROPY_BINS[b]) ? "inf" : String.format(java.util.Locale.ROOT, "%.2f", ENTROPY_BINS[b])),
          histogram[b]);
      lo = ENTROPY_BINS[b];
    }
    out.put("entropyHistogramNats", hist);
    TextTokenizer tok = tokenizer(targets);
    if (student != null) {
      if (tok == null) {
        throw new IOException("Cannot inspect the alignment with a student tokenizer: the targets' tokenizer does not "
            + "load: " + targets.resolve(PreparePipeline.TOKENIZER));
      }
      TokenBridge bridge = TokenBridge.of(tok, student);
      TokenBridge.Alignment a = referenceAlignment(
          df.select("reference").orderBy(df.col("shard"), df.col("id")).limit(ALIGNMENT_ROWS).collectAsList(), bridge,
          manifest.topK());
      Map<String, Object> across = new LinkedHashMap<>();
      across.put("studentVocabSize", student.vocabSize());
      across.put("teacherTokensMapped", bridge.mappedEntries());
      across.put("references", Math.min(ALIGNMENT_ROWS, totals.getLong(0)));
      across.put("alignedPositions", a.alignedFraction());
      across.put("mappedMass", a.mappedFraction());
      out.put("acrossTokenizers", across);
    }
    List<Map<String, Object>> samples = new ArrayList<>();
    for (Row r : df.orderBy("shard", "id").limit(examples).collectAsList()) {
      Map<String, Object> e = new LinkedHashMap<>();
      e.put("id", r.getAs("id"));
      e.put("source", r.getAs("source"));
      e.put("reference", r.getAs("target"));
      TeacherOutput beam = TeacherOutput.read(r.getAs("beam"));
      e.put("beam", tok == null ? java.util.Arrays.toString(beam.ids()) : tok.decode(beam.ids()));
      e.put("beamLogprob", beam.logprob());
      samples.add(e);
    }
    out.put("examples", samples);
    return out;
  }

  /**
   * How the teacher's references of {@code rows} (each with a {@code reference} column) align with a
   * student's tokens, the teacher's top-k taken as they are stored.
   */
  public static TokenBridge.Alignment referenceAlignment(List<Row> rows, TokenBridge bridge, int k) {
    TokenBridge.Alignment a = TokenBridge.Alignment.NONE;
    for (Row r : rows) {
      a = a.plus(TeacherOutput.relabel(r.getAs("reference"), bridge, k, false));
    }
    return a;
  }

  private static TextTokenizer tokenizer(Location targets) {
    try {
      return TextTokenizer.load(targets.resolve(PreparePipeline.TOKENIZER));
    } catch (IOException | RuntimeException e) {
      return null; // an unreadable tokenizer: show ids instead of text
    }
  }

  /** The report as text for the console. */
  public static String format(Map<String, Object> r) {
    StringBuilder sb = new StringBuilder();
    sb.append(String.format(java.util.Locale.ROOT, "targets %s (schema v%s)%n", r.get("targets"), r.get("schemaVersion")));
    sb.append(String.format(java.util.Locale.ROOT, "rows %s on %s shards, rejected %s %s%n", r.get("rows"),
        r.get("shards"), r.get("rejectedRows"), r.get("rejectedByReason")));
    sb.append(String.format(java.util.Locale.ROOT, "positions %s, top-k %s%n", r.get("positions"), r.get("topK")));
    sb.append(String.format(java.util.Locale.ROOT, "parquet %s bytes: %.2f bytes/position, %.2f bytes per (id, log-prob) entry%n",
        r.get("parquetBytes"), (Double) r.get("bytesPerPosition"), (Double) r.get("bytesPerTopkEntry")));
    sb.append(String.format(java.util.Locale.ROOT, "mean top-k coverage (1 - tail) %.4f%n", (Double) r.get("meanTopkCoverage")));
    sb.append("teacher entropy over top-k along references (nats): ");
    sb.append(r.get("entropyHistogramNats")).append(System.lineSeparator());
    if (r.get("acrossTokenizers") instanceof Map<?, ?> a) {
      sb.append(String.format(java.util.Locale.ROOT, "student tokenizer (%s tokens; %s teacher tokens are one student "
              + "token): on %s references %.1f%% of student positions align with a teacher position, and there %.1f%% "
              + "of the teacher's top-k mass maps to student tokens%n", a.get("studentVocabSize"),
          a.get("teacherTokensMapped"), a.get("references"), 100 * (Double) a.get("alignedPositions"),
          100 * (Double) a.get("mappedMass")));
    }
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> examples = (List<Map<String, Object>>) r.get("examples");
    for (Map<String, Object> e : examples) {
      sb.append(String.format(java.util.Locale.ROOT, "%n[%s]%n  source:    %s%n  reference: %s%n  beam:      %s  (log-prob %.2f)%n",
          e.get("id"), e.get("source"), e.get("reference"), e.get("beam"), (Double) e.get("beamLogprob")));
    }
    return sb.toString();
  }
}
