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

  static Architecture of(String name) {
    return switch (name) {
      case "lstm" -> new LstmArchitecture();
      case "transformer" -> new TransformerArchitecture();
      default -> throw new IllegalArgumentException("Cannot build model: unknown architecture: " + name);
    };
  }
}
