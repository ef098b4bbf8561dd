package dev.distillery.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.testing.TinyModels;
import dev.distillery.tokenizer.BpeTokenizer;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

/** Next-token minibatches carry token ids, not one-hot rows, and the loss on them is the cross-entropy. */
class BatchesTest {
  @Test
  void labelsAreNextTokenIdsWhateverTheVocabulary() {
    List<TokenizedExample> rows = List.of(
        new TokenizedExample("a", new int[] {2, 10, 4, 11, 12, 3}, 3),
        new TokenizedExample("b", new int[] {2, 20, 4, 21, 3}, 3));
    DataSet ds = Batches.nextTokenDataSet(rows);
    assertArrayEquals(new long[] {2, 1, 5}, ds.getLabels().shape());
    // Loss only where the next token is a target token: positions 2.. of each row.
    assertArrayEquals(new float[] {0, 0, 11, 12, 3, 0, 0, 21, 3, 0}, ds.getLabels().data().asFloat());
    assertArrayEquals(new float[] {0, 0, 1, 1, 1, 0, 0, 1, 1, 0}, ds.getLabelsMaskArray().data().asFloat());
  }

  @Test
  void trainingLossIsTheCrossEntropyOfTheTargetTokens() {
    for (String architecture : List.of("lstm", "transformer")) {
      DistilleryConfig config = TinyModels.config("model.architecture=" + architecture, "model.heads=4");
      BpeTokenizer tok = TinyModels.tokenizer(300);
      LanguageModel model = TinyModels.model(config, tok);
      List<TokenizedExample> batch = TinyModels.examples(tok, 6, 80);
      DataSet ds = Batches.nextTokenDataSet(batch);
      // DL4J's score: the loss summed over a sequence's target tokens, averaged over sequences.
      double perToken = model.graph().score(ds) * batch.size()
          / batch.stream().mapToInt(TokenizedExample::targetTokens).sum();
      assertEquals(model.targetCrossEntropy(batch, 4)[0], perToken, 1e-4, architecture);
    }
  }
}
