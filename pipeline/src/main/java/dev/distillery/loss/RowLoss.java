package dev.distillery.loss;

import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.lossfunctions.ILossFunction;

/**
 * A DL4J loss function given row by row: a subclass computes the loss of each row of
 * {@code [rows, width]} pre-activations (rows = batch·time for sequence outputs) and, when asked,
 * its gradient; this class turns that into DL4J's four entry points. Used with an identity
 * activation.
 */
public abstract class RowLoss implements ILossFunction {
  /**
   * The loss of each row {@code [rows]} (masked rows 0) and, when {@code gradient} is not null, its
   * gradient with respect to {@code preOutput} written into it ({@code [rows, width]}).
   *
   * @param mask one 0/1 value per row ({@code [rows, 1]}), or null
   */
  protected abstract INDArray rowLosses(INDArray labels, INDArray preOutput, INDArray mask, INDArray gradient);

  @Override
  public double computeScore(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask,
      boolean average) {
    INDArray s = rowLosses(labels, preOutput, mask, null);
    double sum = s.sumNumber().doubleValue();
    return average ? sum / s.length() : sum;
  }

  @Override
  public INDArray computeScoreArray(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
    return rowLosses(labels, preOutput, mask, null).castTo(preOutput.dataType()).reshape(preOutput.size(0), 1);
  }

  @Override
  public INDArray computeGradient(INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask) {
    INDArray grad = preOutput.ulike();
    rowLosses(labels, preOutput, mask, grad);
    // Identity activation expected; backprop through it anyway so a misconfiguration stays correct.
    return activationFn.backprop(preOutput.dup(), grad).getFirst();
  }

  @Override
  public Pair<Double, INDArray> computeGradientAndScore(
      INDArray labels, INDArray preOutput, IActivation activationFn, INDArray mask, boolean average) {
    INDArray grad = preOutput.ulike();
    INDArray s = rowLosses(labels, preOutput, mask, grad);
    double sum = s.sumNumber().doubleValue();
    return new Pair<>(average ? sum / s.length() : sum, activationFn.backprop(preOutput.dup(), grad).getFirst());
  }

  @Override
  public String toString() {
    return name();
  }
}
