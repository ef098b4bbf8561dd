package dev.distillery.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.train.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The jobs jar submitted with Spark's own SparkSubmit to a multi-process cluster on this machine:
 * {@code local-cluster[N,cores,MB]} is a standalone master and N workers whose executors are separate
 * JVMs, so serialization, class loading, broadcast and executor loss are the real thing.
 */
class ClusterIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String TWO_EXECUTORS = "local-cluster[2,1,1536]";
  private static final String[] SMALL = {
    "--config", Submitted.TINY, "--set", "decode.max-new-tokens=8", "--set", "prepare.samples=1"};

  @TempDir static Path dir;
  static Path teacher;
  /** Targets prepared in local mode, for the tests about distill. */
  static Path localTargets;

  @BeforeAll
  static void trainTeacherAndPrepareTargets() throws Exception {
    teacher = dir.resolve("teacher");
    try (Submitted train = Submitted.start(dir.resolve("train.log"), "local[2]", List.of(), "train",
        "--config", Submitted.TINY, "--input", Submitted.SAMPLE, "--output", teacher.toString(),
        "--set", "train.epochs=1")) {
      assertEquals(0, train.await(5), train.tail());
    }
    localTargets = dir.resolve("targets-local");
    try (Submitted prepare = Submitted.start(dir.resolve("prepare-local.log"), "local[2]", List.of(),
        args("prepare", "--input", Submitted.SAMPLE, "--teacher", teacher.toString(), "--output", localTargets.toString()))) {
      assertEquals(0, prepare.await(5), prepare.tail());
    }
  }

  @Test
  void prepareThenDistillRunOnExecutorsInTheirOwnJvms() throws Exception {
    Path targets = dir.resolve("targets");
    Path events = Files.createDirectories(dir.resolve("events"));
    List<String> eventLog = List.of("spark.eventLog.enabled=true", "spark.eventLog.dir=" + events.toUri());
    long driverPid;
    try (Submitted prepare = Submitted.start(dir.resolve("prepare.log"), TWO_EXECUTORS, eventLog,
        args("prepare", "--input", Submitted.SAMPLE, "--teacher", teacher.toString(), "--output", targets.toString()))) {
      driverPid = prepare.process.pid();
      assertEquals(0, prepare.await(8), prepare.tail());
    }
    JsonNode manifest = JSON.readTree(targets.resolve("_manifest.json").toFile());
    Set<Long> pids = new HashSet<>();
    Set<String> executors = new HashSet<>();
    for (JsonNode p : manifest.get("placement")) {
      pids.add(p.get("pid").asLong());
      executors.add(p.get("executor").asText());
    }
    assertEquals(manifest.get("shards").asInt(), manifest.get("placement").size());
    assertEquals(2, pids.size(), "teacher shards ran in two executor JVMs: " + manifest.get("placement"));
    assertFalse(pids.contains(driverPid), "no shard ran in the driver JVM");
    assertFalse(executors.contains("driver"));
    assertEquals(manifest.get("inputRows").asLong(),
        manifest.get("rows").asLong() + manifest.get("rejectedByReason").get("too_many_tokens").asLong());

    Path student = dir.resolve("student");
    try (Submitted distill = Submitted.start(dir.resolve("distill.log"), TWO_EXECUTORS, eventLog,
        "distill", "--config", Submitted.TINY, "--targets", targets.toString(), "--output", student.toString(),
        "--set", "distill.loss=kl", "--set", "train.epochs=1", "--set", "distill.eval-examples=5",
        "--set", "decode.max-new-tokens=8")) {
      assertEquals(0, distill.await(8), distill.tail());
    }
    assertTrue(Files.isRegularFile(student.resolve("model/model.zip")));
    // Spark's own event log: every training task ran on an executor, both executors took part.
    Path distillLog = newestEventLog(events);
    Set<String> taskExecutors = new TreeSet<>();
    for (String line : Files.readAllLines(distillLog)) {
      JsonNode event = JSON.readTree(line);
      if (event.path("Event").asText().equals("SparkListenerTaskEnd")) {
        taskExecutors.add(event.path("Task Info").path("Executor ID").asText());
      }
    }
    assertEquals(Set.of("0", "1"), taskExecutors, "executors that ran distill's tasks");
  }

  /**
   * Online KD across executor JVMs: the pair graph (custom layers and loss included) must travel to
   * each executor, train there, and come back averaged with the teacher's base weights untouched.
   */
  @Test
  void okdTrainsTheModulesAndTheStudentOnExecutorsInTheirOwnJvms() throws Exception {
    Path transformer = dir.resolve("teacher-transformer");
    String[] shape = {"--set", "model.architecture=transformer", "--set", "model.hidden=32", "--set", "model.heads=2"};
    List<String> train = new ArrayList<>(List.of("train", "--config", Submitted.TINY, "--input", Submitted.SAMPLE,
        "--output", transformer.toString(), "--set", "train.epochs=1"));
    train.addAll(List.of(shape));
    try (Submitted t = Submitted.start(dir.resolve("train-transformer.log"), "local[2]", List.of(),
        train.toArray(new String[0]))) {
      assertEquals(0, t.await(5), t.tail());
    }
    Path targets = dir.resolve("targets-transformer");
    try (Submitted prepare = Submitted.start(dir.resolve("prepare-transformer.log"), "local[2]", List.of(),
        args("prepare", "--input", Submitted.SAMPLE, "--teacher", transformer.toString(), "--output", targets.toString(),
            shape[0], shape[1], shape[2], shape[3], shape[4], shape[5]))) {
      assertEquals(0, prepare.await(5), prepare.tail());
    }
    Path events = Files.createDirectories(dir.resolve("events-okd"));
    Path student = dir.resolve("student-okd");
    try (Submitted distill = Submitted.start(dir.resolve("distill-okd.log"), TWO_EXECUTORS,
        List.of("spark.eventLog.enabled=true", "spark.eventLog.dir=" + events.toUri()),
        "distill", "--config", Submitted.TINY, "--targets", targets.toString(), "--output", student.toString(),
        "--set", "distill.loss=okd", "--set", "train.epochs=1", "--set", "distill.eval-examples=3",
        "--set", "decode.max-new-tokens=8")) {
      assertEquals(0, distill.await(8), distill.tail());
    }
    Set<String> taskExecutors = new TreeSet<>();
    for (String line : Files.readAllLines(newestEventLog(events))) {
      JsonNode event = JSON.readTree(line);
      if (event.path("Event").asText().equals("SparkListenerTaskEnd")) {
        taskExecutors.add(event.path("Task Info").path("Executor ID").asText());
      }
    }
    assertEquals(Set.of("0", "1"), taskExecutors, "executors that ran distill's tasks");
    List<String> metrics = Files.readAllLines(student.resolve("metrics.jsonl"));
    assertFalse(metrics.isEmpty());
    for (String line : metrics) {
      JsonNode m = JSON.readTree(line);
      assertEquals(0, m.get("baseRestored").asLong(), line);
      assertTrue(Double.isFinite(m.get("studentKl").asDouble()), line);
    }
    assertTrue(Files.isRegularFile(student.resolve("model/model.zip")));
    assertTrue(Files.isRegularFile(student.resolve("teacher-lora/adapter.json")));
  }

  @Test
  void prepareLosesNothingWhenAnExecutorIsKilledMidStage() throws Exception {
    Path targets = dir.resolve("targets-killed");
    try (Submitted prepare = Submitted.start(dir.resolve("prepare-killed.log"), TWO_EXECUTORS, List.of(),
        args("prepare", "--input", Submitted.SAMPLE, "--teacher", teacher.toString(), "--output", targets.toString()))) {
      prepare.awaitLine(l -> l.startsWith("prepare shard task 1/"), 5);
      List<ProcessHandle> executors = prepare.executors();
      assertEquals(2, executors.size(), "executor JVMs: " + executors);
      ProcessHandle victim = executors.get(0);
      assertTrue(victim.destroyForcibly(), "kill -9 executor " + victim.pid());
      assertEquals(0, prepare.await(8), prepare.tail());
      assertTrue(prepare.lines().stream().anyMatch(l -> l.contains("Lost executor")), prepare.tail());
    }
    JsonNode manifest = JSON.readTree(targets.resolve("_manifest.json").toFile());
    Set<String> expected = new HashSet<>(inputIds());
    try (Connection db = DriverManager.getConnection("jdbc:duckdb:"); Statement st = db.createStatement()) {
      expected.removeAll(strings(st, "SELECT id FROM read_parquet('" + targets + "/_rejected/*.parquet')"));
      List<String> written = strings(st, "SELECT id FROM read_parquet('" + targets + "/shard=*/*.parquet')");
      assertEquals(written.size(), new HashSet<>(written).size(), "every id once");
      assertEquals(expected, new HashSet<>(written), "every accepted id is written");
      assertEquals(manifest.get("rows").asLong(), written.size());
    }
    // Shards the killed JVM finished before it died stay written; every shard has one recorded success.
    assertEquals(manifest.get("shards").asInt(), manifest.get("placement").size());
  }

  @Test
  void teacherTasksGetTheGpuAddressesSparkSchedulesOnAMachineWithNone() throws Exception {
    Path discovery = dir.resolve("fake-gpus.sh");
    Files.writeString(discovery, "#!/usr/bin/env bash\necho '{\"name\":\"gpu\",\"addresses\":[\"0\",\"1\"]}'\n");
    assertTrue(discovery.toFile().setExecutable(true));
    Path targets = dir.resolve("targets-gpu");
    // One executor with two cores and two (fake) GPUs; only the teacher stage asks for a GPU per task,
    // through its stage-level resource profile.
    List<String> gpus = List.of("spark.worker.resource.gpu.amount=2",
        "spark.worker.resource.gpu.discoveryScript=" + discovery, "spark.executor.resource.gpu.amount=2");
    try (Submitted prepare = Submitted.start(dir.resolve("prepare-gpu.log"), "local-cluster[1,2,2048]", gpus,
        args("prepare", "--input", Submitted.SAMPLE, "--teacher", teacher.toString(), "--output", targets.toString(),
            "--set", "prepare.device=gpu", "--set", "prepare.shards=4"))) {
      assertEquals(0, prepare.await(8), prepare.tail());
    }
    JsonNode manifest = JSON.readTree(targets.resolve("_manifest.json").toFile());
    Set<String> devices = new TreeSet<>();
    manifest.get("placement").forEach(p -> devices.add(p.get("device").asText()));
    // Two tasks run at once on the executor, each on the address it was given.
    assertEquals(Set.of("gpu:0", "gpu:1"), devices, "devices: " + manifest.get("placement"));
  }

  @Test
  void aGpuTeacherOnExecutorsWithoutGpusIsRefusedBeforeAnyWork() throws Exception {
    Path targets = dir.resolve("targets-nogpu");
    try (Submitted prepare = Submitted.start(dir.resolve("prepare-nogpu.log"), "local-cluster[1,1,1024]", List.of(),
        args("prepare", "--input", Submitted.SAMPLE, "--teacher", teacher.toString(), "--output", targets.toString(),
            "--set", "prepare.device=gpu"))) {
      assertEquals(2, prepare.await(5), prepare.tail());
      assertTrue(prepare.lines().stream().anyMatch(l -> l.startsWith(
          "distillery: Cannot run the teacher on GPU: the executors have no GPUs to schedule")), prepare.tail());
      assertFalse(prepare.lines().stream().anyMatch(l -> l.startsWith("corpus ")), "read the corpus first");
    }
    assertFalse(Files.exists(targets));
  }

  @Test
  void distillKilledMidTrainingResumesToTheSameStepCount() throws Exception {
    Path targets = localTargets;
    Path student = dir.resolve("student-resumed");
    String[] distill = {"distill", "--config", Submitted.TINY, "--targets", targets.toString(),
        "--output", student.toString(), "--set", "distill.loss=kl", "--set", "distill.checkpoint-every=4",
        "--set", "train.progress-every=1", "--set", "distill.eval-examples=3", "--set", "decode.max-new-tokens=4"};
    long planned;
    try (Submitted first = Submitted.start(dir.resolve("distill-killed.log"), "local[2]", List.of(), distill)) {
      first.awaitLine(l -> l.startsWith("train workers "), 5);
      planned = plannedSteps(first.lines());
      Path checkpoints = student.resolve("checkpoints");
      // Kill the driver (kill -9: no shutdown hooks) once a checkpoint exists and training went on.
      first.awaitLine(l -> l.startsWith("train ") && stepOf(l) >= 6, 5);
      assertTrue(Checkpoint.latest(checkpoints).isPresent(), "a checkpoint before the kill");
      first.process.destroyForcibly();
      first.process.waitFor();
    }
    assertFalse(Files.exists(student.resolve("model")), "the killed run wrote no final model");
    try (Submitted resumed = Submitted.start(dir.resolve("distill-resumed.log"), "local[2]", List.of(),
        Stream.concat(Stream.of(distill), Stream.of("--resume")).toArray(String[]::new))) {
      assertEquals(0, resumed.await(8), resumed.tail());
      assertTrue(resumed.lines().stream().anyMatch(l -> l.startsWith("train resuming from ")), resumed.tail());
    }
    List<Long> steps = new ArrayList<>();
    for (String line : Files.readAllLines(student.resolve("metrics.jsonl"))) {
      steps.add(JSON.readTree(line).get("step").asLong());
    }
    assertEquals(planned, steps.get(steps.size() - 1), "final step count equals the planned, uninterrupted one");
    for (int i = 1; i < steps.size(); i++) {
      assertTrue(steps.get(i) > steps.get(i - 1), "one loss curve, no repeated steps: " + steps);
    }
    JsonNode model = JSON.readTree(student.resolve("model/model.json").toFile());
    assertEquals(planned, model.path("provenance").path("steps").asLong());
    // A checkpoint cut short by the kill is left as step-N.tmp; every step-N is complete.
    try (Stream<Path> left = Files.list(student.resolve("checkpoints"))) {
      left.filter(p -> p.getFileName().toString().matches("step-\\d+")).forEach(p -> {
        assertTrue(Files.isRegularFile(p.resolve("model.zip")) && Files.isRegularFile(p.resolve("state.json")), p.toString());
      });
    }
  }

  @Test
  void aStudentTooBigForItsExecutorsIsRefusedBeforeTraining() throws Exception {
    Path student = dir.resolve("student-too-big");
    try (Submitted distill = Submitted.start(dir.resolve("distill-too-big.log"), "local-cluster[1,1,1024]",
        List.of("spark.executor.memory=512m"), "distill", "--config", Submitted.TINY,
        "--targets", localTargets.toString(), "--output", student.toString(),
        "--set", "distill.student.hidden=2048", "--set", "distill.student.layers=2")) {
      assertEquals(1, distill.await(5), distill.tail());
      String refusal = distill.lines().stream().filter(l -> l.startsWith("distillery: ")).findFirst().orElse("");
      assertTrue(refusal.startsWith("distillery: Cannot distill: the student ("), distill.tail());
      assertTrue(refusal.contains("spark.executor.memory = 512m"), refusal);
      assertFalse(distill.lines().stream().anyMatch(l -> l.startsWith("train workers ")), "training started");
    }
  }

  private static String[] args(String command, String... rest) {
    List<String> all = new ArrayList<>(List.of(command));
    all.addAll(List.of(SMALL));
    all.addAll(List.of(rest));
    return all.toArray(String[]::new);
  }

  private static final Pattern WORKERS = Pattern.compile("(\\d+) minibatches/epoch of \\d+, (\\d+) epochs");
  private static final Pattern STEP = Pattern.compile(" step (\\d+)/");

  /** From "train workers W, N examples, M minibatches/epoch of B, E epochs, ...": M × E. */
  private static long plannedSteps(List<String> lines) {
    for (String line : lines) {
      Matcher m = WORKERS.matcher(line);
      if (line.startsWith("train workers ") && m.find()) {
        return Long.parseLong(m.group(1)) * Long.parseLong(m.group(2));
      }
    }
    throw new AssertionError("no 'train workers' line in " + lines);
  }

  private static long stepOf(String line) {
    Matcher m = STEP.matcher(line);
    return m.find() ? Long.parseLong(m.group(1)) : -1;
  }

  private static List<String> inputIds() throws Exception {
    List<String> ids = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(Submitted.SAMPLE))) {
      ids.add(JSON.readTree(line).get("id").asText());
    }
    return ids;
  }

  private static List<String> strings(Statement st, String sql) throws Exception {
    List<String> out = new ArrayList<>();
    try (ResultSet rs = st.executeQuery(sql)) {
      while (rs.next()) {
        out.add(rs.getString(1));
      }
    }
    return out;
  }

  private static Path newestEventLog(Path events) throws Exception {
    try (Stream<Path> logs = Files.list(events)) {
      return logs.max((a, b) -> Long.compare(a.toFile().lastModified(), b.toFile().lastModified())).orElseThrow();
    }
  }
}
