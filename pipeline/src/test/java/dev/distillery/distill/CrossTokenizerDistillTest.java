package dev.distillery.distill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.ConfigException;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.ModelBundle;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.testing.TestSpark;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.tokenizer.TokenBridge;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A teacher with a 4,000-token vocabulary distilled into students with their own 1,000-token BPE. */
class CrossTokenizerDistillTest {
  @TempDir static Path dir;
  static SparkSession spark;
  static Path targets;
  static final dev.distillery.util.Progress QUIET = DistillPipelineTest.QUIET;
  /** DistillPipelineTest's settings with a teacher vocabulary of 4,000 tokens (every pair a merge). */
  static DistilleryConfig config(String... more) {
    List<String> all = new ArrayList<>(List.of("tokenizer.vocab-size=4000", "tokenizer.min-pair-count=1"));
    all.addAll(List.of(more));
    return DistillPipelineTest.config(all.toArray(String[]::new));
  }

  @BeforeAll
  static void teacherAndTargets() throws Exception {
    spark = TestSpark.get();
    targets = DistillPipelineTest.teacherAndTargets(dir, 2, CrossTokenizerDistillTest::config);
    assertEquals(4000, TextTokenizer.load(targets.resolve(PreparePipeline.TOKENIZER)).vocabSize());
  }

  @ParameterizedTest
  @ValueSource(strings = {"kl", "uld", "seqkd", "hybrid"})
  void aStudentWithItsOwnThousandTokenVocabularyLearnsFromTheTeacher(String loss) throws Exception {
    Path out = dir.resolve("own-" + loss);
    DistillPipeline.run(spark, config("distill.loss=" + loss, "distill.student.tokenizer=own",
        "tokenizer.vocab-size=1000", "train.epochs=3", "distill.gate=fixed"), targets, out, false, null, QUIET);
    List<Double> l = DistillPipelineTest.losses(out);
    double first = (l.get(0) + l.get(1)) / 2;
    double last = (l.get(l.size() - 1) + l.get(l.size() - 2)) / 2;
    assertTrue(last < first, loss + " loss did not fall: " + l);
    TextTokenizer student = ModelBundle.load(out.resolve("model")).tokenizer();
    assertEquals(1000, student.vocabSize(), "the student speaks its own vocabulary");
    JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
    JsonNode bridge = summary.get("studentTokenizer");
    assertEquals(1000, bridge.get("vocabSize").asInt());
    // Both tokenizers are BPEs of the same texts: most positions align (the student's words end where the
    // teacher's do), and some of the teacher's top-k mass maps (its whole-word tokens mostly have no one
    // student token).
    assertTrue(bridge.get("alignedPositions").asDouble() > 0.5 && bridge.get("alignedPositions").asDouble() <= 1,
        bridge.toString());
    assertTrue(bridge.get("mappedMass").asDouble() > 0 && bridge.get("mappedMass").asDouble() <= 1 + 1e-6,
        bridge.toString());
    JsonNode studentRow = summary.get("table").get(1);
    assertTrue(studentRow.get("greedyChrf").asDouble() >= 0, studentRow.toString());
    assertTrue(studentRow.get("vocabKl").isNull(), "no full-vocabulary KL across vocabularies: " + studentRow);
  }

  @Test
  void aStudentTokenizerThatCannotSpellTheCorpusIsRefusedNamingTheRate() throws Exception {
    Path file = dir.resolve("digits-tokenizer.json");
    BpeTokenizer.train(List.of("0123456789 9876543210"), 40, 1).save(file);
    ConfigException e = assertThrows(ConfigException.class, () -> DistillPipeline.run(spark,
        config("distill.student.tokenizer=" + file), targets, dir.resolve("refused"), false, null, QUIET));
    assertTrue(e.getMessage().contains("<unk>") && e.getMessage().contains("distill.student.max-unknown-rate"),
        e.getMessage());
  }

  @Test
  void inspectMeasuresTheAlignmentWithAStudentTokenizerAndTheTeachersOwnAlignsExactly() throws Exception {
    TextTokenizer teacher = TextTokenizer.load(targets.resolve(PreparePipeline.TOKENIZER));
    Map<String, Object> self = dev.distillery.prepare.Inspect.run(spark, targets, 1, teacher);
    Map<?, ?> same = (Map<?, ?>) self.get("acrossTokenizers");
    assertEquals(1.0, (Double) same.get("alignedPositions"), 1e-12, same.toString());
    assertTrue((Double) same.get("mappedMass") > 0.99, same.toString());
    List<String> texts = new ArrayList<>();
    for (org.apache.spark.sql.Row r : spark.read().parquet(targets.toString()).select("source", "target").collectAsList()) {
      texts.add(r.getString(0));
      texts.add(r.getString(1));
    }
    Map<String, Object> report = dev.distillery.prepare.Inspect.run(spark, targets, 1, BpeTokenizer.train(texts, 1000, 2));
    Map<?, ?> across = (Map<?, ?>) report.get("acrossTokenizers");
    assertEquals(1000, across.get("studentVocabSize"));
    double aligned = (Double) across.get("alignedPositions");
    double mapped = (Double) across.get("mappedMass");
    assertTrue(aligned > 0.5 && aligned < 1 && mapped > 0 && mapped < 1, across.toString());
    assertTrue(dev.distillery.prepare.Inspect.format(report).contains("of student positions align"));
  }

  @Test
  void schemaOneTargetsWithoutTextAndEndsExpandIntoTheSameStudentSequences() throws Exception {
    // Version 1 outputs: the same structs without text and ends.
    String v1 = "named_struct('ids', %1$s.ids, 'logprob', %1$s.logprob, 'finished', %1$s.finished, 'topk_ids', "
        + "%1$s.topk_ids, 'topk_logprobs', %1$s.topk_logprobs, 'tail_mass', %1$s.tail_mass)";
    org.apache.spark.sql.Dataset<org.apache.spark.sql.Row> v2 = spark.read().parquet(targets.toString()).orderBy("id").limit(20);
    List<org.apache.spark.sql.Row> newRows = v2.collectAsList();
    List<org.apache.spark.sql.Row> oldRows = v2.selectExpr("id", "source", "target", "source_ids",
        String.format(v1, "reference") + " AS reference", String.format(v1, "beam") + " AS beam",
        "transform(samples, s -> " + String.format(v1, "s") + ") AS samples", "shard").collectAsList();
    assertTrue(java.util.Arrays.asList(newRows.get(0).<org.apache.spark.sql.Row>getAs("beam").schema().fieldNames())
        .contains("ends"));
    TextTokenizer teacher = TextTokenizer.load(targets.resolve(PreparePipeline.TOKENIZER));
    List<String> texts = new ArrayList<>();
    for (org.apache.spark.sql.Row r : newRows) {
      texts.add(r.getAs("source"));
      texts.add(r.getAs("target"));
    }
    TokenBridge bridge = TokenBridge.of(teacher, BpeTokenizer.train(texts, 300, 2));
    for (String loss : List.of("kl", "seqkd", "uld", "js")) {
      Targets.Expander expander = new Targets.Expander(new LossPlan(config("distill.loss=" + loss).distill().objective()),
          6, bridge);
      for (int i = 0; i < newRows.size(); i++) {
        List<dev.distillery.loss.DistillExample> a = expander.expand(newRows.get(i));
        List<dev.distillery.loss.DistillExample> b = expander.expand(oldRows.get(i));
        assertEquals(a.size(), b.size());
        for (int e = 0; e < a.size(); e++) {
          org.junit.jupiter.api.Assertions.assertArrayEquals(a.get(e).tokens(), b.get(e).tokens(), loss);
          org.junit.jupiter.api.Assertions.assertArrayEquals(a.get(e).labels(), b.get(e).labels(), loss);
        }
      }
    }
  }

  @Test
  void onPolicyDistillationNeedsTheTeachersVocabulary() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> config("distill.loss=js", "distill.prefix=student", "distill.student.tokenizer=own"));
    assertTrue(e.getMessage().contains("distill.student.tokenizer"), e.getMessage());
  }
}
