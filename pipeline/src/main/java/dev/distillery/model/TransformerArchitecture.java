package dev.distillery.model;

import dev.distillery.config.DistilleryConfig;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;

/** Decoder-only Transformer with causal self-attention as SameDiff layers (see {@link TransformerBlock}). */
public final class TransformerArchitecture implements Architecture {
  @Override
  public ComputationGraphConfiguration configure(
      DistilleryConfig.Model shape, int vocabSize, long seed, double learningRate) {
    throw new UnsupportedOperationException("Cannot build model: the transformer architecture is not built yet: transformer");
  }

  @Override
  public boolean incremental() {
    return false;
  }
}
