package dev.distillery.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Clips the gradient by its global L2 norm over all parameters (Pascanu et al. 2013), as PyTorch's
 * {@code clip_grad_norm_}: if {@code ‖g‖ > maxNorm}, {@code g ← g · maxNorm / ‖g‖}, one factor for
 * every layer, so the update keeps its direction (DL4J's built-in clipping is per layer or per
 * element). Runs on each worker after the gradient is computed and before the updater. DL4J's
 * gradient there is summed over the minibatch (the updater divides by its size afterwards), so the
 * norm compared is that of the mean gradient.
 */
public final class GlobalNormClipping extends BaseTrainingListener implements java.io.Serializable {
  private final double maxNorm;

  public GlobalNormClipping(double maxNorm) {
    if (!(maxNorm > 0)) {
      throw new IllegalArgumentException("Cannot clip gradients: the norm must be positive: " + maxNorm);
    }
    this.maxNorm = maxNorm;
  }

  @Override
  public void onGradientCalculation(Model model) {
    clip(model.gradient().gradient(), Math.max(1, model.batchSize()));
  }

  /**
   * Scales {@code flatGradient} (the sum over {@code batchSize} examples) in place.
   *
   * @return the norm of the mean gradient before clipping
   */
  double clip(INDArray flatGradient, int batchSize) {
    double norm = flatGradient.norm2Number().doubleValue() / batchSize;
    if (norm > maxNorm) {
      flatGradient.muli(maxNorm / norm);
    }
    return norm;
  }
}
