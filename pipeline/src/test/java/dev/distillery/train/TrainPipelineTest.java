package dev.distillery.train;

import dev.distillery.config.ConfigException;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.ModelBundle;
import dev.distillery.testing.TestSpark;
import dev.distillery.testing.TinyModels;
import dev.distillery.util.FileTrees;
import dev.distillery.util.Progress;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code train}'s checkpoints: an interrupted run resumes with its own tokenizer; a stale output is
 * refused; {@code train.init} warm-starts from another model directory.
 */
class TrainPipelineTest {
  private static final Progress QUIET = new Progress(new PrintStream(OutputStream.nullOutputStream()));

  @Test
  void interruptedTrainResumesFromItsCheckpointWithTheSameTokenizer(@TempDir Path dir) throws Exception {
    DistilleryConfig config = TinyModels.config("train.epochs=2", "train.checkpoint-every=4",
        "train.keep-checkpoints=10", "train.schedule=cosine", "train.warmup-steps=4");
    String corpus = TestSpark.sample("es-en.tiny.jsonl").toString();
    Path out = dir.resolve("model");
    TrainPipeline.Summary full = TrainPipeline.run(TestSpark.get(), config, corpus, out, false, QUIET);
    String tokenizer = Files.readString(out.resolve(ModelBundle.TOKENIZER_FILE));
    long steps = full.training().steps();

    // Interrupt: drop the model and every checkpoint after the first.
    Path checkpoints = out.resolve(TrainPipeline.CHECKPOINTS);
    var kept = Checkpoint.complete(checkpoints);
    assertTrue(kept.size() >= 3, "checkpoints " + kept);
    Path first = kept.get(kept.size() - 1);
    for (Path p : kept) {
      if (!p.equals(first)) {
        FileTrees.deleteRecursively(p);
      }
    }
    Files.delete(out.resolve(ModelBundle.MODEL_FILE));

    ConfigException refused = assertThrows(ConfigException.class,
        () -> TrainPipeline.run(TestSpark.get(), config, corpus, out, false, QUIET));
    assertTrue(refused.getMessage().startsWith("Cannot train: output already holds checkpoints"), refused.getMessage());

    TrainPipeline.Summary resumed = TrainPipeline.run(TestSpark.get(), config, corpus, out, true, QUIET);
    assertEquals(steps, resumed.training().steps(), "a resumed run ends at the planned step count");
    assertEquals(tokenizer, Files.readString(out.resolve(ModelBundle.TOKENIZER_FILE)));
    assertTrue(Files.isRegularFile(out.resolve(ModelBundle.MODEL_FILE)));
    ModelBundle.load(out);
  }
  @Test
  void initStartsFromTheGivenModelsParametersAndTokenizer(@TempDir Path dir) throws Exception {
    String corpus = TestSpark.sample("es-en.tiny.jsonl").toString();
    Path first = dir.resolve("first");
    TrainPipeline.Summary trained = TrainPipeline.run(TestSpark.get(), TinyModels.config("train.epochs=1"), corpus,
        first, QUIET);
    var firstLoss = trained.training().validationLoss();

    // Same data, same validation split: the warm start's loss before its first step is where the first run ended.
    // A different vocabulary size is ignored: the tokenizer comes from the init model.
    DistilleryConfig again = TinyModels.config("train.epochs=1", "train.max-steps=1", "tokenizer.vocab-size=300",
        "train.init=" + first);
    TrainPipeline.Summary warm = TrainPipeline.run(TestSpark.get(), again, corpus, dir.resolve("second"), QUIET);
    assertEquals(firstLoss.get(firstLoss.size() - 1), warm.training().validationLoss().get(0), 1e-6);
    assertEquals(Files.readString(first.resolve(ModelBundle.TOKENIZER_FILE)),
        Files.readString(dir.resolve("second").resolve(ModelBundle.TOKENIZER_FILE)));

    ConfigException again2 = assertThrows(ConfigException.class, () -> TrainPipeline.run(TestSpark.get(),
        TinyModels.config("train.epochs=1"), corpus, first, QUIET));
    assertEquals("Cannot train: output already holds a model (choose another directory, or delete it first): "
        + first, again2.getMessage());

    DistilleryConfig wider = TinyModels.config("train.epochs=1", "model.hidden=32", "train.init=" + first);
    ConfigException refused = assertThrows(ConfigException.class,
        () -> TrainPipeline.run(TestSpark.get(), wider, corpus, dir.resolve("third"), QUIET));
    assertTrue(refused.getMessage().startsWith("Cannot train: train.init has "), refused.getMessage());
    assertTrue(refused.getMessage().endsWith(first.toString()), refused.getMessage());
  }
  @Test
  void anUnwritableOutputIsRefusedBeforeAnyWork(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("a-file");
    Files.writeString(file, "x");
    ConfigException e = assertThrows(ConfigException.class, () -> TrainPipeline.run(TestSpark.get(),
        TinyModels.config(), dir.resolve("no-such-corpus.jsonl").toString(), file.resolve("model"), QUIET));
    assertTrue(e.getMessage().startsWith("Cannot train: the output location is not writable (")
        && e.getMessage().contains(": " + file), e.getMessage());
  }
}
