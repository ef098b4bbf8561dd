package dev.distillery.model;

import dev.distillery.config.DistilleryConfig;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration.GraphBuilder;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.learning.config.Adam;

/**
 * A sequence-model architecture: how to lay out a DL4J {@link ComputationGraphConfiguration} for a
 * causal language model over {@code <s> source <sep> target </s>}. Every architecture has one input
 * {@value #INPUT} (token ids, {@code [batch, time]}) and one output {@value #OUTPUT} (softmax over the
 * vocabulary, {@code [batch, vocab, time]}), so training, decoding and the teacher share one code path.
 */
public sealed interface Architecture permits LstmArchitecture, TransformerArchitecture {
  String INPUT = "tokens";
  String OUTPUT = "out";

  /**
   * Adds this architecture's layers, from an {@code embed} layer reading {@code input} to the last
   * hidden layer ({@code [batch, width, time]}, NCW), every name prefixed with {@code prefix}.
   *
   * @param lora LoRA modules on the attention (transformer only) with every base weight frozen,
   *     the embedding included; null for none
   * @return the name of the last layer added
   */
  String body(GraphBuilder g, String prefix, String input, DistilleryConfig.Model shape, int vocabSize, Lora lora);

  /** Width of the last hidden layer. */
  int width(DistilleryConfig.Model shape);

  /** How gradients are clipped (at 1.0) for this architecture. */
  GradientNormalization clipping();

  /** LoRA modules of rank {@code rank}, update scaled by {@code scale}. */
  record Lora(int rank, double scale) implements java.io.Serializable {}

  /** The graph for this shape, with Adam at {@code learningRate} and the given output layer. */
  default ComputationGraphConfiguration configure(
      DistilleryConfig.Model shape, int vocabSize, long seed, double learningRate, OutputHead head) {
    return configure(shape, vocabSize, seed, Updates.adam(learningRate), head, null);
  }

  /** As {@link #configure(DistilleryConfig.Model, int, long, double, OutputHead)}, with LoRA modules (or null). */
  default ComputationGraphConfiguration configure(
      DistilleryConfig.Model shape, int vocabSize, long seed, double learningRate, OutputHead head, Lora lora) {
    return configure(shape, vocabSize, seed, Updates.adam(learningRate), head, lora);
  }

  /** The graph for this shape, updated as {@code updates} says, with the given output layer and LoRA modules (or null). */
  default ComputationGraphConfiguration configure(
      DistilleryConfig.Model shape, int vocabSize, long seed, Updates updates, OutputHead head, Lora lora) {
    GraphBuilder g = builder(seed, updates, updates.perLayerClipping() ? clipping() : GradientNormalization.None);
    String last = body(g, "", INPUT, shape, vocabSize, lora);
    g.addLayer(OUTPUT, head.layer(width(shape), vocabSize), last);
    g.setOutputs(OUTPUT);
    return g.build();
  }

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
   * The settings every architecture shares: Adam, Xavier init, gradient clipping at 1.0 of the given
   * kind, and the {@value #INPUT} input.
   */
  static GraphBuilder builder(long seed, double learningRate, GradientNormalization clipping) {
    return builder(seed, Updates.adam(learningRate), clipping);
  }

  /** As {@link #builder(long, double, GradientNormalization)}, with AdamW's decay on weights if asked. */
  static GraphBuilder builder(long seed, Updates updates, GradientNormalization clipping) {
    NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder()
        .seed(seed)
        .updater(new Adam(updates.learningRate()));
    if (updates.weightDecay() > 0) {
      // DL4J's WeightDecay is decoupled (applied after Adam, scaled by the current rate): AdamW.
      b.weightDecay(updates.weightDecay(), true).weightDecayBias(0, true);
    }
    return b
        .weightInit(WeightInit.XAVIER)
        .gradientNormalization(clipping)
        .gradientNormalizationThreshold(1.0)
        .graphBuilder()
        // No setInputTypes: shape inference would set the embedding's nIn to the input's width (1).
        .addInputs(INPUT);
  }

  /** The token embedding {@code [batch, width, time]} (NCW) every architecture starts with; frozen if asked. */
  static void addEmbedding(GraphBuilder g, String name, String input, int vocabSize, int width, boolean frozen) {
    Layer embed = new EmbeddingSequenceLayer.Builder()
        .nIn(vocabSize).nOut(width).outputDataFormat(RNNFormat.NCW).build();
    g.addLayer(name, frozen ? new FrozenLayer(embed) : embed, input);
  }

  static Architecture of(String name) {
    return switch (name) {
      case "lstm" -> new LstmArchitecture();
      case "transformer" -> new TransformerArchitecture();
      default -> throw new IllegalArgumentException("Cannot build model: unknown architecture: " + name);
    };
  }
}
