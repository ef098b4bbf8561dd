package dev.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.impl.LossSparseMCXENT;

/**
 * {@link SoftmaxOutput}'s fused training step against DL4J's stock {@code RnnOutputLayer} with
 * {@code LossSparseMCXENT} (same score and gradients, in double precision, with padding), and its
 * label smoothing against finite differences and the smoothed cross-entropy written out.
 */
class SoftmaxOutputTest {
  private static final int VOCAB = 9;
  private static final int HIDDEN = 8;
  private static final int BATCH = 3;
  private static final int TIME = 5;

  private static DataType previousDefault;
  private static DataType previousFloating;

  @BeforeAll
  static void doublePrecision() {
    previousDefault = Nd4j.dataType();
    previousFloating = Nd4j.defaultFloatingPointType();
    Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
  }

  @AfterAll
  static void restorePrecision() {
    Nd4j.setDefaultDataTypes(previousDefault, previousFloating);
  }

  /** Embedding → one transformer block → the given output layer, double precision, no updater. */
  private static ComputationGraph net(RnnOutputLayer out) {
    var g = new NeuralNetConfiguration.Builder()
        .seed(7).dataType(DataType.DOUBLE).updater(new NoOp())
        .graphBuilder().addInputs("tokens");
    g.addLayer("embed", new EmbeddingSequenceLayer.Builder()
        .nIn(VOCAB).nOut(HIDDEN).outputDataFormat(RNNFormat.NCW).build(), "tokens");
    g.addLayer("block", new TransformerBlock.Builder().hidden(HIDDEN).heads(2)
        .addPositions(true).finalNorm(true).build(), "embed");
    g.addLayer("out", out, "block");
    ComputationGraph net = new ComputationGraph(g.setOutputs("out").build());
    net.init();
    return net;
  }

  private static RnnOutputLayer stock() {
    return new RnnOutputLayer.Builder(new LossSparseMCXENT()).activation(Activation.SOFTMAX)
        .nIn(HIDDEN).nOut(VOCAB).dataFormat(RNNFormat.NCW).build();
  }

  private static final INDArray TOKENS = Nd4j.createFromArray(new double[][] {
      {1, 4, 2, 7, 3}, {5, 5, 8, 1, 0}, {2, 6, 0, 0, 0}});
  private static final INDArray MASK = Nd4j.createFromArray(new double[][] {
      {1, 1, 1, 1, 1}, {1, 1, 1, 1, 0}, {1, 1, 0, 0, 0}});
  /** Next-token ids {@code [batch, 1, time]}; padded positions hold an id that must not count. */
  private static final INDArray LABELS = Nd4j.createFromArray(new double[][] {
      {4, 2, 7, 3, 8}, {5, 8, 1, 6, 3}, {6, 1, 4, 4, 4}}).reshape(BATCH, 1, TIME);

  private static void fit(ComputationGraph net) {
    net.setInputs(TOKENS);
    net.setLabels(LABELS);
    net.setLayerMaskArrays(new INDArray[] {MASK}, new INDArray[] {MASK});
    net.computeGradientAndScore();
  }

  @Test
  void trainingStepMatchesStockLayerScoreAndGradients() {
    ComputationGraph reference = net(stock());
    ComputationGraph fused = net(SoftmaxOutput.of(HIDDEN, VOCAB, 0));
    fused.setParams(reference.params());
    fit(reference);
    fit(fused);
    assertEquals(reference.score(), fused.score(), 1e-10);
    INDArray expected = reference.gradient().gradient();
    INDArray actual = fused.gradient().gradient();
    double diff = expected.sub(actual).norm2Number().doubleValue();
    assertTrue(diff < 1e-10 * Math.max(1, expected.norm2Number().doubleValue()),
        "gradient differs from the stock layer's by " + diff);
    // Inference is the stock layer's softmax.
    INDArray p1 = reference.output(false, new INDArray[] {TOKENS}, new INDArray[] {MASK})[0];
    INDArray p2 = fused.output(false, new INDArray[] {TOKENS}, new INDArray[] {MASK})[0];
    assertEquals(0, p1.sub(p2).amaxNumber().doubleValue(), 1e-12);
  }

  @Test
  void labelSmoothedGradientsMatchFiniteDifferences() {
    ComputationGraph net = net(SoftmaxOutput.of(HIDDEN, VOCAB, 0.1));
    boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
        .net(net).inputs(new INDArray[] {TOKENS}).labels(new INDArray[] {LABELS})
        .inputMask(new INDArray[] {MASK}).labelMask(new INDArray[] {MASK})
        .epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-8)
        .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
    assertTrue(ok, "gradient check failed; see the log for the parameters");
  }

  @Test
  void labelSmoothedScoreIsCrossEntropyAgainstTheSmoothedTarget() {
    double eps = 0.2;
    ComputationGraph net = net(SoftmaxOutput.of(HIDDEN, VOCAB, eps));
    INDArray p = net.output(false, new INDArray[] {TOKENS}, new INDArray[] {MASK})[0];
    double expected = 0;
    for (int i = 0; i < BATCH; i++) {
      for (int t = 0; t < TIME; t++) {
        if (MASK.getDouble(i, t) == 0) {
          continue;
        }
        int y = LABELS.getInt(i, 0, t);
        for (int v = 0; v < VOCAB; v++) {
          double q = (v == y ? 1 - eps : 0) + eps / VOCAB;
          expected -= q * Math.log(p.getDouble(i, v, t));
        }
      }
    }
    expected /= BATCH;
    fit(net);
    assertEquals(expected, net.score(), 1e-10);
  }

  @Test
  void survivesJsonWithItsSmoothing() {
    ComputationGraph net = net(SoftmaxOutput.of(HIDDEN, VOCAB, 0.1));
    var conf = ComputationGraphConfiguration.fromJson(net.getConfiguration().toJson());
    var layer = ((LayerVertex) conf.getVertices().get("out")).getLayerConf().getLayer();
    assertTrue(layer instanceof SoftmaxOutput, "rebuilt as " + layer.getClass());
    assertEquals(0.1, ((SoftmaxOutput) layer).getLabelSmoothing());
  }
}
