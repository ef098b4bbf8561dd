package dev.distillery.jobs;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A Distillery job submitted through Spark's own SparkSubmit ({@code bin/spark-submit-local}) in a
 * child process, as data engineers run it; its output goes to a log file that tests can watch.
 */
final class Submitted implements AutoCloseable {
  static final Path REPO = Path.of(System.getProperty("distillery.repo", "..")).toAbsolutePath().normalize();
  static final Path JOBS_JAR = Path.of(System.getProperty("distillery.jobsJar",
      REPO.resolve("jobs/target/distillery-jobs-0.1.0-SNAPSHOT.jar").toString()));
  static final String TINY = REPO.resolve("conf/examples/tiny.conf").toString();
  static final String SAMPLE = REPO.resolve("data/sample/es-en.tiny.jsonl").toString();

  final Process process;
  final Path log;

  private Submitted(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  /**
   * Starts {@code spark-submit --master MASTER [--conf k=v ...] JOBS_JAR ARGS...}.
   *
   * @param confs Spark settings as {@code key=value}
   */
  static Submitted start(Path log, String master, List<String> confs, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(REPO.resolve("bin/spark-submit-local").toString(), "--master", master));
    for (String conf : confs) {
      cmd.add("--conf");
      cmd.add(conf);
    }
    cmd.addAll(List.of("--class", Distillery.class.getName(), JOBS_JAR.toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(REPO.toFile());
    // Executors of a local-cluster run from the assembled Spark home (bin/spark-home), not a user's.
    pb.environment().remove("SPARK_HOME");
    pb.environment().put("DISTILLERY_JAVA_OPTS", "-Xmx3g");
    return start(pb, log);
  }

  /** Starts a prepared command (its working directory and environment set), output to {@code log}. */
  static Submitted start(ProcessBuilder command, Path log) throws IOException {
    command.redirectErrorStream(true).redirectOutput(log.toFile());
    return new Submitted(command.start(), log);
  }

  /** Waits for the job to end; returns its exit code. */
  int await(int minutes) throws Exception {
    if (!process.waitFor(minutes, TimeUnit.MINUTES)) {
      close();
      throw new AssertionError("job still running after " + minutes + " min; log:\n" + tail());
    }
    return process.exitValue();
  }

  /** Waits until a line of the log matches; fails if the job ends first. */
  void awaitLine(Predicate<String> matches, int minutes) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(minutes);
    while (System.nanoTime() < deadline) {
      if (lines().stream().anyMatch(matches)) {
        return;
      }
      if (!process.isAlive()) {
        throw new AssertionError("job ended (exit " + process.exitValue() + ") before the awaited line; log:\n" + tail());
      }
      Thread.sleep(200);
    }
    throw new AssertionError("awaited line never came; log:\n" + tail());
  }

  /** The executor JVMs this job's local-cluster started (children of the driver process). */
  List<ProcessHandle> executors() {
    return process.descendants()
        .filter(p -> p.info().commandLine().orElse("").contains("CoarseGrainedExecutorBackend"))
        .toList();
  }

  List<String> lines() throws IOException {
    return Files.readAllLines(log, StandardCharsets.UTF_8);
  }

  String tail() throws IOException {
    List<String> all = lines();
    return String.join("\n", all.subList(Math.max(0, all.size() - 60), all.size()));
  }

  @Override
  public void close() {
    process.descendants().forEach(ProcessHandle::destroyForcibly);
    process.destroyForcibly();
  }
}
