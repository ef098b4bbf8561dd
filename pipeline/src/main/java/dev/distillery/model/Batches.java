package dev.distillery.model;

import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Converts token sequences into DL4J minibatches for next-token prediction: the input at time
 * {@code t} is {@code tokens[t]}, the label is {@code tokens[t+1]}, and only target positions carry
 * loss. Sequences are right-padded to the longest in the batch.
 */
public final class Batches {
  private Batches() {}

  /**
   * @return features {@code [batch, 1, time]} (token ids as floats; rank 3 so DL4J can merge
   *     minibatches of different lengths), feature mask {@code [batch, time]}, labels
   *     {@code [batch, 1, time]} (the next token's id, for {@code LossSparseMCXENT}: nothing scales
   *     with the vocabulary), label mask {@code [batch, time]} (1 on target positions);
   *     {@code time = longest sequence - 1}
   */
  public static DataSet nextTokenDataSet(List<TokenizedExample> batch) {
    int b = batch.size();
    int time = 0;
    for (TokenizedExample e : batch) {
      time = Math.max(time, e.tokens().length - 1);
    }
    float[] features = new float[b * time];
    float[] featureMask = new float[b * time];
    float[] labelMask = new float[b * time];
    float[] labels = new float[b * time];
    for (int i = 0; i < b; i++) {
      TokenizedExample e = batch.get(i);
      int[] t = e.tokens();
      for (int s = 0; s < t.length - 1; s++) {
        features[i * time + s] = t[s];
        featureMask[i * time + s] = 1f;
        if (s + 1 >= e.targetStart()) {
          labelMask[i * time + s] = 1f;
          labels[i * time + s] = t[s + 1];
        }
      }
    }
    return new DataSet(
        Nd4j.create(features, new long[] {b, 1, time}, 'c'),
        Nd4j.create(labels, new long[] {b, 1, time}, 'c'),
        Nd4j.create(featureMask, new long[] {b, time}, 'c'),
        Nd4j.create(labelMask, new long[] {b, time}, 'c'));
  }

  /** Token ids right-padded with PAD: {@code [rows, 1, time]} as floats, plus the mask {@code [rows, time]}. */
  public static INDArray[] padded(List<int[]> rows) {
    int n = rows.size();
    int time = 0;
    for (int[] r : rows) {
      time = Math.max(time, r.length);
    }
    float[] f = new float[n * time];
    float[] m = new float[n * time];
    for (int i = 0; i < n; i++) {
      int[] r = rows.get(i);
      for (int s = 0; s < r.length; s++) {
        f[i * time + s] = r[s];
        m[i * time + s] = 1f;
      }
    }
    return new INDArray[] {
      Nd4j.create(f, new long[] {n, 1, time}, 'c'), Nd4j.create(m, new long[] {n, time}, 'c')
    };
  }
}
