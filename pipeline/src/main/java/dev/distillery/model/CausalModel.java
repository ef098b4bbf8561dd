package dev.distillery.model;

import dev.distillery.tokenizer.TextTokenizer;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What decoding and teacher scoring need from a causal language model over {@code <s> source <sep>
 * target </s>} in Distillery's ids: the DL4J {@link LanguageModel} that Distillery trains, or a teacher
 * exported to ONNX ({@code teacher.OnnxCausalModel}). Not thread-safe unless the
 * implementation says so.
 */
public interface CausalModel {
  /** Scores are over ids {@code [0, vocabSize)}. */
  int vocabSize();

  /**
   * Next-token distributions at every position of each row (teacher forcing).
   *
   * @return natural-log probabilities {@code [rows, vocab, time]}; positions past a row's length are padding
   */
  INDArray logProbs(List<int[]> rows);

  TextTokenizer tokenizer();

  /** Longest sequence (prompt and output) the model takes. */
  int maxTokens();

  /** Bytes of weights, for memory checks before work starts. */
  long weightBytes();

  /** A short description for progress lines ("lstm", "onnx"). */
  String describe();

  /** Mean cross-entropy per target token (nats) and the token count, over the examples. */
  default double[] targetCrossEntropy(List<TokenizedExample> examples, int batchSize) {
    double sum = 0;
    long tokens = 0;
    for (int from = 0; from < examples.size(); from += batchSize) {
      List<TokenizedExample> batch = examples.subList(from, Math.min(examples.size(), from + batchSize));
      INDArray lp = logProbs(batch.stream().map(TokenizedExample::tokens).toList());
      for (int i = 0; i < batch.size(); i++) {
        int[] t = batch.get(i).tokens();
        for (int s = batch.get(i).targetStart() - 1; s < t.length - 1; s++) {
          sum -= lp.getDouble(i, t[s + 1], s);
          tokens++;
        }
      }
    }
    return new double[] {tokens == 0 ? Double.NaN : sum / tokens, tokens};
  }
}
