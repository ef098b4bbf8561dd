package dev.distillery.model;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.tokenizer.TextTokenizer;
import java.util.List;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * A causal language model over {@code <s> source <sep> target </s>} with the tokenizer it was
 * trained with. Not thread-safe: recurrent decoding keeps state in the graph; use one instance per
 * thread.
 */
public final class LanguageModel implements CausalModel {
  private final ComputationGraph graph;
  private final Architecture architecture;
  private final DistilleryConfig.Model shape;
  private final TextTokenizer tokenizer;

  public LanguageModel(
      ComputationGraph graph, DistilleryConfig.Model shape, TextTokenizer tokenizer) {
    this.graph = graph;
    this.shape = shape;
    this.architecture = Architecture.of(shape.architecture());
    this.tokenizer = tokenizer;
    long outputs = graph.getLayer(Architecture.OUTPUT).getParam("W").size(1);
    if (outputs != tokenizer.vocabSize()) {
      throw new IllegalArgumentException(
          "Cannot pair model and tokenizer: the model predicts " + outputs
              + " tokens but the tokenizer has " + tokenizer.vocabSize() + ": vocab-size");
    }
  }

  /** A freshly initialized model with a softmax/cross-entropy output. */
  public static LanguageModel create(
      DistilleryConfig.Model shape, TextTokenizer tokenizer, long seed, double learningRate) {
    return create(shape, tokenizer, seed, learningRate, OutputHead.softmaxCrossEntropy());
  }

  /** A freshly initialized model with the given output layer. */
  public static LanguageModel create(
      DistilleryConfig.Model shape, TextTokenizer tokenizer, long seed, double learningRate, OutputHead head) {
    return create(shape, tokenizer, seed, Updates.adam(learningRate), head);
  }

  /** A freshly initialized model with the given updates and output layer. */
  public static LanguageModel create(
      DistilleryConfig.Model shape, TextTokenizer tokenizer, long seed, Updates updates, OutputHead head) {
    var conf = Architecture.of(shape.architecture())
        .configure(shape, tokenizer.vocabSize(), seed, updates, head, null);
    ComputationGraph graph = new ComputationGraph(conf);
    graph.init();
    return new LanguageModel(graph, shape, tokenizer);
  }

  /** An independent copy (parameters duplicated in memory), for another thread. */
  public LanguageModel copy() {
    return new LanguageModel(graph.clone(), shape, tokenizer);
  }

  public ComputationGraph graph() {
    return graph;
  }

  public Architecture architecture() {
    return architecture;
  }

  public DistilleryConfig.Model shape() {
    return shape;
  }

  public TextTokenizer tokenizer() {
    return tokenizer;
  }

  @Override
  public int maxTokens() {
    return shape.maxTokens();
  }

  @Override
  public long weightBytes() {
    return graph.numParams() * Float.BYTES;
  }

  @Override
  public String describe() {
    return shape.architecture();
  }

  @Override
  public int vocabSize() {
    return tokenizer.vocabSize();
  }

  /**
   * Next-token distributions at every position of each row (teacher forcing).
   *
   * @return natural-log probabilities {@code [rows, vocab, time]}; positions past a row's length are
   *     padding
   */
  public INDArray logProbs(List<int[]> rows) {
    INDArray[] fm = Batches.padded(rows);
    INDArray out = graph.output(false, new INDArray[] {fm[0]}, new INDArray[] {fm[1]})[0];
    return toLogProbs(out);
  }

  /**
   * Whether the output layer emits logits (students trained on compact labels) rather than
   * probabilities (softmax teachers).
   */
  public boolean outputsLogits() {
    var layer = (org.deeplearning4j.nn.conf.layers.BaseOutputLayer)
        ((org.deeplearning4j.nn.conf.graph.LayerVertex) graph.getConfiguration().getVertices().get(Architecture.OUTPUT))
            .getLayerConf().getLayer();
    return layer.getActivationFn() instanceof org.nd4j.linalg.activations.impl.ActivationIdentity;
  }

  /** Output activations {@code [rows, vocab, time]} (probabilities or logits) to natural-log probabilities. */
  public INDArray toLogProbs(INDArray out) {
    if (outputsLogits()) {
      return BlockMath.logSoftmax(out);
    }
    // Softmax underflows to 0 for very unlikely tokens; clamp so the log stays finite.
    return Transforms.log(Transforms.max(out, Float.MIN_NORMAL, false), false);
  }

  /** A copy of all parameters as one flat vector. */
  public INDArray parameters() {
    return graph.params().dup();
  }

  static INDArray zeros(long... shape) {
    return Nd4j.zeros(shape);
  }
}
