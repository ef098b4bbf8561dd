package dev.distillery.loss;

import java.util.Arrays;
import java.util.Objects;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The student's loss on compact teacher labels ({@link CompactLabels}): per position
 * {@code w_ce · (−log q(gold)) + w_div · τ² · D(P_τ ‖ Q_τ)} where {@code q = softmax(z)} is the
 * student's distribution from its logits {@code z}, {@code D} a {@link Divergence} on k+1 buckets,
 * and {@code P_τ}, {@code Q_τ} the buckets at temperature τ (teacher log-probs scaled by 1/τ and
 * renormalized over the buckets, student logits divided by τ). Every loss of distill (ce, kl, seqkd,
 * hybrid, rkl, js, tvd, uld) is this function with different weights and sequences. For {@link
 * Divergence#ULD} the student's buckets are its own k most probable tokens, not the teacher's ids.
 *
 * <p>A slot whose id is −1 is empty, and a position whose slots are all empty has no divergence term:
 * across tokenizers ({@code TokenBridge}) a teacher token without a student id leaves its slot empty,
 * and a student position no teacher position aligns with keeps only its cross-entropy.
 *
 * <p>Used on an {@code RnnOutputLayer} with identity activation: DL4J hands it logits and labels as
 * 2-D {@code [batch·time, vocab]} and {@code [batch·time, 4 + 2k]}. Bean-style (no-arg constructor,
 * getters/setters) because DL4J rebuilds it from JSON on Spark workers.
 */
public class BucketLoss extends RowLoss {
  private String divergence = "KL";
  private double temperature = 1.0;
  private double beta = 0.5;

  public BucketLoss() {}

  public BucketLoss(Divergence divergence, double temperature, double beta) {
    this.divergence = divergence.name();
    this.temperature = temperature;
    this.beta = beta;
  }

  public String getDivergence() {
    return divergence;
  }

  public void setDivergence(String divergence) {
    this.divergence = divergence;
  }

  public double getTemperature() {
    return temperature;
  }

  public void setTemperature(double temperature) {
    this.temperature = temperature;
  }

  public double getBeta() {
    return beta;
  }

  public void setBeta(double beta) {
    this.beta = beta;
  }

  /**
   * Loss per row and, if {@code gradOut} is not null, its gradient with respect to the logits.
   *
   * @param logits {@code [rows, vocab]} row-major
   * @param labels {@code [rows, 4 + 2k]} row-major
   * @param mask per row, 0 or 1 (null = all 1)
   */
  public double[] rows(float[] logits, float[] labels, float[] mask, int rows, int vocab, int k, float[] gradOut) {
    Divergence d = Divergence.valueOf(divergence);
    int width = CompactLabels.width(k);
    double tau = temperature;
    double[] out = new double[rows];
    double[] z = new double[vocab];
    double[] q1 = new double[vocab];
    double[] qt = new double[vocab];
    double[] p = new double[k + 1];
    double[] qb = new double[k + 1];
    double[] gb = new double[k + 1];
    int[] bucketOf = new int[vocab];
    double[] grad = new double[vocab];
    for (int r = 0; r < rows; r++) {
      int base = r * width;
      double m = mask == null ? 1 : mask[r];
      if (m == 0) {
        if (gradOut != null) {
          java.util.Arrays.fill(gradOut, r * vocab, (r + 1) * vocab, 0f);
        }
        continue;
      }
      for (int v = 0; v < vocab; v++) {
        z[v] = logits[r * vocab + v];
      }
      softmax(z, 1.0, q1);
      int gold = (int) labels[base + CompactLabels.GOLD];
      double wCe = labels[base + CompactLabels.W_CE];
      double wDiv = labels[base + CompactLabels.W_DIV];
      double loss = wCe * -Math.log(Math.max(q1[gold], Divergence.EPS));
      if (wCe != 0) {
        for (int v = 0; v < vocab; v++) {
          grad[v] = wCe * (q1[v] - (v == gold ? 1 : 0));
        }
      } else {
        java.util.Arrays.fill(grad, 0);
      }
      if (wDiv != 0 && hasTeacher(labels, base, k)) {
        if (tau == 1) {
          System.arraycopy(q1, 0, qt, 0, vocab);
        } else {
          softmax(z, tau, qt);
        }
        // Teacher buckets at temperature tau: p_b^(1/tau), renormalized over the k+1 buckets. An empty
        // slot (id −1: fewer than k teacher tokens had a student id) is a bucket of mass 0 on both sides.
        double sum = 0;
        for (int j = 0; j < k; j++) {
          p[j] = labels[base + CompactLabels.IDS + j] < 0 ? 0 : Math.exp(labels[base + CompactLabels.IDS + k + j] / tau);
          sum += p[j];
        }
        p[k] = Math.pow(Math.max(labels[base + CompactLabels.TAIL], 0f), 1 / tau);
        sum += p[k];
        java.util.Arrays.fill(bucketOf, k);
        double top = 0;
        if (d == Divergence.ULD) {
          // ULD compares sorted distributions: the teacher's top-k (stored sorted) against the
          // student's own top-k, whatever their ids, so it needs no vocabulary map.
          java.util.Arrays.sort(p, 0, k);
          for (int j = 0; j < k / 2; j++) {
            double t = p[j];
            p[j] = p[k - 1 - j];
            p[k - 1 - j] = t;
          }
          int[] mine = topIds(qt, k);
          for (int j = 0; j < k; j++) {
            p[j] /= sum;
            bucketOf[mine[j]] = j;
            qb[j] = qt[mine[j]];
            top += qt[mine[j]];
          }
        } else {
          for (int j = 0; j < k; j++) {
            p[j] /= sum;
            int id = (int) labels[base + CompactLabels.IDS + j];
            qb[j] = 0;
            if (id >= 0) {
              bucketOf[id] = j;
              qb[j] = qt[id];
              top += qt[id];
            }
          }
        }
        p[k] /= sum;
        qb[k] = Math.max(0, 1 - top);
        double scale = wDiv * tau * tau;
        loss += scale * d.value(p, qb, gb, beta);
        // Through the softmax at temperature tau: dL/dz_v = (1/tau) q_v (g_bucket(v) − Σ_u q_u g_bucket(u)).
        double mean = 0;
        for (int b = 0; b <= k; b++) {
          mean += qb[b] * gb[b];
        }
        for (int v = 0; v < vocab; v++) {
          grad[v] += scale / tau * qt[v] * (gb[bucketOf[v]] - mean);
        }
      }
      out[r] = loss * m;
      if (gradOut != null) {
        for (int v = 0; v < vocab; v++) {
          gradOut[r * vocab + v] = (float) (grad[v] * m);
        }
      }
    }
    return out;
  }

  /** Whether a position carries teacher buckets: a student position no teacher position aligns with has none. */
  private static boolean hasTeacher(float[] labels, int base, int k) {
    for (int j = 0; j < k; j++) {
      if (labels[base + CompactLabels.IDS + j] >= 0) {
        return true;
      }
    }
    return k == 0;
  }

  /** Ids of the k largest entries of q, largest first (ties by lower id). */
  static int[] topIds(double[] q, int k) {
    int[] best = new int[k];
    java.util.Arrays.fill(best, -1);
    if (k == 0) {
      return best;
    }
    for (int v = 0; v < q.length; v++) {
      if (best[k - 1] >= 0 && q[v] <= q[best[k - 1]]) {
        continue;
      }
      int j = k - 1;
      while (j > 0 && (best[j - 1] < 0 || q[v] > q[best[j - 1]])) {
        best[j] = best[j - 1];
        j--;
      }
      best[j] = v;
    }
    return best;
  }

  private static void softmax(double[] z, double tau, double[] out) {
    double max = Double.NEGATIVE_INFINITY;
    for (double x : z) {
      max = Math.max(max, x / tau);
    }
    double sum = 0;
    for (int v = 0; v < z.length; v++) {
      out[v] = Math.exp(z[v] / tau - max);
      sum += out[v];
    }
    for (int v = 0; v < z.length; v++) {
      out[v] /= sum;
    }
  }

  @Override
  protected INDArray rowLosses(INDArray labels, INDArray preOutput, INDArray mask, INDArray gradient) {
    int rows = (int) preOutput.size(0);
    int vocab = (int) preOutput.size(1);
    int k = CompactLabels.k(labels.size(1));
    float[] logits = preOutput.castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).dup('c').data().asFloat();
    float[] lab = labels.castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).dup('c').data().asFloat();
    float[] m = mask == null ? null : mask.castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).dup('c').data().asFloat();
    if (m != null && m.length != rows) {
      throw new IllegalArgumentException("Cannot apply mask: expected one value per row: " + m.length + " vs " + rows);
    }
    if (gradient == null) {
      Pass pass = lastPass().get();
      lastPass().remove();
      if (pass != null && pass.sameInputs(logits, lab, m)) {
        return Nd4j.createFromArray(pass.scores());
      }
    }
    float[] grad = gradient == null ? null : new float[rows * vocab];
    double[] scores = rows(logits, lab, m, rows, vocab, k, grad);
    if (gradient != null) {
      gradient.assign(Nd4j.create(grad, new long[] {rows, vocab}, 'c').castTo(gradient.dataType()));
      lastPass().set(new Pass(logits, lab, m, scores));
    }
    return Nd4j.createFromArray(scores);
  }

  /**
   * A gradient pass's inputs and row losses. DL4J scores the output layer right after backprop, on
   * logits computed afresh from the same input: when they are equal (no dropout on the output
   * layer's input), the score reuses the pass instead of a second full-vocabulary softmax per position.
   */
  private record Pass(float[] logits, float[] labels, float[] mask, double[] scores) {
    boolean sameInputs(float[] otherLogits, float[] otherLabels, float[] otherMask) {
      return Arrays.equals(logits, otherLogits) && Arrays.equals(labels, otherLabels) && Arrays.equals(mask, otherMask);
    }
  }

  /** Per thread: the workers of Spark's local mode may share one loss object. */
  private transient ThreadLocal<Pass> lastPass;

  private synchronized ThreadLocal<Pass> lastPass() {
    if (lastPass == null) {
      lastPass = new ThreadLocal<>();
    }
    return lastPass;
  }

  @Override
  public String name() {
    return "BucketLoss(" + divergence + ", tau=" + temperature + ", beta=" + beta + ")";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BucketLoss b && b.divergence.equals(divergence) && b.temperature == temperature && b.beta == beta;
  }

  @Override
  public int hashCode() {
    return Objects.hash(divergence, temperature, beta);
  }

}
