package dev.distillery.okd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.distill.DistillPipeline;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.LoraAdapter;
import dev.distillery.model.ModelBundle;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.testing.TestSpark;
import dev.distillery.train.Checkpoint;
import dev.distillery.train.TrainPipeline;
import dev.distillery.util.Progress;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** distill.loss = okd end to end: a small transformer teacher's targets, two Spark workers, parameter averaging. */
class OkdPipelineTest {
  @TempDir static Path dir;
  static SparkSession spark;
  static Path teacherDir;
  static Path targets;
  static final Progress QUIET = new Progress(new PrintStream(OutputStream.nullOutputStream()));
  static final List<String> BASE = List.of(
      "tokenizer.vocab-size=300", "model.architecture=transformer", "model.hidden=32", "model.heads=2",
      "model.layers=2", "model.max-tokens=400", "train.batch-per-worker=16", "train.progress-every=2",
      "train.averaging-frequency=2", "train.learning-rate=0.01", "prepare.shards=2", "prepare.top-k=6",
      "prepare.samples=0", "decode.beam-width=2", "decode.max-new-tokens=12", "distill.eval-examples=4",
      "distill.student.embedding=16", "distill.student.hidden=32", "corpus.validation-fraction=0.1",
      "spark.partitions=2", "distill.okd.rank=4");

  static DistilleryConfig config(String... more) {
    List<String> all = new ArrayList<>(BASE);
    all.addAll(List.of(more));
    return ConfigLoader.load(Optional.empty(), all);
  }

  @BeforeAll
  static void teacherAndTargets() throws Exception {
    spark = TestSpark.get();
    teacherDir = dir.resolve("teacher");
    String sample = TestSpark.sample("es-en.tiny.jsonl").toString();
    TrainPipeline.run(spark, config("train.epochs=2"), sample, teacherDir, QUIET);
    targets = dir.resolve("targets");
    PreparePipeline.run(spark, config(), sample, teacherDir, targets, QUIET);
  }

  @Test
  void studentLearnsFromTheAdaptingTeacherWhileItsBaseWeightsStayBitForBit() throws Exception {
    Path out = dir.resolve("okd");
    DistillPipeline.Summary s = DistillPipeline.run(spark, config("distill.loss=okd", "train.epochs=3"), targets, out,
        false, null, QUIET);

    ObjectMapper json = new ObjectMapper();
    List<JsonNode> lines = new ArrayList<>();
    for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
      lines.add(json.readTree(line));
    }
    assertTrue(lines.size() >= 6, "progress points " + lines.size());
    // The student's loss KL(p_T' || q_S), measured on fixed probes after every averaging round, falls.
    double first = (lines.get(0).get("studentKl").asDouble() + lines.get(1).get("studentKl").asDouble()) / 2;
    double last = (lines.get(lines.size() - 1).get("studentKl").asDouble()
        + lines.get(lines.size() - 2).get("studentKl").asDouble()) / 2;
    assertTrue(last < first, "student KL did not fall: " + first + " -> " + last);
    for (JsonNode line : lines) {
      assertEquals(0, line.get("baseRestored").asLong(), "averaging two identical copies is exact: " + line);
      assertTrue(Double.isFinite(line.get("teacherLoss").asDouble()), line.toString());
    }

    // The trained pair, as the last checkpoint holds it: every frozen weight equals the teacher's, bit for bit.
    ComputationGraph pair = Checkpoint.readGraph(Checkpoint.latest(out.resolve("checkpoints")).orElseThrow());
    LanguageModel teacher = ModelBundle.load(teacherDir);
    ComputationGraph fresh = OnlineKd.pair(teacher, config().distill().student(), config().distill().okd(), 1, 1e-3);
    var trained = OnlineKd.frozen(pair);
    var original = OnlineKd.frozen(fresh);
    assertEquals(original.keySet(), trained.keySet());
    assertTrue(original.size() > 10, original.keySet().toString());
    for (String k : original.keySet()) {
      assertArrayEquals(original.get(k).dup().data().asFloat(), trained.get(k).dup().data().asFloat(), 0f, k);
    }
    // ...while the LoRA modules moved away from their zero start.
    for (LoraAdapter.Module m : LoraAdapter.modules(pair)) {
      if (m.param().startsWith("B")) {
        assertTrue(pair.getLayer(m.layer()).getParam(m.param()).amaxNumber().doubleValue() > 0, m.toString());
      }
    }

    // The adapted teacher: base reference plus LoRA weights, loaded and evaluated like any model.
    Path adapted = out.resolve(DistillPipeline.ADAPTED_TEACHER);
    assertTrue(Files.exists(adapted.resolve(LoraAdapter.FILE)) && Files.exists(adapted.resolve(LoraAdapter.WEIGHTS)));
    assertFalse(Files.exists(adapted.resolve(ModelBundle.MODEL_FILE)), "the base must not be copied");
    LanguageModel loaded = ModelBundle.load(adapted);
    assertEquals(8, LoraAdapter.modules(loaded.graph()).size());
    assertTrue(s.table().stream().anyMatch(r -> r.system().equals("adapted teacher") && r.greedyChrf() >= 0),
        s.table().toString());
    assertTrue(s.table().stream().anyMatch(r -> r.system().equals("student (okd)")));
    assertTrue(Files.exists(out.resolve("model").resolve(ModelBundle.MODEL_FILE)));
    assertTrue(Files.readString(out.resolve("report.html")).contains("Online KD: student loss"));
  }

  @Test
  void anInterruptedRunResumesThePairFromItsCheckpoint() throws Exception {
    Path out = dir.resolve("okd-resumed");
    DistillPipeline.run(spark, config("distill.loss=okd", "train.epochs=1", "distill.checkpoint-every=2",
        "train.max-steps=4", "distill.eval-examples=0"), targets, out, false, null, QUIET);
    int linesBefore = Files.readAllLines(out.resolve("metrics.jsonl")).size();
    DistillPipeline.Summary resumed = DistillPipeline.run(spark, config("distill.loss=okd", "train.epochs=1",
        "distill.checkpoint-every=2", "distill.eval-examples=0"), targets, out, true, null, QUIET);
    List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
    assertTrue(lines.size() > linesBefore, lines.toString());
    JsonNode firstResumed = new ObjectMapper().readTree(lines.get(linesBefore));
    assertTrue(firstResumed.get("step").asLong() > 4, firstResumed.toString());
    assertEquals(0, firstResumed.get("baseRestored").asLong());
    assertTrue(resumed.steps() > 4);
    assertTrue(Files.exists(out.resolve(DistillPipeline.ADAPTED_TEACHER).resolve(LoraAdapter.FILE)));
  }

  @Test
  void anLstmTeacherIsRefusedBeforeTraining() throws Exception {
    Path lstm = dir.resolve("lstm-teacher");
    String sample = TestSpark.sample("es-en.tiny.jsonl").toString();
    DistilleryConfig c = config("model.architecture=lstm", "model.embedding=16", "train.max-steps=1");
    TrainPipeline.run(spark, c, sample, lstm, QUIET);
    Path lstmTargets = dir.resolve("lstm-targets");
    PreparePipeline.run(spark, c, sample, lstm, lstmTargets, QUIET);
    var e = assertThrows(ConfigException.class, () -> DistillPipeline.run(spark, config("distill.loss=okd"),
        lstmTargets, dir.resolve("okd-lstm"), false, null, QUIET));
    assertTrue(e.getMessage().contains("must be a transformer"), e.getMessage());
    assertFalse(Files.exists(dir.resolve("okd-lstm").resolve("checkpoints")));
  }
}
