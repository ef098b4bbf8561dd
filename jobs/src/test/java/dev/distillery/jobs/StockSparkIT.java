package dev.distillery.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shaded jar ({@code jobs/target/distillery.jar}) as a data engineer submits it: with the Spark
 * home's own {@code bin/spark-submit}, to a Spark home holding only Spark 3.5's distribution jars
 * ({@code bin/stock-spark-home}), on a {@code local-cluster} whose executors are separate JVMs, with
 * every input and output on a real HDFS (a {@code MiniDFSCluster} in this JVM). Run by
 * {@code mvn -Pstock-spark verify}.
 */
class StockSparkIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path STOCK = Submitted.REPO.resolve("target/stock-spark");
  private static final Path SHADED = Path.of(System.getProperty("distillery.shadedJar",
      Submitted.REPO.resolve("jobs/target/distillery.jar").toString()));
  private static final String OPENS = readOpens();

  @TempDir static Path dir;
  private static MiniDFSCluster hdfs;
  private static FileSystem fs;
  private static String root;

  @BeforeAll
  static void startHdfsAndUploadTheCorpus() throws IOException {
    Configuration conf = new Configuration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, dir.resolve("hdfs-blocks").toString());
    hdfs = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
    hdfs.waitActive();
    fs = hdfs.getFileSystem();
    root = hdfs.getURI().toString();
    fs.mkdirs(new org.apache.hadoop.fs.Path("/spark-events"));
    fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(Submitted.SAMPLE), new org.apache.hadoop.fs.Path("/corpora/train.jsonl"));
    fs.copyFromLocalFile(new org.apache.hadoop.fs.Path(Submitted.REPO.resolve("data/sample/es-en.tiny-heldout.jsonl").toString()),
        new org.apache.hadoop.fs.Path("/corpora/heldout.jsonl"));
  }

  @AfterAll
  static void stopHdfs() {
    if (hdfs != null) {
      hdfs.shutdown(true);
    }
  }

  @Test
  void theShadedJarDefinesNoClassThatSparkShips() throws IOException {
    Set<String> spark = new TreeSet<>();
    try (Stream<Path> jars = Files.list(STOCK.resolve("jars"))) {
      for (Path jar : jars.toList()) {
        spark.addAll(classes(jar));
      }
    }
    Set<String> ours = classes(SHADED);
    assertTrue(ours.contains("dev/distillery/jobs/Distillery.class"), "the shaded jar holds Distillery");
    assertTrue(ours.contains("com/johnsnowlabs/nlp/DocumentAssembler.class"), "and its dependencies (Spark NLP)");
    assertTrue(ours.stream().noneMatch(c -> c.startsWith("scala/") || c.startsWith("org/apache/hadoop/")),
        "Scala and Hadoop stay out of the shaded jar");
    Set<String> both = new TreeSet<>(ours);
    both.retainAll(spark);
    assertEquals(Set.of(), both, "classes in the shaded jar that Spark's jars define too (Spark's copy would win)");
  }

  /**
   * The Docker images' layout without Docker: the shaded jar inside Spark's own {@code jars/} (where
   * Spark's Kubernetes entrypoint finds it for drivers and executors) and {@code docker/entrypoint.sh}
   * running a command, here on executors whose classpath is that {@code jars/} alone.
   */
  @Test
  void theImageEntrypointRunsACommandWithTheJarAmongSparksOwnJars() throws Exception {
    Path image = Files.createDirectories(dir.resolve("image-spark"));
    Path jars = Files.createDirectories(image.resolve("jars"));
    try (Stream<Path> stock = Files.list(STOCK.resolve("jars"))) {
      for (Path jar : stock.toList()) {
        Files.createSymbolicLink(jars.resolve(jar.getFileName()), jar);
      }
    }
    Files.createSymbolicLink(jars.resolve("distillery.jar"), SHADED);
    Files.createSymbolicLink(image.resolve("bin"), STOCK.resolve("bin"));
    Files.copy(STOCK.resolve("RELEASE"), image.resolve("RELEASE"));
    Path work = Files.createDirectories(dir.resolve("image-work"));
    ProcessBuilder pb = new ProcessBuilder(Submitted.REPO.resolve("docker/entrypoint.sh").toString(), "train",
        "--config", Submitted.TINY, "--input", Submitted.SAMPLE, "--output", work.resolve("teacher").toString(),
        "--set", "train.epochs=1")
        .directory(work.toFile());
    pb.environment().put("SPARK_HOME", image.toString());
    pb.environment().put("DISTILLERY_HOME", Submitted.REPO.toString());
    pb.environment().put("DISTILLERY_MASTER", "local-cluster[1,1,1536]");
    try (Submitted job = Submitted.start(pb, dir.resolve("entrypoint.log"))) {
      assertEquals(0, job.await(10), "entrypoint train failed; log:\n" + job.tail());
      assertTrue(job.lines().stream().anyMatch(l -> l.startsWith("train done:")), job.tail());
    }
    assertTrue(Files.isRegularFile(work.resolve("teacher/model.zip")), "the model was written");
    // The executor JVM was launched with the image's jars/ as its classpath (Spark writes the command first).
    try (Stream<Path> logs = Files.walk(image.resolve("work"))) {
      List<Path> stderr = logs.filter(p -> p.getFileName().toString().equals("stderr")).toList();
      assertEquals(1, stderr.size(), "one executor: " + stderr);
      String launch = Files.readAllLines(stderr.get(0)).stream().filter(l -> l.contains("CoarseGrainedExecutorBackend"))
          .findFirst().orElseThrow();
      assertTrue(launch.contains(jars + "/*"), "executor classpath is the image's jars/: " + launch);
    }
  }

  @Test
  void trainPrepareDistillEvaluateRunInExecutorJvmsWithEveryArtifactOnHdfs() throws Exception {
    Path work = Files.createDirectories(dir.resolve("work"));
    Path home = Files.createDirectories(dir.resolve("home"));
    Path scratch = Files.createDirectories(dir.resolve("scratch"));
    deleteWorkerDirs();
    List<String> sparkHomeBefore = listing(STOCK);

    submit("train", "--config", Submitted.TINY, "--input", "/corpora/train.jsonl", "--output", "/models/teacher",
        "--set", "train.epochs=1");
    submit("prepare", "--config", Submitted.TINY, "--input", root + "/corpora/train.jsonl",
        "--teacher", "/models/teacher", "--output", "/runs/r1/targets",
        "--set", "decode.max-new-tokens=8", "--set", "prepare.samples=1");
    submit("distill", "--config", Submitted.TINY, "--targets", "/runs/r1/targets", "--output", "/runs/r1/student",
        "--set", "distill.loss=kl", "--set", "train.epochs=1", "--set", "distill.eval-examples=5",
        "--set", "decode.max-new-tokens=8");
    submit("evaluate", "--config", Submitted.TINY, "--model", "/runs/r1/student/model", "--input", "/corpora/heldout.jsonl",
        "--report", "/runs/r1/evaluation.json", "--set", "decode.max-new-tokens=8");

    // Every artifact is on HDFS, and the manifest and provenance name HDFS URIs.
    for (String artifact : List.of("/models/teacher/model.zip", "/models/teacher/tokenizer.json",
        "/runs/r1/targets/_manifest.json", "/runs/r1/targets/_tokenizer.json", "/runs/r1/student/model/model.zip",
        "/runs/r1/student/summary.json", "/runs/r1/student/report.html", "/runs/r1/evaluation.json")) {
      assertTrue(hdfsListing().contains(artifact), "on HDFS: " + artifact + "\n" + hdfsListing());
    }
    JsonNode manifest = JSON.readTree(read("/runs/r1/targets/_manifest.json"));
    assertTrue(manifest.get("input").asText().startsWith(root + "/corpora/"), manifest.get("input").asText());
    assertTrue(manifest.get("teacher").asText().startsWith(root + "/models/teacher"), manifest.get("teacher").asText());
    assertTrue(manifest.get("rows").asLong() > 0, "prepare kept rows");
    assertTrue(hdfsListing().stream().anyMatch(f -> f.startsWith("/runs/r1/targets/") && f.endsWith(".parquet")),
        "targets are Parquet on HDFS");
    assertTrue(hdfsListing().stream().anyMatch(f -> f.startsWith("/runs/r1/student/checkpoints/")),
        "checkpoints on HDFS: " + hdfsListing());

    // Spark's event logs (on HDFS too): each job had two executors, and its tasks ran on them.
    List<String> apps = new ArrayList<>();
    for (FileStatus log : fs.listStatus(new org.apache.hadoop.fs.Path("/spark-events"))) {
      Set<String> added = new TreeSet<>();
      Set<String> ranTasks = new TreeSet<>();
      String name = "?";
      for (String line : readLines(log.getPath())) {
        JsonNode event = JSON.readTree(line);
        switch (event.path("Event").asText()) {
          case "SparkListenerApplicationStart" -> name = event.path("App Name").asText();
          case "SparkListenerExecutorAdded" -> added.add(event.path("Executor ID").asText());
          case "SparkListenerTaskEnd" -> ranTasks.add(event.path("Task Info").path("Executor ID").asText());
          default -> { }
        }
      }
      apps.add(name);
      assertEquals(Set.of("0", "1"), added, name + ": executor JVMs that joined");
      assertTrue(!ranTasks.isEmpty() && added.containsAll(ranTasks), name + ": tasks ran on executors only: " + ranTasks);
    }
    assertEquals(4, apps.size(), "one event log per job: " + apps);

    // Nothing landed on local disk outside Spark's scratch: the working directory and the home
    // directory stay empty (but for the JDK's font cache); the Spark home is as it was but for the standalone workers' work/ (where each executor
    // fetches the application jar and logs: local-cluster workers always use $SPARK_HOME/work); the
    // scratch root holds only Spark's and Distillery's scratch directories.
    assertEquals(List.of(), listing(work), "files written to the driver's working directory");
    // The one exception is the JDK's own: its font-configuration cache, written the first time the
    // driver measures text (the report's charts), which Java keeps in the home directory.
    assertEquals(List.of(), listing(home).stream().filter(f -> !f.equals(".java") && !f.startsWith(".java/fonts")).toList(),
        "files written to the home directory");
    assertEquals(sparkHomeBefore, withoutWorkerDirs(listing(STOCK)), "the Spark home changed");
    List<String> workerFiles = listing(STOCK.resolve("work")).stream()
        .filter(f -> Files.isRegularFile(STOCK.resolve("work").resolve(f))).toList();
    assertEquals(8 * 3, workerFiles.size(), "jar, stdout, stderr of 2 executors × 4 jobs: " + workerFiles);
    assertTrue(workerFiles.stream().allMatch(f -> f.matches("app-[0-9-]+/[01]/(distillery\\.jar|stdout|stderr)")),
        "executor work directories hold only the fetched jar and logs: " + workerFiles);
    try (Stream<Path> top = Files.list(scratch)) {
      for (Path p : top.toList()) {
        String name = p.getFileName().toString();
        assertTrue(name.matches("(blockmgr|spark|distillery)-.*|tmp"), "unexpected in scratch: " + name);
      }
    }
  }

  /** Each executor's copy of the 280 MB jar: removed after the test, so repeated runs do not pile up. */
  @AfterAll
  static void deleteWorkerDirs() throws IOException {
    Path workers = STOCK.resolve("work");
    if (Files.isDirectory(workers)) {
      try (Stream<Path> files = Files.walk(workers)) {
        for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
  }

  private static List<String> withoutWorkerDirs(List<String> listing) {
    return listing.stream().filter(f -> !f.equals("work") && !f.startsWith("work/")).toList();
  }

  /** Runs one Distillery command through the stock home's spark-submit; fails on a non-zero exit. */
  private static void submit(String... args) throws Exception {
    Path scratch = dir.resolve("scratch");
    Path tmp = Files.createDirectories(scratch.resolve("tmp"));
    // user.home as well as $HOME: Java takes the home directory from the password database, not $HOME.
    String jvm = OPENS + " -Djava.io.tmpdir=" + tmp + " -Dorg.bytedeco.javacpp.cachedir=" + tmp.resolve("javacpp")
        + " -Duser.home=" + dir.resolve("home");
    List<String> cmd = new ArrayList<>(List.of(STOCK.resolve("bin/spark-submit").toString(),
        "--master", "local-cluster[2,1,1536]", "--driver-memory", "3g",
        "--conf", "spark.hadoop.fs.defaultFS=" + root,
        "--conf", "spark.local.dir=" + scratch,
        "--conf", "spark.eventLog.enabled=true", "--conf", "spark.eventLog.dir=" + root + "/spark-events",
        "--conf", "spark.driver.extraJavaOptions=" + jvm,
        "--conf", "spark.executor.extraJavaOptions=" + jvm,
        "--conf", "spark.executorEnv.OMP_NUM_THREADS=1",
        "--class", "dev.distillery.jobs.Distillery", SHADED.toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.resolve("work").toFile());
    pb.environment().remove("SPARK_HOME");
    pb.environment().remove("SPARK_CONF_DIR");
    pb.environment().put("HOME", dir.resolve("home").toString());
    pb.environment().put("OMP_NUM_THREADS", "1");
    try (Submitted job = Submitted.start(pb, dir.resolve(args[0] + ".log"))) {
      assertEquals(0, job.await(10), args[0] + " failed; log:\n" + job.tail());
    }
  }

  private static Set<String> classes(Path jar) throws IOException {
    Set<String> names = new TreeSet<>();
    try (ZipFile zip = new ZipFile(jar.toFile())) {
      zip.stream().map(ZipEntry::getName)
          .filter(n -> n.endsWith(".class") && !n.startsWith("META-INF/"))
          .forEach(names::add);
    }
    return names;
  }

  /** Every file under a local directory, relative to it, sorted. */
  private static List<String> listing(Path root) throws IOException {
    try (Stream<Path> files = Files.walk(root)) {
      return files.filter(p -> !p.equals(root)).map(p -> root.relativize(p).toString()).sorted().toList();
    }
  }

  private static List<String> hdfsListing() throws IOException {
    List<String> files = new ArrayList<>();
    RemoteIterator<LocatedFileStatus> it = fs.listFiles(new org.apache.hadoop.fs.Path("/"), true);
    while (it.hasNext()) {
      files.add(it.next().getPath().toUri().getPath());
    }
    return files;
  }

  private static String read(String path) throws IOException {
    return String.join("\n", readLines(new org.apache.hadoop.fs.Path(path)));
  }

  private static List<String> readLines(org.apache.hadoop.fs.Path path) throws IOException {
    try (BufferedReader in = new BufferedReader(new InputStreamReader(fs.open(path), StandardCharsets.UTF_8))) {
      return in.lines().toList();
    }
  }

  private static String readOpens() {
    try {
      return Files.readAllLines(Submitted.REPO.resolve("conf/java17.properties")).stream()
          .filter(l -> l.startsWith("java17.opens=")).findFirst().orElseThrow().substring("java17.opens=".length());
    } catch (IOException e) {
      throw new IllegalStateException("Cannot read the Java 17 flags: " + e.getMessage(), e);
    }
  }
}
