package dev.distillery.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.ConfigException;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.distill.DistillPipeline;
import dev.distillery.eval.EvaluatePipeline;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.prepare.Manifest;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.storage.Location;
import dev.distillery.testing.TestSpark;
import dev.distillery.testing.TinyModels;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.tokenizer.HfTokenizer;
import dev.distillery.tokenizer.HfVocabulary;
import dev.distillery.util.Progress;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code export} end to end, on a transformer trained in the test from the bundled sample: the
 * Hugging Face tokenizer reads the exported {@code tokenizer.json} and gives Distillery's ids and
 * text for every sample sentence; {@code evaluate} scores the export as it scores the model
 * directory; the export serves as a {@code prepare} teacher whose targets {@code distill} trains on.
 */
class ModelExportTest {
  private static final Progress QUIET = new Progress(new PrintStream(OutputStream.nullOutputStream()));
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path dir;
  static BpeTokenizer tokenizer;
  static DistilleryConfig config;
  static Path modelDir;
  static Path export;
  private final SparkSession spark = TestSpark.get();

  @BeforeAll
  static void exportATrainedTransformer() throws Exception {
    tokenizer = TinyModels.tokenizer(300);
    config = TinyModels.config("model.architecture=transformer", "model.hidden=32", "model.heads=4", "model.layers=2",
        "prepare.shards=2", "prepare.top-k=5", "prepare.samples=1", "decode.beam-width=2",
        "decode.max-new-tokens=6", "corpus.validation-fraction=0.2", "distill.student.embedding=16",
        "distill.student.hidden=24", "train.epochs=3", "train.averaging-frequency=1", "distill.eval-examples=3",
        "distill.checkpoint-every=0");
    LanguageModel model = OnnxExportTest.trained(tokenizer, "model.architecture=transformer", "model.hidden=32", "model.heads=4",
        "model.layers=2");
    modelDir = dir.resolve("model");
    ModelBundle.save(modelDir, model, config, Map.of("job", "train", "corpus", "es-en.tiny.jsonl"));
    export = dir.resolve("export");
    ModelExport.run(modelDir, export, false, false, QUIET);
  }

  @Test
  void theExportHoldsTheOptimumFilesWithDistillerysSpecialIdsAndAModelCard() throws Exception {
    for (String f : List.of("model.onnx", "tokenizer.json", "tokenizer_config.json", "config.json",
        "generation_config.json", "README.md", ModelExport.MARKER)) {
      assertTrue(Files.isRegularFile(export.resolve(f)), f);
    }
    JsonNode cfg = JSON.readTree(export.resolve("config.json").toFile());
    assertEquals(300, cfg.get("vocab_size").asInt());
    assertEquals(2, cfg.get("bos_token_id").asInt());
    assertEquals(3, cfg.get("eos_token_id").asInt());
    assertEquals(0, cfg.get("pad_token_id").asInt());
    assertEquals(4, cfg.get("num_attention_heads").asInt());
    JsonNode generation = JSON.readTree(export.resolve("generation_config.json").toFile());
    assertEquals(config.model().maxTokens(), generation.get("max_length").asInt());
    String card = Files.readString(export.resolve("README.md"));
    assertTrue(card.contains("| job | train |") && card.contains("es-en.tiny.jsonl"), card);
    JsonNode marker = JSON.readTree(export.resolve(ModelExport.MARKER).toFile());
    assertEquals(ModelBundle.fingerprint(modelDir), marker.get("sourceModelSha256").asText());
  }

  @Test
  void theHuggingFaceTokenizerGivesDistillerysIdsAndTextForEverySampleSentence() throws Exception {
    List<String> sentences = new ArrayList<>();
    for (String file : List.of("es-en.tiny.jsonl", "es-en.tiny-heldout.jsonl")) {
      for (String line : Files.readAllLines(TestSpark.sample(file))) {
        JsonNode node = JSON.readTree(line);
        sentences.add(node.get("source").asText());
        sentences.add(node.get("target").asText());
      }
    }
    int unknown = 0;
    try (HfTokenizer hf = new HfTokenizer(export.resolve("tokenizer.json"), false)) {
      for (String s : sentences) {
        int[] ours = tokenizer.encode(s);
        assertArrayEquals(ours, hf.encode(s), s);
        assertEquals(tokenizer.decode(ours), hf.decode(ours), s);
        for (int id : ours) {
          unknown += id == 1 ? 1 : 0;
        }
      }
    }
    assertEquals(400, sentences.size() / 2);
    assertTrue(unknown > 0, "the held-out text has characters the tiny vocabulary lacks, so <unk> is exercised");
    HfVocabulary vocabulary = HfVocabulary.load(export);
    assertTrue(vocabulary.isDistilleryLayout());
    assertEquals(tokenizer.vocabSize(), vocabulary.vocabSize());
    assertArrayEquals(tokenizer.encode(sentences.get(0)), vocabulary.encode(sentences.get(0)));
  }

  @Test
  void evaluateScoresTheExportAsItScoresTheModelDirectoryWithAndWithoutPast() throws Exception {
    String heldOut = TestSpark.sample("es-en.tiny-heldout.jsonl").toString();
    EvaluatePipeline.Result direct = EvaluatePipeline.run(spark, config, modelDir, heldOut, null, QUIET);
    EvaluatePipeline.Result onnx = EvaluatePipeline.run(spark, config, export, heldOut, null, QUIET);
    Path withPast = dir.resolve("export-with-past");
    ModelExport.run(modelDir, withPast, true, false, QUIET);
    EvaluatePipeline.Result past = EvaluatePipeline.run(spark, config, withPast, heldOut, null, QUIET);
    assertEquals(direct.examples(), onnx.examples());
    for (EvaluatePipeline.Result r : List.of(onnx, past)) {
      for (int i = 0; i < direct.samples().size(); i++) {
        assertEquals(direct.samples().get(i).get("hypothesis"), r.samples().get(i).get("hypothesis"),
            "example " + direct.samples().get(i).get("id"));
      }
      assertEquals(direct.model().bleu(), r.model().bleu(), 1e-9);
      assertEquals(direct.model().chrf(), r.model().chrf(), 1e-9);
      assertEquals(direct.referenceCrossEntropy(), r.referenceCrossEntropy(), 1e-4);
    }
  }

  @Test
  void anExportedModelServesAsPrepareTeacherWhoseTargetsDistillTrainsOnAndWhoseStudentExportsAgain() throws Exception {
    Path corpus = dir.resolve("pairs.jsonl");
    Files.write(corpus, Files.readAllLines(TestSpark.sample("es-en.tiny.jsonl")).subList(0, 40));
    Path targets = dir.resolve("targets");
    Manifest manifest = PreparePipeline.run(spark, config, corpus.toString(), export, targets, QUIET);
    assertEquals(tokenizer.vocabSize(), manifest.vocabSize(), "the export's ids are Distillery's: no shift");
    DistillPipeline.Summary summary = DistillPipeline.run(spark, config, targets, dir.resolve("student"), false, null,
        QUIET);
    List<Double> loss = summary.validationLoss();
    assertTrue(loss.get(loss.size() - 1) < loss.get(0), "validation loss falls: " + loss);
    LanguageModel student = ModelBundle.load(summary.student());
    assertEquals(tokenizer.vocabSize(), student.vocabSize());
    Path again = dir.resolve("student-export");
    ModelExport.run(summary.student(), Location.of(again), false, false, QUIET);
    assertArrayEquals(Files.readAllBytes(export.resolve("tokenizer.json")), Files.readAllBytes(again.resolve("tokenizer.json")));
    String studentCard = Files.readString(again.resolve("README.md"));
    assertTrue(studentCard.contains("| loss | " + config.distill().objective().name() + " |")
        && studentCard.contains("manifest sha256 " + dev.distillery.util.Hashing.sha256(targets.resolve("_manifest.json")))
        && studentCard.contains("## Scores of the distill run"), studentCard);
  }

  @Test
  void exportRefusesToReplaceADirectoryItDidNotWriteAndAnLstmWithPast() throws Exception {
    Path other = dir.resolve("notes");
    Files.createDirectories(other);
    Files.writeString(other.resolve("keep.txt"), "mine");
    ConfigException e = assertThrows(ConfigException.class, () -> ModelExport.run(modelDir, other, false, true, QUIET));
    assertTrue(e.getMessage().contains("has no " + ModelExport.MARKER), e.getMessage());
    assertEquals("mine", Files.readString(other.resolve("keep.txt")));
    ConfigException exists = assertThrows(ConfigException.class, () -> ModelExport.run(modelDir, export, false, false, QUIET));
    assertTrue(exists.getMessage().startsWith("Cannot export: output already exists"), exists.getMessage());
    Path lstmDir = dir.resolve("lstm");
    ModelBundle.save(lstmDir, OnnxExportTest.lstm(tokenizer), TinyModels.config(), Map.of());
    ConfigException lstm = assertThrows(ConfigException.class,
        () -> ModelExport.run(lstmDir, dir.resolve("lstm-export"), true, false, QUIET));
    assertTrue(lstm.getMessage().startsWith("Cannot export with --with-past"), lstm.getMessage());
  }
}
