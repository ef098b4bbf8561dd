package dev.distillery.train;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.decode.Decoder;
import dev.distillery.decode.Hypothesis;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.model.TokenizedExample;
import dev.distillery.testing.TestSpark;
import dev.distillery.testing.TinyModels;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.util.Progress;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Transformer goes through the same train, save/load and decode paths as the LSTM. */
class TransformerTrainingTest {
  @TempDir Path dir;

  @Test
  void transformerTrainsThroughSparkSavesAndDecodes() throws Exception {
    DistilleryConfig config = TinyModels.config("model.architecture=transformer", "model.hidden=32",
        "model.heads=4", "model.layers=1", "train.epochs=2", "train.learning-rate=0.003");
    BpeTokenizer tok = TinyModels.tokenizer(300);
    List<TokenizedExample> data = TinyModels.examples(tok, 120, 200);
    LanguageModel model = TinyModels.model(config, tok);
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(TestSpark.get().sparkContext());

    SparkTrainer.Result r = SparkTrainer.train(jsc, model, jsc.parallelize(data.subList(0, 100), 2),
        data.subList(100, data.size()), config.train(), 2, new Progress(new PrintStream(OutputStream.nullOutputStream())));

    assertTrue(r.validationLoss().get(2) < r.validationLoss().get(0) - 0.3, "validation loss " + r.validationLoss());
    ModelBundle.save(dir, r.model(), config, Map.of());
    LanguageModel loaded = ModelBundle.load(dir);
    List<int[]> prompts = data.subList(100, 104).stream().map(TokenizedExample::prompt).toList();
    Decoder decoder = new Decoder(loaded, config.decode());
    List<Hypothesis> greedy = decoder.greedy(prompts);
    List<Hypothesis> beam = decoder.beam(prompts, 1);
    List<Hypothesis> original = new Decoder(r.model(), config.decode()).greedy(prompts);
    for (int i = 0; i < prompts.size(); i++) {
      assertArrayEquals(greedy.get(i).tokens(), beam.get(i).tokens());
      assertArrayEquals(original.get(i).tokens(), greedy.get(i).tokens());
    }
    assertEquals("transformer", ModelBundle.metadata(dir).get("architecture"));
  }
}
