package dev.distillery.distill;

import dev.distillery.loss.BucketLoss;
import dev.distillery.loss.CompactLabels;
import dev.distillery.loss.DistillExample;
import dev.distillery.train.SparkTrainer;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/** Minibatches of {@link DistillExample}s for a student with a {@link BucketLoss} output. */
public final class DistillBatches {
  private DistillBatches() {}

  /** An encoder for {@link SparkTrainer} that fills in the plan's weights for the training progress. */
  public static SparkTrainer.BatchEncoder<DistillExample> encoder(LossPlan plan, int k) {
    return (batch, progress) -> dataSet(batch, plan, k, progress);
  }

  /**
   * @return features {@code [batch, 1, time]}, feature mask {@code [batch, time]}, labels
   *     {@code [batch, 4 + 2k, time]} (compact, never vocabulary-sized), label mask {@code [batch, time]}
   */
  public static DataSet dataSet(List<DistillExample> batch, LossPlan plan, int k, double progress) {
    int b = batch.size();
    int width = CompactLabels.width(k);
    int time = 0;
    for (DistillExample e : batch) {
      time = Math.max(time, e.tokens().length - 1);
    }
    float[] features = new float[b * time];
    float[] featureMask = new float[b * time];
    float[] labels = new float[b * width * time];
    float[] labelMask = new float[b * time];
    for (int i = 0; i < b; i++) {
      DistillExample e = batch.get(i);
      float[] w = plan.weights(e.role(), progress);
      int[] t = e.tokens();
      for (int s = 0; s < t.length - 1; s++) {
        features[i * time + s] = t[s];
        featureMask[i * time + s] = 1f;
      }
      int positions = t.length - e.targetStart();
      for (int p = 0; p < positions; p++) {
        int s = e.targetStart() - 1 + p;
        labelMask[i * time + s] = 1f;
        for (int c = 0; c < width; c++) {
          labels[(i * width + c) * time + s] = e.labels()[p * width + c];
        }
        boolean gold = p < positions - 1 || e.lastHasGold();
        labels[(i * width + CompactLabels.W_CE) * time + s] = gold ? w[0] : 0f;
        labels[(i * width + CompactLabels.W_DIV) * time + s] = w[1];
      }
    }
    return new DataSet(
        Nd4j.create(features, new long[] {b, 1, time}, 'c'),
        Nd4j.create(labels, new long[] {b, width, time}, 'c'),
        Nd4j.create(featureMask, new long[] {b, time}, 'c'),
        Nd4j.create(labelMask, new long[] {b, time}, 'c'));
  }

  /** Held-out sequences per minibatch when the objective is scored on them. */
  private static final int HELD_OUT_BATCH = 32;

  /**
   * The objective itself on the held-out targets (teacher prefixes, weights as at the end of training),
   * what validation reports and keep-best ranks by: the references' cross-entropy would rank an rkl
   * student's first epoch best (measured: 6.77 nats against 6.86 at the last, a student that ends 70% of
   * reference positions with end-of-sequence).
   */
  static SparkTrainer.HeldOut heldOutLoss(List<Row> held, Targets.Expander expander, LossPlan plan, int k,
      String name) {
    List<DistillExample> examples = new ArrayList<>();
    for (Row r : held) {
      examples.addAll(expander.expand(r));
    }
    return new SparkTrainer.HeldOut(name + " on held-out targets", graph -> {
      // DL4J's score is the loss summed over each sequence's positions, averaged over sequences, plus
      // the weight-decay term: per target token without it, like the training loss.
      double regularization = graph.calcRegularizationScore(true);
      double sum = 0;
      long positions = 0;
      for (int from = 0; from < examples.size(); from += HELD_OUT_BATCH) {
        List<DistillExample> batch = examples.subList(from, Math.min(examples.size(), from + HELD_OUT_BATCH));
        sum += (graph.score(dataSet(batch, plan, k, 1.0), false) - regularization) * batch.size();
        for (DistillExample e : batch) {
          positions += e.targetTokens();
        }
      }
      return positions == 0 ? Double.NaN : sum / positions;
    });
  }
}
