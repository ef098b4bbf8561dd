package dev.distillery.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Benchmarks of whole jobs, each submitted with Spark's SparkSubmit ({@code bin/spark-submit-local})
 * as users run them, wall time measured around the process:
 *
 * <ul>
 *   <li>{@code scaling}: distill with 1 and 2 workers on a multi-JVM {@code local-cluster}, averaging
 *       every 1, 5 and 20 minibatches, a fixed number of samples each: samples/s and the validation
 *       loss reached.
 *   <li>{@code growth}: prepare and distill wall time at 1×, 4× and 16× a base number of pairs.
 * </ul>
 */
public final class ClusterBench {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path REPO = Path.of("").toAbsolutePath();
  private static final String CONFIG = "conf/examples/tiny.conf";
  private static final String SMALL_DECODE = "decode.max-new-tokens=16";

  public static void main(String[] args) throws Exception {
    String mode = args.length > 0 ? args[0] : "scaling";
    int rows = args.length > 1 ? Integer.parseInt(args[1]) : mode.equals("growth") ? 100 : 1000;
    Path work = Files.createTempDirectory("distillery-bench-" + mode);
    Path corpus = work.resolve("corpus.jsonl");
    List<String> lines = Files.readAllLines(Path.of("data/sample/es-en.train.jsonl"));
    Path teacher = work.resolve("teacher");
    run(work.resolve("train.log"), "local[2]", "train", "--config", CONFIG,
        "--input", "data/sample/es-en.tiny.jsonl", "--output", teacher.toString(), "--set", "train.epochs=1");
    if (mode.equals("scaling")) {
      Files.write(corpus, lines.subList(0, Math.min(rows, lines.size())));
      scaling(work, corpus, teacher, rows);
    } else if (mode.equals("growth")) {
      growth(work, lines, teacher, rows);
    } else {
      throw new IllegalArgumentException("Cannot run benchmark: unknown mode (scaling or growth): " + mode);
    }
  }

  private static void scaling(Path work, Path corpus, Path teacher, int rows) throws Exception {
    Path targets = work.resolve("targets");
    run(work.resolve("prepare.log"), "local[2]", "prepare", "--config", CONFIG, "--input", corpus.toString(),
        "--teacher", teacher.toString(), "--output", targets.toString(), "--set", SMALL_DECODE);
    int batch = 16;
    int samples = 960; // 60 minibatches of 16: the same data volume for every setting
    Table table = new Table("Parameter averaging on a multi-JVM cluster: distill (kl) of " + samples
        + " samples, batch " + batch + " per worker",
        "workers", "averaging every", "master", "training s", "samples/s", "validation loss", "job wall s");
    for (int workers : new int[] {1, 2}) {
      for (int every : new int[] {1, 5, 20}) {
        Path student = work.resolve("student-" + workers + "-" + every);
        String master = "local-cluster[" + workers + ",1,2048]";
        double wall = run(work.resolve(student.getFileName() + ".log"), master, "distill", "--config", CONFIG,
            "--targets", targets.toString(), "--output", student.toString(), "--set", "distill.loss=kl",
            "--set", "train.epochs=100", "--set", "train.max-steps=" + samples / batch,
            "--set", "train.batch-per-worker=" + batch, "--set", "train.averaging-frequency=" + every,
            "--set", "train.progress-every=" + every, "--set", "spark.partitions=" + workers,
            "--set", "distill.eval-examples=1", "--set", "distill.checkpoint-every=0", "--set", SMALL_DECODE);
        JsonNode last = lastMetrics(student.resolve("metrics.jsonl"));
        JsonNode provenance = JSON.readTree(student.resolve("model/model.json").toFile()).get("provenance");
        JsonNode validation = provenance.get("validationLoss");
        double tokensPerSecond = last.get("tokensPerSecond").asDouble();
        double trainingSeconds = last.get("seconds").asDouble();
        table.row(workers, every, master, trainingSeconds, last.get("examples").asDouble() / trainingSeconds,
            validation.get(validation.size() - 1).asDouble(), wall);
        System.err.printf("bench: %d worker(s), averaging every %d: %.1f s, %.0f tokens/s%n", workers, every,
            trainingSeconds, tokensPerSecond);
      }
    }
    table.note("corpus: the first " + rows + " pairs of data/sample/es-en.train.jsonl; teacher: tiny.conf, 1 epoch");
    table.note("each worker is an executor JVM with 1 core; the driver shares the same 2 cores");
    table.note("training s: the trainer's own clock (metrics.jsonl: fitting and averaging, no JVM start, "
        + "validation or evaluation); job wall s: the whole spark-submit");
    table.publish("cluster-scaling", "bin/bench scaling " + rows);
  }

  private static void growth(Path work, List<String> lines, Path teacher, int base) throws Exception {
    Table table = new Table("How cost grows with corpus size (local[2], tiny.conf teacher and student)",
        "corpus", "pairs", "prepare s", "prepare s / pair", "distill s", "distill s / pair");
    for (int factor : new int[] {1, 4, 16}) {
      int n = Math.min(lines.size(), base * factor);
      Path corpus = work.resolve("corpus-" + factor + "x.jsonl");
      Files.write(corpus, lines.subList(0, n));
      Path targets = work.resolve("targets-" + factor + "x");
      double prepare = run(work.resolve("prepare-" + factor + "x.log"), "local[2]", "prepare", "--config", CONFIG,
          "--input", corpus.toString(), "--teacher", teacher.toString(), "--output", targets.toString(),
          "--set", SMALL_DECODE);
      Path student = work.resolve("student-" + factor + "x");
      double distill = run(work.resolve("distill-" + factor + "x.log"), "local[2]", "distill", "--config", CONFIG,
          "--targets", targets.toString(), "--output", student.toString(), "--set", "distill.loss=kl",
          "--set", "train.epochs=1", "--set", "distill.eval-examples=20", "--set", SMALL_DECODE);
      table.row(factor + "x", n, prepare, prepare / n, distill, distill / n);
      System.err.printf("bench: %dx (%d pairs): prepare %.1f s, distill %.1f s%n", factor, n, prepare, distill);
    }
    table.note("wall time of each spark-submit, JVM start and Spark session included (a fixed cost of ~10 s)");
    table.note("prepare: beam 2, 1 sample, top-8, max 16 new tokens; distill: 1 epoch, kl, 20 examples evaluated");
    table.publish("growth", "bin/bench growth " + base);
  }

  /** Runs a Distillery command through spark-submit; returns its wall seconds, fails on a non-zero exit. */
  private static double run(Path log, String master, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(REPO.resolve("bin/spark-submit-local").toString(),
        "--master", master, "--class", "dev.distillery.jobs.Distillery", jobsJar().toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().put("DISTILLERY_JAVA_OPTS", "-Xmx4g");
    long t0 = System.nanoTime();
    Process p = pb.start();
    int code = p.waitFor();
    double seconds = (System.nanoTime() - t0) / 1e9;
    if (code != 0) {
      List<String> out = Files.readAllLines(log, StandardCharsets.UTF_8);
      throw new IllegalStateException("Cannot benchmark: " + args[0] + " exited " + code + ":\n"
          + String.join("\n", out.subList(Math.max(0, out.size() - 40), out.size())));
    }
    return seconds;
  }

  private static Path jobsJar() throws IOException {
    try (var jars = Files.list(REPO.resolve("jobs/target"))) {
      return jars.filter(p -> p.getFileName().toString().matches("distillery-jobs-.*\\.jar")).findFirst()
          .orElseThrow(() -> new IOException("Cannot benchmark: no jobs jar in jobs/target (mvn package first)"));
    }
  }

  private static JsonNode lastMetrics(Path metrics) throws IOException {
    List<String> lines = Files.readAllLines(metrics);
    return JSON.readTree(lines.get(lines.size() - 1));
  }

  private ClusterBench() {}
}
