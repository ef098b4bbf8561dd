package dev.distillery.train;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.TokenizedExample;
import dev.distillery.testing.TestSpark;
import dev.distillery.testing.TinyModels;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.util.Progress;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SparkTrainerTest {
  @Test
  void parameterAveragingOverTwoWorkersChangesParametersAndLowersValidationLoss() {
    DistilleryConfig config = TinyModels.config("train.epochs=3", "train.learning-rate=0.01");
    BpeTokenizer tok = TinyModels.tokenizer(300);
    List<TokenizedExample> data = TinyModels.examples(tok, 160, 200);
    List<TokenizedExample> train = data.subList(0, 140);
    List<TokenizedExample> validation = data.subList(140, data.size());
    LanguageModel model = TinyModels.model(config, tok);
    INDArray before = model.parameters();
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(TestSpark.get().sparkContext());
    ByteArrayOutputStream log = new ByteArrayOutputStream();

    SparkTrainer.Result result = SparkTrainer.train(jsc, model, jsc.parallelize(train, 2), validation,
        config.train(), 2, new Progress(new PrintStream(log, true, StandardCharsets.UTF_8)));

    assertEquals(2, result.workers());
    INDArray after = result.model().parameters();
    assertTrue(after.sub(before).norm2Number().doubleValue() > 1e-3, "parameters did not move");
    List<Double> loss = result.validationLoss();
    assertEquals(4, loss.size(), "one validation loss before training and one per epoch");
    assertTrue(loss.get(3) < loss.get(0) - 0.5, "validation loss did not fall: " + loss);
    // 140 examples over 2 partitions in minibatches of 8: 9 + 9 minibatches per epoch, give or take one.
    assertTrue(validation.size() >= 10, "validation rows " + validation.size());
    assertTrue(result.steps() >= 3 * 18 && result.steps() <= 3 * 20, "steps " + result.steps());
    String out = log.toString(StandardCharsets.UTF_8);
    assertTrue(out.contains("train epoch 1/3 step"), out);
    assertTrue(out.contains("tokens/s"), out);
  }

  @Test
  void adamsMomentsTravelWithTheParametersFromRoundToRound() {
    // Four averaging rounds of one minibatch per worker: the driver's optimizer state must be the
    // workers' averaged Adam moments. DL4J's builder leaves saveUpdater off, and then the driver's
    // state stayed all zeros and every round restarted Adam from nothing.
    SparkTrainer.Result result = trainOnTwoWorkers(
        TinyModels.config("train.epochs=1", "train.max-steps=8", "train.averaging-frequency=1"));

    INDArray state = result.network().getUpdater().getStateViewArray();
    assertEquals(8, result.steps());
    assertTrue(state.amaxNumber().doubleValue() > 0, "the driver's Adam state is all zeros after 4 rounds");
    assertTrue(Double.isFinite(state.sumNumber().doubleValue()), "Adam state is not finite");
  }

  @Test
  void maxStepsStopsTrainingEarly() {
    SparkTrainer.Result result = trainOnTwoWorkers(TinyModels.config("train.epochs=5", "train.max-steps=6"));

    assertEquals(6, result.steps());
  }

  /** A tiny model trained quietly on 100 sample pairs over two workers. */
  private static SparkTrainer.Result trainOnTwoWorkers(DistilleryConfig config) {
    BpeTokenizer tok = TinyModels.tokenizer(300);
    List<TokenizedExample> data = TinyModels.examples(tok, 100, 120);
    LanguageModel model = TinyModels.model(config, tok);
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(TestSpark.get().sparkContext());
    return SparkTrainer.train(jsc, model, jsc.parallelize(data, 2), data.subList(0, 10), config.train(), 2,
        new Progress(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)));
  }
}
