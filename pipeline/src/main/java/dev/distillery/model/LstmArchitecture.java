package dev.distillery.model;

import dev.distillery.config.DistilleryConfig;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration.GraphBuilder;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.nd4j.linalg.activations.Activation;

/**
 * An LSTM language model from DL4J's built-in layers: embedding, {@code layers} LSTMs of
 * {@code hidden} units, softmax output. Robust (no custom gradients) and cuDNN-accelerated on
 * NVIDIA GPUs.
 */
public final class LstmArchitecture implements Architecture {
  @Override
  public String body(GraphBuilder g, String prefix, String input, DistilleryConfig.Model shape, int vocabSize,
      Lora lora) {
    if (lora != null) {
      throw new IllegalArgumentException(
          "Cannot build LSTM: LoRA modules adapt attention projections, which an LSTM has none of: lstm");
    }
    String previous = prefix + "embed";
    Architecture.addEmbedding(g, previous, input, vocabSize, shape.embedding(), false);
    for (int i = 0; i < shape.layers(); i++) {
      String name = prefix + "lstm" + i;
      g.addLayer(name, new LSTM.Builder()
          .nIn(i == 0 ? shape.embedding() : shape.hidden()).nOut(shape.hidden()).activation(Activation.TANH)
          .dataFormat(RNNFormat.NCW).build(), previous);
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
    // Element-wise clipping keeps early LSTM steps from exploding on long verses.
    return GradientNormalization.ClipElementWiseAbsoluteValue;
  }

  @Override
  public boolean incremental() {
    return true;
  }
}
