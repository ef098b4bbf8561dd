package dev.distillery.model;

import dev.distillery.config.DistilleryConfig;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;

/**
 * A sequence-model architecture: how to lay out a DL4J {@link ComputationGraphConfiguration} for a
 * causal language model over {@code <s> source <sep> target </s>}. Every architecture has one input
 * {@value #INPUT} (token ids, {@code [batch, time]}) and one output {@value #OUTPUT} (softmax over the
 * vocabulary, {@code [batch, vocab, time]}), so training, decoding and the teacher share one code path.
 */
public sealed interface Architecture permits LstmArchitecture, TransformerArchitecture {
  String INPUT = "tokens";
  String OUTPUT = "out";

  /** The graph for this shape, with Adam at {@code learningRate} and the given output layer. */
  ComputationGraphConfiguration configure(
      DistilleryConfig.Model shape, int vocabSize, long seed, double learningRate, OutputHead head);

  /** A softmax/cross-entropy graph (teachers, baselines). */
  default ComputationGraphConfiguration configure(
      DistilleryConfig.Model shape, int vocabSize, long seed, double learningRate) {
    return configure(shape, vocabSize, seed, learningRate, OutputHead.softmaxCrossEntropy());
  }

  /**
   * Whether the graph can step one token at a time with {@code rnnTimeStep} (recurrent state);
   * otherwise decoding re-runs the whole prefix each step.
   */
  boolean incremental();

  /**
   * The part every architecture shares: Adam, Xavier init, gradient clipping at 1.0 of the given
   * kind, the {@value #INPUT} input and an {@code embed} layer of width {@code width} (NCW output).
   */
  static org.deeplearning4j.nn.conf.ComputationGraphConfiguration.GraphBuilder embedded(
      long seed, double learningRate, org.deeplearning4j.nn.conf.GradientNormalization clipping, int vocabSize,
      int width) {
    var g = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder()
        .seed(seed)
        .updater(new org.nd4j.linalg.learning.config.Adam(learningRate))
        .weightInit(org.deeplearning4j.nn.weights.WeightInit.XAVIER)
        .gradientNormalization(clipping)
        .gradientNormalizationThreshold(1.0)
        .graphBuilder()
        // No setInputTypes: shape inference would set the embedding's nIn to the input's width (1).
        .addInputs(INPUT);
    g.addLayer("embed", new org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer.Builder()
        .nIn(vocabSize).nOut(width).outputDataFormat(org.deeplearning4j.nn.conf.RNNFormat.NCW).build(), INPUT);
    return g;
  }

  static Architecture of(String name) {
    return switch (name) {
      case "lstm" -> new LstmArchitecture();
      case "transformer" -> new TransformerArchitecture();
      default -> throw new IllegalArgumentException("Cannot build model: unknown architecture: " + name);
    };
  }
}
