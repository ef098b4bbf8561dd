package dev.distillery.okd;

import dev.distillery.loss.RowLoss;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The two losses of online KD (Rao et al. 2024) in one DL4J loss function, each with its gradient
 * sent only into its own model's logits. Its input is the adapted teacher's and the student's
 * logits side by side, {@code [rows, 2·vocab]} ({@code z_T | z_S}, rows = batch·time), and the
 * labels are the reference's next-token ids {@code [rows, 1]}. With {@code p = softmax(z_T)} and
 * {@code q = softmax(z_S)}, per position:
 *
 * <pre>
 *   L_t = α·KL(q ‖ p) + (1−α)·(−log p(y*))     ∂L_t/∂z_T = p − α·q − (1−α)·onehot(y*),  ∂L_t/∂z_S := 0
 *   L_s = KL(p ‖ q)                              ∂L_s/∂z_S = q − p,                      ∂L_s/∂z_T := 0
 * </pre>
 *
 * <p>The score is {@code L_t + L_s}; the gradient is {@code [∂L_t/∂z_T | ∂L_s/∂z_S]}: each loss
 * treats the other model's distribution as a constant (stop-gradient), which is what lets one graph
 * train both without the student pulling the teacher toward itself through {@code L_s} or the
 * teacher's {@code L_t} moving the student. Natural logs, temperature 1. Bean-style: DL4J rebuilds
 * it from JSON on Spark workers.
 */
public final class OkdLoss extends RowLoss {
  private double alpha = 0.5;

  public OkdLoss() {}

  public OkdLoss(double alpha) {
    this.alpha = alpha;
  }

  public double getAlpha() {
    return alpha;
  }

  public void setAlpha(double alpha) {
    this.alpha = alpha;
  }

  /** Per-row values of the parts, each {@code [rows]}, masked rows 0. */
  public record Parts(INDArray teacherLoss, INDArray studentKl, INDArray teacherCe) {}

  /**
   * The losses per row and, when {@code gradient} is not null, the gradient written into it.
   *
   * @param logits {@code [rows, 2·vocab]}
   * @param labels {@code [rows, 1]} gold ids
   * @param mask {@code [rows, 1]} or {@code [rows]} of 0/1, or null
   */
  public Parts parts(INDArray labels, INDArray logits, INDArray mask, INDArray gradient) {
    long rows = logits.size(0);
    long vocab = logits.size(1) / 2;
    if (logits.size(1) != 2 * vocab || labels.size(0) != rows) {
      throw new IllegalArgumentException("Cannot compute the OKD loss: expected logits [rows, 2*vocab] and labels [rows, 1]: "
          + java.util.Arrays.toString(logits.shape()) + " and " + java.util.Arrays.toString(labels.shape()));
    }
    INDArray logP = logSoftmax(logits.get(all(), interval(0, vocab)));
    INDArray logQ = logSoftmax(logits.get(all(), interval(vocab, 2 * vocab)));
    INDArray p = Transforms.exp(logP, true);
    INDArray q = Transforms.exp(logQ, true);
    INDArray gold = Nd4j.zeros(logits.dataType(), rows, vocab);
    INDArray ce = Nd4j.zeros(logits.dataType(), rows);
    for (long r = 0; r < rows; r++) {
      long y = labels.getLong(r, 0);
      gold.putScalar(r, y, 1.0);
      ce.putScalar(r, -logP.getDouble(r, y));
    }
    INDArray diff = logQ.sub(logP);                   // log q − log p
    INDArray klQp = q.mul(diff).sum(1);               // KL(q ‖ p)
    INDArray klPq = p.mul(diff).sum(1).negi();        // KL(p ‖ q)
    INDArray m = mask == null ? null : mask.reshape(rows).castTo(logits.dataType());
    INDArray teacher = klQp.mul(alpha).addi(ce.mul(1 - alpha));
    if (m != null) {
      teacher.muli(m);
      klPq.muli(m);
      ce.muli(m);
    }
    if (gradient != null) {
      INDArray gT = p.sub(q.mul(alpha)).subi(gold.muli(1 - alpha));
      INDArray gS = q.sub(p);
      if (m != null) {
        INDArray column = m.reshape(rows, 1);
        gT.muliColumnVector(column);
        gS.muliColumnVector(column);
      }
      gradient.get(all(), interval(0, vocab)).assign(gT);
      gradient.get(all(), interval(vocab, 2 * vocab)).assign(gS);
    }
    return new Parts(teacher, klPq, ce);
  }

  /** Row-wise {@code z − max − log Σ exp(z − max)}: stable for any logit scale. */
  private static INDArray logSoftmax(INDArray z) {
    INDArray shifted = z.subColumnVector(z.max(true, 1));
    INDArray lse = Transforms.log(Transforms.exp(shifted, true).sum(true, 1), false);
    return shifted.subiColumnVector(lse);
  }

  private static org.nd4j.linalg.indexing.INDArrayIndex all() {
    return org.nd4j.linalg.indexing.NDArrayIndex.all();
  }

  private static org.nd4j.linalg.indexing.INDArrayIndex interval(long from, long to) {
    return org.nd4j.linalg.indexing.NDArrayIndex.interval(from, to);
  }

  @Override
  protected INDArray rowLosses(INDArray labels, INDArray preOutput, INDArray mask, INDArray gradient) {
    Parts parts = parts(labels, preOutput, mask, gradient);
    return parts.teacherLoss().add(parts.studentKl());
  }

  @Override
  public String name() {
    return "OkdLoss(alpha=" + alpha + ")";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof OkdLoss l && l.alpha == alpha;
  }

  @Override
  public int hashCode() {
    return Double.hashCode(alpha);
  }

}
