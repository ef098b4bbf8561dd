package dev.distillery.distill;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.errors.DataException;
import dev.distillery.loss.DistillExample;
import dev.distillery.model.ModelBundle;
import dev.distillery.prepare.Manifest;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.testing.TestFiles;
import dev.distillery.testing.TestSpark;
import dev.distillery.train.TrainPipeline;
import dev.distillery.util.Progress;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A small teacher's targets distilled through Spark with two workers, for every loss. */
class DistillPipelineTest {
  @TempDir static Path dir;
  static SparkSession spark;
  static Path targets;
  static final Progress QUIET = new Progress(new PrintStream(OutputStream.nullOutputStream()));
  static final List<String> BASE = List.of(
      "tokenizer.vocab-size=300", "model.embedding=16", "model.hidden=48", "model.max-tokens=400",
      "train.batch-per-worker=16", "train.progress-every=2", "train.averaging-frequency=2",
      "train.learning-rate=0.01", "prepare.shards=2", "prepare.top-k=6", "prepare.samples=1",
      "decode.beam-width=2", "decode.max-new-tokens=12", "distill.eval-examples=4",
      "distill.student.embedding=16", "distill.student.hidden=32", "corpus.validation-fraction=0.1");

  static DistilleryConfig config(String... more) {
    List<String> all = new ArrayList<>(BASE);
    all.addAll(List.of(more));
    return ConfigLoader.load(Optional.empty(), all);
  }

  @BeforeAll
  static void teacherAndTargets() throws Exception {
    spark = TestSpark.get();
    targets = teacherAndTargets(dir, 3, DistillPipelineTest::config);
  }

  /** A teacher trained for {@code epochs} on the tiny sample, and its targets: {@code dir/targets}. */
  static Path teacherAndTargets(Path dir, int epochs, java.util.function.Function<String[], DistilleryConfig> config)
      throws Exception {
    Path teacher = dir.resolve("teacher");
    String sample = TestSpark.sample("es-en.tiny.jsonl").toString();
    TrainPipeline.run(TestSpark.get(), config.apply(new String[] {"train.epochs=" + epochs}), sample, teacher, QUIET);
    Path out = dir.resolve("targets");
    PreparePipeline.run(TestSpark.get(), config.apply(new String[0]), sample, teacher, out, QUIET);
    return out;
  }

  static List<Double> losses(Path student) throws IOException {
    ObjectMapper json = new ObjectMapper();
    List<Double> out = new ArrayList<>();
    for (String line : Files.readAllLines(student.resolve("metrics.jsonl"))) {
      out.add(json.readTree(line).get("loss").asDouble());
    }
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"kl", "seqkd", "hybrid", "js", "tvd", "rkl"})
  void trainingLossFallsWithTwoWorkers(String loss) throws Exception {
    Path out = dir.resolve("student-" + loss);
    DistillPipeline.Summary s = DistillPipeline.run(spark,
        // A fixed gate: with a scheduled one the hybrid's objective itself moves from the token-level
        // to the sentence-level loss, whose scales differ, so its value need not fall.
        config("distill.loss=" + loss, "train.epochs=3", "distill.gate=fixed"), targets, out, false, null, QUIET);
    List<Double> l = losses(out);
    assertTrue(l.size() >= 6, "progress points " + l.size());
    double first = (l.get(0) + l.get(1)) / 2;
    double last = (l.get(l.size() - 1) + l.get(l.size() - 2)) / 2;
    assertTrue(last < first, loss + " loss did not fall: " + l);
    assertTrue(Files.exists(out.resolve("model").resolve(ModelBundle.MODEL_FILE)));
    assertTrue(Files.readString(out.resolve("report.html")).contains("<svg"));
    assertTrue(Files.readString(out.resolve("report.html")).contains("Greedy chrF on held-out examples, by epoch"));
    assertEquals("teacher", s.table().get(0).system());
    // One evaluation line per epoch, on the first held-out examples.
    List<String> epochs = Files.readAllLines(out.resolve(DistillPipeline.EVALUATION));
    assertEquals(3, epochs.size(), epochs.toString());
    for (int e = 0; e < 3; e++) {
      JsonNode line = new ObjectMapper().readTree(epochs.get(e));
      assertEquals(e + 1, line.get("epoch").asInt());
      assertTrue(Double.isFinite(line.get("referencePerplexity").asDouble()) && line.get("greedyChrf").asDouble() >= 0,
          line.toString());
    }
  }

  @Test
  void aDivergenceStudentIsValidatedAndKeptByItsDivergenceNotByTheReferencesCrossEntropy() throws Exception {
    Path out = dir.resolve("student-js-held-out");
    DistillPipeline.Summary s = DistillPipeline.run(spark,
        config("distill.loss=js", "train.epochs=2", "train.keep-best=true"), targets, out, false, null, QUIET);
    List<Double> held = s.validationLoss();
    assertEquals(3, held.size(), held.toString());
    // JS is at most ln 2 nats per token; the references' cross-entropy of a student this young is several nats.
    for (double v : held) {
      assertTrue(v >= 0 && v <= Math.log(2) + 1e-6, "held-out loss is not a JS divergence: " + held);
    }
    assertTrue(held.get(2) < held.get(0), "held-out js did not fall: " + held);
  }

  @Test
  void theHeldOutLossIsPerTargetTokenTheReferencesCrossEntropyForACeStudent() throws Exception {
    Path out = dir.resolve("student-ce-held-out");
    DistillPipeline.Summary s = DistillPipeline.run(spark, config("distill.loss=ce", "train.epochs=1"), targets, out,
        false, null, QUIET);
    double fraction = config().corpus().validationFraction();
    List<dev.distillery.model.TokenizedExample> held = spark.read().parquet(targets.toString()).collectAsList().stream()
        .filter(r -> dev.distillery.corpus.Tokenization.isValidation(r.getAs("id"), fraction))
        .map(Targets.Expander::reference).toList();
    double ce = ModelBundle.load(out.resolve("model")).targetCrossEntropy(held, 64)[0];
    // Measured by the objective on the held-out targets and by the model on the references alike.
    assertEquals(ce, s.validationLoss().get(s.validationLoss().size() - 1), 1e-3 * ce, s.validationLoss().toString());
  }

  @Test
  void scheduledGateMovesFromTokenLevelToSentenceLevel() throws Exception {
    Path out = dir.resolve("student-hybrid-scheduled");
    DistillPipeline.run(spark, config("distill.loss=hybrid", "train.epochs=2", "distill.gate=scheduled"), targets, out,
        false, null, QUIET);
    List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
    JsonNode firstLine = new ObjectMapper().readTree(lines.get(0));
    JsonNode lastLine = new ObjectMapper().readTree(lines.get(lines.size() - 1));
    assertTrue(firstLine.get("gate").asDouble() > lastLine.get("gate").asDouble(), "scheduled gate must fall");
  }

  @Test
  void learnedGateTrainsItsWeightsAlongsideTheStudentAndLogsThemEveryStep() throws Exception {
    Path out = dir.resolve("student-learned-gate");
    DistillPipeline.run(spark, config("distill.loss=hybrid", "distill.gate=learned", "train.epochs=2",
        "distill.eval-examples=0"), targets, out, false, null, QUIET);
    ObjectMapper json = new ObjectMapper();
    List<JsonNode> lines = new ArrayList<>();
    for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
      lines.add(json.readTree(line));
    }
    assertTrue(lines.size() >= 4, "logged steps " + lines.size());
    double lowest = 1, highest = 0;
    for (JsonNode m : lines) {
      double s1 = m.get("gateLogVariances").get(0).asDouble();
      double s2 = m.get("gateLogVariances").get(1).asDouble();
      double g = m.get("gate").asDouble();
      assertEquals(Math.exp(-s1) / (Math.exp(-s1) + Math.exp(-s2)), g, 1e-12, "gate from its log-variances");
      lowest = Math.min(lowest, g);
      highest = Math.max(highest, g);
    }
    JsonNode last = lines.get(lines.size() - 1);
    // Every round's step 1 − e^{−s}·L moved both log-variances away from their start at 0.
    assertTrue(Math.abs(last.get("gateLogVariances").get(0).asDouble()) > 0.05, last.toString());
    assertTrue(Math.abs(last.get("gateLogVariances").get(1).asDouble()) > 0.05, last.toString());
    assertTrue(highest - lowest > 1e-3, "the gate moved: " + lowest + " .. " + highest);
  }

  @Test
  void studentPrefixesAreSampledFromTheStudentAndScoredByTheLiveTeacher() throws Exception {
    Path out = dir.resolve("student-on-policy");
    DistillPipeline.Summary s = DistillPipeline.run(spark, config("distill.loss=rkl", "distill.prefix=student",
        "train.epochs=2", "distill.eval-examples=0"), targets, out, false, null, QUIET);
    List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
    long sampled = new ObjectMapper().readTree(lines.get(lines.size() - 1)).get("prefixesSampled").asLong();
    long rows = spark.read().parquet(targets.toString()).count();
    // Every divergence sequence of both epochs (one per stored sample of each training row) was re-drawn.
    assertTrue(sampled >= rows, "on-policy samples " + sampled + " for " + rows + " rows");
    List<Double> l = losses(out);
    assertTrue(l.stream().allMatch(Double::isFinite), "losses " + l);
    assertTrue(Files.exists(s.student().localPath().resolve(ModelBundle.MODEL_FILE)));
  }

  @Test
  void studentPrefixesNeedADivergenceLoss() {
    ConfigException e = assertThrows(ConfigException.class, () -> config("distill.loss=kl", "distill.prefix=student"));
    assertTrue(e.getMessage().startsWith("Cannot configure distill: distill.prefix = student needs a divergence"),
        e.getMessage());
  }

  @Test
  void resumeAfterAnInterruptionReachesTheSameStepCountAndContinuesTheCurve() throws Exception {
    Path whole = dir.resolve("whole");
    DistillPipeline.run(spark, config("train.epochs=2", "distill.checkpoint-every=4", "distill.eval-examples=0"),
        targets, whole, false, null, QUIET);
    long steps = ModelBundle.metadata(whole.resolve("model")).get("provenance") instanceof java.util.Map<?, ?> p
        ? ((Number) p.get("steps")).longValue() : -1;

    Path cut = dir.resolve("cut");
    // Interrupted: the first run stops after 6 steps, leaving checkpoints behind.
    DistillPipeline.run(spark, config("train.epochs=2", "distill.checkpoint-every=4", "train.max-steps=6",
        "distill.eval-examples=0"), targets, cut, false, null, QUIET);
    List<Double> before = losses(cut);
    DistillPipeline.Summary resumed = DistillPipeline.run(spark,
        config("train.epochs=2", "distill.checkpoint-every=4", "distill.eval-examples=0"), targets, cut, true, null,
        QUIET);

    assertEquals(steps, resumed.steps());
    List<Double> after = losses(cut);
    assertTrue(after.size() > before.size());
    assertEquals(before, after.subList(0, before.size()), "the curve is appended to, not restarted");
    ObjectMapper json = new ObjectMapper();
    long firstResumedStep = json.readTree(Files.readAllLines(cut.resolve("metrics.jsonl")).get(before.size()))
        .get("step").asLong();
    assertTrue(firstResumedStep > 6, "resumed at step " + firstResumedStep);
    try (Stream<Path> s = Files.list(cut.resolve("checkpoints"))) {
      assertTrue(s.noneMatch(p -> p.toString().endsWith(".tmp")));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"lstm", "transformer"})
  void aRunKilledAfterACheckpointAndResumedEndsBitForBitWhereTheWholeRunDid(String architecture) throws Exception {
    // The transformer student drops out: its masks must be drawn again exactly as before.
    List<String> keys = List.of("train.epochs=2", "distill.checkpoint-every=4", "distill.keep-checkpoints=20",
        "distill.eval-examples=0", "distill.student.architecture=" + architecture, "distill.student.heads=2",
        "distill.student.dropout=" + (architecture.equals("transformer") ? 0.1 : 0));
    Path whole = dir.resolve("uninterrupted-" + architecture);
    DistillPipeline.run(spark, config(keys.toArray(String[]::new)), targets, whole, false, null, QUIET);

    // What a kill -9 after the step-8 checkpoint (inside epoch 1) leaves: that checkpoint and the ones
    // before it, the metrics so far, no model and no best epoch yet.
    Path killed = dir.resolve("killed-" + architecture);
    TestFiles.copyTree(whole, killed);
    dev.distillery.util.FileTrees.deleteRecursively(killed.resolve("model"));
    Path checkpoints = killed.resolve("checkpoints");
    dev.distillery.util.FileTrees.deleteRecursively(checkpoints.resolve("best"));
    try (Stream<Path> s = Files.list(checkpoints)) {
      for (Path p : s.filter(p -> p.getFileName().toString().matches("step-\\d+")).toList()) {
        if (Long.parseLong(p.getFileName().toString().substring(5)) > 8) {
          dev.distillery.util.FileTrees.deleteRecursively(p);
        }
      }
    }
    DistillPipeline.run(spark, config(keys.toArray(String[]::new)), targets, killed, true, null, QUIET);

    org.junit.jupiter.api.Assertions.assertArrayEquals(
        ModelBundle.load(whole.resolve("model")).graph().params().data().asFloat(),
        ModelBundle.load(killed.resolve("model")).graph().params().data().asFloat(),
        "final parameters, bit for bit");
    assertEquals(losses(whole), losses(killed), "the same loss curve");
  }

  @Test
  void studentsOfTheSameTargetsShareOneDecodingOfTheTeachersRow() throws Exception {
    // Seven held-out examples: a key no other test of this JVM uses, so the first student decodes the teacher.
    List<String> keys = List.of("train.max-steps=2", "distill.eval-examples=7", "distill.epoch-eval-examples=0");
    java.io.ByteArrayOutputStream first = new java.io.ByteArrayOutputStream();
    java.io.ByteArrayOutputStream second = new java.io.ByteArrayOutputStream();
    DistillPipeline.Summary a = DistillPipeline.run(spark, config(keys.toArray(String[]::new)), targets,
        dir.resolve("shared-teacher-ce"), false, null, new Progress(new PrintStream(first, true)));
    List<String> kl = new ArrayList<>(keys);
    kl.add("distill.loss=kl");
    DistillPipeline.Summary b = DistillPipeline.run(spark, config(kl.toArray(String[]::new)), targets,
        dir.resolve("shared-teacher-kl"), false, null, new Progress(new PrintStream(second, true)));
    assertTrue(first.toString().contains("evaluated teacher on 7 held-out examples"), first.toString());
    assertTrue(second.toString().contains("teacher's row on these 7 held-out examples: as decoded for an earlier student"),
        second.toString());
    assertTrue(!second.toString().contains("evaluated teacher on"), second.toString());
    assertEquals(a.table().get(0), b.table().get(0));
  }

  @Test
  void refusesToOverwriteAStudentWithoutResume() throws Exception {
    Path out = dir.resolve("twice");
    DistillPipeline.run(spark, config("train.max-steps=2", "distill.eval-examples=0"), targets, out, false, null, QUIET);
    ConfigException e = assertThrows(ConfigException.class,
        () -> DistillPipeline.run(spark, config("train.max-steps=2"), targets, out, false, null, QUIET));
    assertTrue(e.getMessage().startsWith("Cannot distill: output already holds a student"), e.getMessage());
  }

  @Test
  void refusesTargetsWhoseManifestDisagreesNamingTheField() throws Exception {
    Path copy = dir.resolve("tampered");
    TestFiles.copyTree(targets, copy);
    ObjectMapper json = new ObjectMapper();
    Path manifest = copy.resolve(PreparePipeline.MANIFEST);

    ObjectNode m = (ObjectNode) json.readTree(manifest.toFile());
    m.put("tokenizerSha256", "0".repeat(64));
    json.writeValue(manifest.toFile(), m);
    ConfigException e = assertThrows(ConfigException.class,
        () -> DistillPipeline.run(spark, config(), copy, dir.resolve("s1"), false, null, QUIET));
    assertTrue(e.getMessage().contains("tokenizerSha256"), e.getMessage());

    TestFiles.copyTree(targets, copy);
    m = (ObjectNode) json.readTree(manifest.toFile());
    m.put("vocabSize", 17);
    json.writeValue(manifest.toFile(), m);
    e = assertThrows(ConfigException.class,
        () -> DistillPipeline.run(spark, config(), copy, dir.resolve("s2"), false, null, QUIET));
    assertTrue(e.getMessage().contains("vocabSize"), e.getMessage());

    TestFiles.copyTree(targets, copy);
    e = assertThrows(ConfigException.class,
        () -> DistillPipeline.run(spark, config("distill.top-k=7"), copy, dir.resolve("s3"), false, null, QUIET));
    assertEquals("Cannot distill: distill.top-k 7 is larger than the stored topK 6: " + copy, e.getMessage());

    m = (ObjectNode) json.readTree(manifest.toFile());
    m.put("schemaVersion", 99);
    json.writeValue(manifest.toFile(), m);
    IOException io = assertThrows(IOException.class,
        () -> DistillPipeline.run(spark, config(), copy, dir.resolve("s4"), false, null, QUIET));
    assertTrue(io.getMessage().contains("schema version 99 is newer"), io.getMessage());

    Files.delete(manifest);
    io = assertThrows(IOException.class,
        () -> DistillPipeline.run(spark, config(), copy, dir.resolve("s5"), false, null, QUIET));
    assertTrue(io.getMessage().startsWith("Cannot read targets: no _manifest.json"), io.getMessage());
  }

  @Test
  void resumeRefusesAChangedModelObjectiveOrRateNamingTheKeysAndContinuesTheCounters() throws Exception {
    Path out = dir.resolve("changed");
    DistillPipeline.run(spark, config("distill.loss=kl", "train.max-steps=4", "distill.checkpoint-every=2",
        "distill.eval-examples=0"), targets, out, false, null, QUIET);
    Map<String, String> refused = Map.of(
        "distill.loss=ce", "distill.loss kl -> ce",
        "distill.student.hidden=64", "distill.student.hidden 32 -> 64",
        "train.learning-rate=0.02", "train.learning-rate 0.01 -> 0.02");
    for (Map.Entry<String, String> change : refused.entrySet()) {
      List<String> keys = new ArrayList<>(List.of("distill.loss=kl", "train.max-steps=8", "distill.checkpoint-every=2",
          "distill.eval-examples=0"));
      keys.add(change.getKey());
      ConfigException e = assertThrows(ConfigException.class,
          () -> DistillPipeline.run(spark, config(keys.toArray(String[]::new)), targets, out, true, null, QUIET));
      assertTrue(e.getMessage().startsWith("Cannot resume distill: the checkpoints were made with other values")
          && e.getMessage().contains(change.getValue()) && e.getMessage().endsWith(out.resolve("checkpoints").toString()),
          e.getMessage());
    }
    int linesBefore = Files.readAllLines(out.resolve("metrics.jsonl")).size();
    long examplesBefore = lastMetric(out, "examples");
    double secondsBefore = Double.parseDouble(String.valueOf(lastMetricValue(out, "seconds")));
    // train.max-steps only says how long to train: allowed.
    DistillPipeline.run(spark, config("distill.loss=kl", "train.max-steps=8", "distill.checkpoint-every=2",
        "distill.eval-examples=0"), targets, out, true, null, QUIET);
    List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
    ObjectMapper json = new ObjectMapper();
    var firstResumed = json.readTree(lines.get(linesBefore));
    assertTrue(firstResumed.get("examples").asLong() > examplesBefore, "examples continue: " + firstResumed);
    assertTrue(firstResumed.get("seconds").asDouble() > secondsBefore, "seconds continue: " + firstResumed);
  }

  private static long lastMetric(Path student, String key) throws IOException {
    return Long.parseLong(String.valueOf(lastMetricValue(student, key)));
  }

  private static Object lastMetricValue(Path student, String key) throws IOException {
    List<String> lines = Files.readAllLines(student.resolve("metrics.jsonl"));
    return new ObjectMapper().readTree(lines.get(lines.size() - 1)).get(key).asText();
  }

  @Test
  void targetsThatDisagreeWithTheirManifestAreRefusedBeforeTrainingNamingTheShardOrField() throws Exception {
    Path copy = dir.resolve("damaged");
    TestFiles.copyTree(targets, copy);
    Manifest m = Manifest.read(copy);
    Manifest.DataFile file = m.files().get(0);
    Files.delete(copy.resolve(file.path()));
    DataException e = assertThrows(DataException.class,
        () -> DistillPipeline.run(spark, config(), copy, dir.resolve("d1"), false, null, QUIET));
    assertEquals("Cannot distill: shard " + file.shard() + " is incomplete: its file " + file.path()
        + " listed in the manifest is missing: " + copy, e.getMessage());

    TestFiles.copyTree(targets, copy);
    Path shard = copy.resolve(file.path());
    byte[] bytes = Files.readAllBytes(shard);
    Files.write(shard, java.util.Arrays.copyOf(bytes, bytes.length / 2)); // a lost write
    e = assertThrows(DataException.class,
        () -> DistillPipeline.run(spark, config(), copy, dir.resolve("d2"), false, null, QUIET));
    assertTrue(e.getMessage().startsWith("Cannot distill: shard " + file.shard() + " is damaged: ")
        && e.getMessage().endsWith(shard.toString()), e.getMessage());

    // A manifest from before per-file checksums: the row count still finds the lost shard.
    TestFiles.copyTree(targets, copy);
    Path manifest = copy.resolve(PreparePipeline.MANIFEST);
    ObjectMapper json = new ObjectMapper();
    ObjectNode node = (ObjectNode) json.readTree(manifest.toFile());
    node.remove("files");
    json.writeValue(manifest.toFile(), node);
    Files.delete(copy.resolve(file.path()));
    e = assertThrows(DataException.class,
        () -> DistillPipeline.run(spark, config(), copy, dir.resolve("d3"), false, null, QUIET));
    assertTrue(e.getMessage().contains("rows in 1 shards where the manifest has " + m.rows() + " rows in 2"),
        e.getMessage());

    TestFiles.copyTree(targets, copy);
    node = (ObjectNode) json.readTree(manifest.toFile());
    node.put("topK", 8);
    json.writeValue(manifest.toFile(), node);
    e = assertThrows(DataException.class,
        () -> DistillPipeline.run(spark, config(), copy, dir.resolve("d4"), false, null, QUIET));
    assertEquals("Cannot distill: the stored top-k lists hold 6 entries where the manifest's topK is 8 (field topK): "
        + copy, e.getMessage());

    Files.writeString(manifest, "{\"schemaVersion\": 1, \"rows\": ");
    e = assertThrows(DataException.class,
        () -> DistillPipeline.run(spark, config(), copy, dir.resolve("d5"), false, null, QUIET));
    assertTrue(e.getMessage().startsWith("Cannot read targets: _manifest.json is not a valid manifest")
        && e.getMessage().endsWith(manifest.toString()), e.getMessage());
  }

  @Test
  void targetsWhoseStructFieldsComeInAnotherOrderTrainOnTheSameSequences() {
    String reordered = "named_struct('tail_mass', %1$s.tail_mass, 'topk_logprobs', %1$s.topk_logprobs, "
        + "'topk_ids', %1$s.topk_ids, 'finished', %1$s.finished, 'logprob', %1$s.logprob, 'ids', %1$s.ids)";
    var original = spark.read().parquet(targets.toString()).orderBy("id");
    var shuffled = original.selectExpr("samples", "shard", String.format(reordered, "beam") + " AS beam",
        String.format(reordered, "reference") + " AS reference", "source_ids", "target", "source", "id");
    Targets.Expander expander = new Targets.Expander(LossPlan.of(config("distill.loss=hybrid").distill()), 6);
    List<org.apache.spark.sql.Row> a = original.collectAsList();
    List<org.apache.spark.sql.Row> b = shuffled.collectAsList();
    for (int i = 0; i < a.size(); i++) {
      List<DistillExample> x = expander.expand(a.get(i));
      List<DistillExample> y = expander.expand(b.get(i));
      assertEquals(x.size(), y.size());
      for (int j = 0; j < x.size(); j++) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(x.get(j).tokens(), y.get(j).tokens());
        org.junit.jupiter.api.Assertions.assertArrayEquals(x.get(j).labels(), y.get(j).labels());
        assertEquals(x.get(j).lastHasGold(), y.get(j).lastHasGold());
      }
    }
    assertTrue(a.size() > 10, "rows " + a.size());
  }
}
