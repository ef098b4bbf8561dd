package dev.distillery.model;

import dev.distillery.config.DistilleryConfig;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.GradientNormalization;

/**
 * A decoder-only Transformer language model (Vaswani et al. 2017, decoder stack only, pre-LayerNorm):
 * token embedding {@code [batch, hidden, time]} → {@code layers} causal {@link TransformerBlock}s
 * (the first adds sinusoidal positions, the last ends with a layer norm) → softmax over the
 * vocabulary {@code [batch, vocab, time]}. Attention is recomputed over the whole prefix at every
 * decoding step, so {@link #incremental()} is false. {@code shape.embedding()} and
 * {@code shape.maxTokens()} are not used: the residual stream is {@code hidden} wide throughout and
 * sinusoidal positions have no length limit.
 */
public final class TransformerArchitecture implements Architecture {
  @Override
  public ComputationGraphConfiguration configure(
      DistilleryConfig.Model shape, int vocabSize, long seed, double learningRate, OutputHead head) {
    if (shape.hidden() % shape.heads() != 0) {
      throw new IllegalArgumentException(
          "Cannot build transformer: heads must divide hidden: " + shape.heads() + " and " + shape.hidden());
    }
    // Norm clipping (not element-wise) keeps the update direction; attention logits can spike early.
    var g = Architecture.embedded(seed, learningRate, GradientNormalization.ClipL2PerLayer, vocabSize, shape.hidden());
    String previous = "embed";
    for (int i = 0; i < shape.layers(); i++) {
      String name = "block" + i;
      g.addLayer(name, new TransformerBlock.Builder()
          .hidden(shape.hidden()).heads(shape.heads())
          .addPositions(i == 0).finalNorm(i == shape.layers() - 1).build(), previous);
      previous = name;
    }
    g.addLayer(OUTPUT, head.layer(shape.hidden(), vocabSize), previous);
    g.setOutputs(OUTPUT);
    return g.build();
  }

  @Override
  public boolean incremental() {
    return false;
  }
}
