package dev.distillery.model;

import dev.distillery.config.DistilleryConfig;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration.GraphBuilder;
import org.deeplearning4j.nn.conf.GradientNormalization;

/**
 * A decoder-only Transformer language model (Vaswani et al. 2017, decoder stack only, pre-LayerNorm):
 * token embedding {@code [batch, hidden, time]} → {@code layers} causal {@link TransformerBlock}s
 * (the first adds sinusoidal positions, the last ends with a layer norm) → softmax over the
 * vocabulary {@code [batch, vocab, time]}. Decoding steps it with a key/value cache
 * ({@link KvCache}) rather than DL4J's {@code rnnTimeStep}, so {@link #incremental()} is false. {@code shape.embedding()} and
 * {@code shape.maxTokens()} are not used: the residual stream is {@code hidden} wide throughout and
 * sinusoidal positions have no length limit.
 */
public final class TransformerArchitecture implements Architecture {
  @Override
  public String body(GraphBuilder g, String prefix, String input, DistilleryConfig.Model shape, int vocabSize,
      Lora lora) {
    if (shape.hidden() % shape.heads() != 0) {
      throw new IllegalArgumentException(
          "Cannot build transformer: heads must divide hidden: " + shape.heads() + " and " + shape.hidden());
    }
    String previous = prefix + "embed";
    Architecture.addEmbedding(g, previous, input, vocabSize, shape.hidden(), lora != null);
    for (int i = 0; i < shape.layers(); i++) {
      String name = prefix + "block" + i;
      TransformerBlock.Builder b = new TransformerBlock.Builder()
          .hidden(shape.hidden()).heads(shape.heads())
          .addPositions(i == 0).finalNorm(i == shape.layers() - 1).dropout(shape.dropout());
      if (lora != null) {
        b.lora(lora.rank(), lora.scale());
      }
      g.addLayer(name, b.build(), previous);
      previous = name;
    }
    return previous;
  }

  @Override
  public int width(DistilleryConfig.Model shape) {
    return shape.hidden();
  }

  @Override
  public GradientNormalization clipping() {
    // Norm clipping (not element-wise) keeps the update direction; attention logits can spike early.
    return GradientNormalization.ClipL2PerLayer;
  }

  @Override
  public boolean incremental() {
    return false;
  }
}
