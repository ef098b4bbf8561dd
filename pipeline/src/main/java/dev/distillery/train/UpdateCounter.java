package dev.distillery.train;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;

/**
 * Makes each worker count its updates from the run's start. DL4J's parameter averaging rebuilds the
 * network on the worker for every averaging round with its iteration counter at 0 (measured:
 * updates 0, 1, 2, 3, 0, 1, 2, 3, ... at averaging frequency 4), whatever the driver's counter says.
 * Two things read that counter: the learning-rate schedule, which then never leaves its first
 * updates, and Adam's bias correction {@code √(1-β₂ᵗ)/(1-β₁ᵗ)}, which must count the updates the
 * moments have accumulated. Those moments travel between rounds ({@code saveUpdater(true)} in
 * {@link SparkTrainer}: averaged like the parameters), so the count is the run's, not the round's.
 *
 * <p>The driver sets {@link #base} (updates per worker before the round) before each round, which
 * must be one averaging round per {@code fit}; Spark ships a fresh copy to each task, and before the
 * copy's first update it moves the worker's counter up by {@code base}.
 */
final class UpdateCounter extends BaseTrainingListener implements java.io.Serializable {
  private int base;
  private transient boolean shifted;

  void setBase(int base) {
    this.base = base;
  }

  @Override
  public void onGradientCalculation(Model model) {
    if (!shifted && model instanceof ComputationGraph g) {
      g.getConfiguration().setIterationCount(g.getConfiguration().getIterationCount() + base);
      shifted = true;
    }
  }
}
