package dev.distillery.teacher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.decode.Decoder;
import dev.distillery.distill.DistillPipeline;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.prepare.Manifest;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.prepare.TeacherScorer;
import dev.distillery.testing.TestSpark;
import dev.distillery.testing.TinyModels;
import dev.distillery.tokenizer.HfVocabulary;
import dev.distillery.util.Hashing;
import dev.distillery.util.Progress;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code prepare} with a Hugging Face ONNX export as the teacher (the fixture built by
 * {@code src/test/resources/onnx/make_fixture.py}), and {@code distill} from its targets: the same
 * Parquet schema, the teacher's vocabulary carried to the student.
 */
class OnnxPrepareTest {
  private static final Progress QUIET = new Progress(new PrintStream(OutputStream.nullOutputStream()));
  private static final int K = 5;

  @TempDir static Path dir;
  static Path onnxDir;
  static Path targets;
  static Manifest manifest;
  static DistilleryConfig config;
  private final SparkSession spark = TestSpark.get();

  @BeforeAll
  static void prepareWithTheOnnxTeacher() throws Exception {
    onnxDir = OnnxTeacherTest.fixtureDir();
    // Pairs in the fixture's vocabulary: random word sequences (the model is random too).
    List<String> words = new ArrayList<>();
    JsonNode vocab = new ObjectMapper().readTree(onnxDir.resolve("tokenizer.json").toFile()).path("model").path("vocab");
    for (Iterator<String> it = vocab.fieldNames(); it.hasNext(); ) {
      String w = it.next();
      if (w.chars().allMatch(Character::isLetter)) {
        words.add(w);
      }
    }
    Random random = new Random(3);
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      lines.add(String.format("{\"id\": \"p%02d\", \"source\": \"%s\", \"target\": \"%s\"}", i,
          sentence(words, random, 3 + random.nextInt(5)), sentence(words, random, 3 + random.nextInt(5))));
    }
    Path corpus = dir.resolve("pairs.jsonl");
    Files.write(corpus, lines);
    config = ConfigLoader.load(Optional.empty(), SETTINGS);
    targets = dir.resolve("targets");
    manifest = PreparePipeline.run(TestSpark.get(), config, corpus.toString(), onnxDir, targets, QUIET);
  }

  static final List<String> SETTINGS = List.of(
      // The plain top-k, so the stored lists can be checked against ONNX Runtime's own ranking (the kept
      // specials are PreparePipelineTest's).
      "model.max-tokens=64", "prepare.shards=2", "prepare.top-k=" + K, "prepare.keep-specials=false", "prepare.samples=1",
      "decode.beam-width=2", "decode.max-new-tokens=6", "corpus.validation-fraction=0.2",
      "distill.student.embedding=16", "distill.student.hidden=32", "train.epochs=4", "train.batch-per-worker=8",
      "train.averaging-frequency=1", "train.progress-every=1", "distill.eval-examples=3",
      "distill.checkpoint-every=0");

  private static String sentence(List<String> words, Random random, int n) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(words.get(random.nextInt(words.size())));
    }
    return String.join(" ", out);
  }

  @Test
  void manifestRecordsTheOnnxTeacherAndItsTokenizer() throws Exception {
    HfVocabulary vocabulary = HfVocabulary.load(onnxDir);
    assertEquals(40, manifest.inputRows());
    assertEquals(40, manifest.rows() + manifest.rejectedRows());
    assertEquals(vocabulary.modelVocabSize() + HfVocabulary.OFFSET, manifest.vocabSize());
    assertEquals(Hashing.sha256(onnxDir.resolve("tokenizer.json")), manifest.tokenizerSha256());
    assertEquals(Hashing.sha256(onnxDir.resolve("model.onnx")), manifest.teacherFingerprint());
    // The tokenizer travels with the targets, byte for byte.
    assertArrayEquals(Files.readAllBytes(onnxDir.resolve("tokenizer.json")),
        Files.readAllBytes(targets.resolve(PreparePipeline.TOKENIZER)));
  }

  @Test
  void storedTopKAlongTheReferenceEqualsOnnxRuntimeRunDirectly() {
    HfVocabulary vocabulary = HfVocabulary.load(onnxDir);
    List<Row> rows = spark.read().parquet(targets.toString()).orderBy("id").limit(5).collectAsList();
    try (OnnxTeacher onnx = new OnnxTeacher(onnxDir.resolve("model.onnx"))) {
      for (Row r : rows) {
        // The model's own ids, built here by hand: bos source eos reference eos.
        List<Integer> source = r.getList(r.fieldIndex("source_ids"));
        Row reference = r.getStruct(r.fieldIndex("reference"));
        List<Integer> target = reference.getList(reference.fieldIndex("ids"));
        List<Integer> model = new ArrayList<>();
        model.add(vocabulary.toModel(2));
        source.forEach(id -> model.add(id - HfVocabulary.OFFSET));
        model.add(vocabulary.toModel(3));
        target.forEach(id -> model.add(id - HfVocabulary.OFFSET));
        model.add(vocabulary.toModel(3));
        float[][] lp = onnx.logProbs(List.of(model.stream().mapToInt(Integer::intValue).toArray()))[0];
        List<Object> topIds = reference.getList(reference.fieldIndex("topk_ids"));
        List<Object> topLps = reference.getList(reference.fieldIndex("topk_logprobs"));
        assertEquals(target.size() + 1, topIds.size(), "one distribution per target token and </s>");
        for (int p = 0; p < topIds.size(); p++) {
          float[] dist = lp[source.size() + 1 + p];
          int[] top = Decoder.topIndices(dist, K);
          for (int j = 0; j < K; j++) {
            assertEquals(vocabulary.fromModel(top[j]), ((Number) seq(topIds.get(p)).get(j)).intValue(),
                r.getAs("id") + " position " + p);
            assertEquals(TeacherScorer.storedLogprob(dist[top[j]]), ((Number) seq(topLps.get(p)).get(j)).floatValue(), 0f);
          }
        }
      }
    }
  }

  /** Spark hands nested arrays back as Scala sequences. */
  @SuppressWarnings("unchecked")
  private static List<Object> seq(Object o) {
    return o instanceof List<?> l ? (List<Object>) l
        : scala.collection.JavaConverters.seqAsJavaList((scala.collection.Seq<Object>) o);
  }

  @Test
  void distillTrainsAStudentOnTheTeachersVocabulary() throws Exception {
    Path student = dir.resolve("student");
    DistillPipeline.Summary summary = DistillPipeline.run(spark, config, targets, student, false, null, QUIET);
    LanguageModel model = ModelBundle.load(summary.student());
    assertEquals(manifest.vocabSize(), model.vocabSize());
    assertEquals(manifest.tokenizerSha256(), model.tokenizer().sha256());
    assertTrue(model.tokenizer() instanceof HfVocabulary, model.tokenizer().getClass().toString());
    List<Double> loss = summary.validationLoss();
    assertTrue(loss.get(loss.size() - 1) < loss.get(0), "validation loss falls: " + loss);
    Map<?, ?> meta = ModelBundle.metadata(summary.student());
    assertEquals("distill", ((Map<?, ?>) meta.get("provenance")).get("job"));
  }

  @Test
  void aDistilleryBpeStudentLearnsFromTheOnnxTeacherAcrossTokenizers() throws Exception {
    List<String> settings = new ArrayList<>(SETTINGS);
    settings.addAll(List.of("distill.loss=kl", "distill.student.tokenizer=own", "tokenizer.vocab-size=80",
        "train.progress-every=2"));
    Path student = dir.resolve("bpe-from-onnx");
    DistillPipeline.run(spark, ConfigLoader.load(Optional.empty(), settings), targets, student, false, null, QUIET);
    List<Double> loss = new ArrayList<>();
    for (String line : Files.readAllLines(student.resolve("metrics.jsonl"))) {
      loss.add(new ObjectMapper().readTree(line).get("loss").asDouble());
    }
    assertTrue(loss.get(loss.size() - 1) + loss.get(loss.size() - 2) < loss.get(0) + loss.get(1),
        "training loss falls: " + loss);
    LanguageModel model = ModelBundle.load(student.resolve("model"));
    assertTrue(model.tokenizer() instanceof dev.distillery.tokenizer.BpeTokenizer, model.tokenizer().getClass().toString());
    assertTrue(model.vocabSize() <= 80, "the student's own vocabulary: " + model.vocabSize());
    // The WordLevel teacher's words are whole student tokens or split into several: its positions
    // at word ends align, and its words that are one student token map.
    JsonNode bridge = new ObjectMapper().readTree(student.resolve("summary.json").toFile()).get("studentTokenizer");
    assertTrue(bridge.get("alignedPositions").asDouble() > 0.2, bridge.toString());
    assertTrue(bridge.get("mappedMass").asDouble() > 0, bridge.toString());
  }

  @Test
  void aStudentInitializedFromAnotherVocabularyIsRefused() throws Exception {
    Path other = dir.resolve("bpe-student");
    DistilleryConfig bpe = TinyModels.config();
    ModelBundle.save(other, TinyModels.model(bpe, TinyModels.tokenizer(300)), bpe, Map.of());
    DistilleryConfig init = ConfigLoader.load(Optional.empty(), List.of("distill.init=" + other));
    ConfigException e = assertThrows(ConfigException.class,
        () -> DistillPipeline.run(spark, init, targets, dir.resolve("refused"), false, null, QUIET));
    assertTrue(e.getMessage().startsWith("Cannot distill: the student must use the teacher's vocabulary"),
        e.getMessage());
  }
}
