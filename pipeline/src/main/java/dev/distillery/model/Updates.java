package dev.distillery.model;

import dev.distillery.config.DistilleryConfig;

/**
 * How training updates a graph's parameters: Adam at {@code learningRate} (the trainer may replace
 * the rate with a schedule), AdamW's decoupled weight decay on weight matrices (not biases or
 * layer-norm gains), and whether each layer clips its own gradient norm at 1.0 (otherwise the
 * trainer clips the global norm).
 */
public record Updates(double learningRate, double weightDecay, boolean perLayerClipping) {
  public static Updates adam(double learningRate) {
    return new Updates(learningRate, 0, true);
  }

  public static Updates of(DistilleryConfig.Train train) {
    return new Updates(train.learningRate(), train.weightDecay(), train.clipNorm() == 0);
  }
}
