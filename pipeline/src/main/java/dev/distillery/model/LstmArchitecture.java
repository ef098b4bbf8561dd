package dev.distillery.model;

import dev.distillery.config.DistilleryConfig;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
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
  public ComputationGraphConfiguration configure(
      DistilleryConfig.Model shape, int vocabSize, long seed, double learningRate, OutputHead head) {
    // Element-wise clipping keeps early LSTM steps from exploding on long verses.
    var g = Architecture.embedded(seed, learningRate, GradientNormalization.ClipElementWiseAbsoluteValue, vocabSize, shape.embedding());
    String previous = "embed";
    for (int i = 0; i < shape.layers(); i++) {
      String name = "lstm" + i;
      g.addLayer(name, new LSTM.Builder()
          .nIn(i == 0 ? shape.embedding() : shape.hidden()).nOut(shape.hidden()).activation(Activation.TANH).dataFormat(RNNFormat.NCW).build(), previous);
      previous = name;
    }
    g.addLayer(OUTPUT, head.layer(shape.hidden(), vocabSize), previous);
    g.setOutputs(OUTPUT);
    return g.build();
  }

  @Override
  public boolean incremental() {
    return true;
  }
}
