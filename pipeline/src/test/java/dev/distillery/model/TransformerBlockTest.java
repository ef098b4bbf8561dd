package dev.distillery.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.config.DistilleryConfig;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.util.List;
import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link TransformerBlock}'s hand-written backward pass against finite differences in double
 * precision (every parameter and the input, one and two blocks, with padding), and its causal and
 * padding masks.
 *
 * <p>DL4J may log "Largest relative error = 1.0" for passing checks: that is the key part of
 * {@code bqkv}, whose true gradient is exactly 0 (adding b to every key adds q·b to a whole row of
 * logits, which softmax ignores) while backprop gives round-off; such entries pass on absolute error.
 */
class TransformerBlockTest {
  private static final int VOCAB = 7;
  private static final int HIDDEN = 8;
  private static final int HEADS = 2;
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

  /** Embedding → {@code blocks} blocks → softmax, double precision, no updater (for gradient checks). */
  private static ComputationGraph tinyLanguageModel(int blocks) {
    return tinyLanguageModel(blocks, 0);
  }

  private static ComputationGraph tinyLanguageModel(int blocks, double dropout) {
    var g = new NeuralNetConfiguration.Builder()
        .seed(42).dataType(DataType.DOUBLE).updater(new NoOp())
        .graphBuilder().addInputs("tokens");
    g.addLayer("embed", new EmbeddingSequenceLayer.Builder()
        .nIn(VOCAB).nOut(HIDDEN).outputDataFormat(RNNFormat.NCW).build(), "tokens");
    String previous = "embed";
    for (int i = 0; i < blocks; i++) {
      g.addLayer("block" + i, new TransformerBlock.Builder().hidden(HIDDEN).heads(HEADS)
          .addPositions(i == 0).finalNorm(i == blocks - 1).dropout(dropout).build(), previous);
      previous = "block" + i;
    }
    g.addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
        .nIn(HIDDEN).nOut(VOCAB).activation(Activation.SOFTMAX).dataFormat(RNNFormat.NCW).build(), previous);
    ComputationGraph net = new ComputationGraph(g.setOutputs("out").build());
    net.init();
    return net;
  }

  /** One block fed real-valued features {@code [batch, HIDDEN, time]} directly (no embedding). */
  private static ComputationGraph bareBlock() {
    var g = new NeuralNetConfiguration.Builder()
        .seed(7).dataType(DataType.DOUBLE).updater(new NoOp())
        .graphBuilder().addInputs("x")
        .addLayer("block", new TransformerBlock.Builder().hidden(HIDDEN).heads(HEADS).build(), "x")
        .addLayer("out", new RnnOutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
            .nIn(HIDDEN).nOut(VOCAB).activation(Activation.SOFTMAX).dataFormat(RNNFormat.NCW).build(), "block")
        .setOutputs("out").build();
    ComputationGraph net = new ComputationGraph(g);
    net.init();
    return net;
  }

  private static INDArray tokens(double[][] rows) {
    INDArray t = Nd4j.zeros(DataType.DOUBLE, rows.length, 1, rows[0].length);
    for (int i = 0; i < rows.length; i++) {
      for (int s = 0; s < rows[i].length; s++) {
        t.putScalar(new long[] {i, 0, s}, rows[i][s]);
      }
    }
    return t;
  }

  private static INDArray output(ComputationGraph net, INDArray input, INDArray mask) {
    return net.output(false, new INDArray[] {input}, mask == null ? null : new INDArray[] {mask})[0];
  }

  private static void gradientCheck(int blocks) {
    ComputationGraph net = tinyLanguageModel(blocks);
    INDArray input = tokens(new double[][] {{1, 4, 2, 6, 3}, {5, 0, 3, 0, 0}});
    // Row 1 is 3 tokens long; its last two positions are padding (mask 0, and no loss there).
    INDArray mask = Nd4j.create(new double[][] {{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}});
    INDArray labels = Nd4j.zeros(DataType.DOUBLE, 2, VOCAB, TIME);
    int[][] next = {{4, 2, 6, 3, 1}, {0, 3, 2, 0, 0}};
    for (int i = 0; i < 2; i++) {
      for (int s = 0; s < TIME; s++) {
        labels.putScalar(new long[] {i, next[i][s], s}, 1.0);
      }
    }
    boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig()
        .net(net).inputs(new INDArray[] {input}).labels(new INDArray[] {labels})
        .inputMask(new INDArray[] {mask}).labelMask(new INDArray[] {mask})
        .epsilon(1e-6).maxRelError(1e-5).minAbsoluteError(1e-8)
        .print(GradientCheckUtil.PrintMode.FAILURES_ONLY));
    assertTrue(ok, "gradient check failed for " + blocks + " block(s); see the log for the parameters");
  }

  /**
   * With dropout the masks are random, so DL4J's checker cannot be used; reseeding ND4J's generator
   * before every pass draws the same masks, and central differences then check the backward pass
   * through them.
   */
  @Test
  void gradientsThroughDropoutMasksMatchFiniteDifferences() {
    ComputationGraph net = tinyLanguageModel(2, 0.3);
    INDArray input = tokens(new double[][] {{1, 4, 2, 6, 3}, {5, 0, 3, 0, 0}});
    INDArray mask = Nd4j.create(new double[][] {{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}});
    INDArray labels = Nd4j.zeros(DataType.DOUBLE, 2, VOCAB, TIME);
    int[][] next = {{4, 2, 6, 3, 1}, {0, 3, 2, 0, 0}};
    for (int i = 0; i < 2; i++) {
      for (int s = 0; s < TIME; s++) {
        labels.putScalar(new long[] {i, next[i][s], s}, 1.0);
      }
    }
    net.setInputs(input);
    net.setLabels(labels);
    net.setLayerMaskArrays(new INDArray[] {mask}, new INDArray[] {mask});
    Nd4j.getRandom().setSeed(99);
    net.computeGradientAndScore();
    INDArray analytic = net.gradient().gradient().dup();
    INDArray params = net.params();
    double eps = 1e-6;
    int checked = 0;
    for (long i = 0; i < params.length(); i += 7) {
      double original = params.getDouble(i);
      params.putScalar(i, original + eps);
      Nd4j.getRandom().setSeed(99);
      net.computeGradientAndScore();
      double plus = net.score();
      params.putScalar(i, original - eps);
      Nd4j.getRandom().setSeed(99);
      net.computeGradientAndScore();
      double minus = net.score();
      params.putScalar(i, original);
      // The score is per sequence (divided by the batch of 2); the gradient is of the sum.
      double numeric = 2 * (plus - minus) / (2 * eps);
      double a = analytic.getDouble(i);
      double error = Math.abs(a - numeric);
      assertTrue(error < 1e-8 || error / Math.max(Math.abs(a), Math.abs(numeric)) < 1e-5,
          "parameter " + i + ": backprop " + a + ", finite differences " + numeric);
      checked++;
    }
    assertTrue(checked > 100, "checked " + checked + " parameters");
  }

  @Test
  void dropoutIsOffAtInferenceAndOnInTraining() {
    ComputationGraph dropping = tinyLanguageModel(2, 0.3);
    ComputationGraph plain = tinyLanguageModel(2, 0);
    plain.setParams(dropping.params());
    INDArray input = tokens(new double[][] {{1, 4, 2, 6, 3}});
    INDArray first = dropping.outputSingle(false, input);
    INDArray second = dropping.outputSingle(false, input);
    assertEquals(first, second);
    assertEquals(0, first.sub(plain.outputSingle(false, input)).amaxNumber().doubleValue(), 1e-12);
    INDArray training = dropping.feedForward(new INDArray[] {input}, true).get("out");
    assertTrue(training.sub(first).amaxNumber().doubleValue() > 1e-3, "training pass did not drop anything");
  }

  @Test
  void gradientsMatchFiniteDifferencesWithOneBlock() {
    gradientCheck(1);
  }

  @Test
  void gradientsMatchFiniteDifferencesWithTwoBlocks() {
    gradientCheck(2);
  }

  @Test
  void laterTokensDoNotChangeEarlierOutputs() {
    ComputationGraph net = tinyLanguageModel(2);
    double[] row = {1, 4, 2, 6, 3, 5};
    INDArray before = output(net, tokens(new double[][] {row}), null);
    int changed = 3;
    double[] altered = row.clone();
    altered[changed] = 0;
    INDArray after = output(net, tokens(new double[][] {altered}), null);
    for (int s = 0; s < row.length; s++) {
      INDArray a = before.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.point(s));
      INDArray b = after.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.point(s));
      if (s < changed) {
        assertArrayEquals(a.toDoubleVector(), b.toDoubleVector(), 1e-12, "position " + s + " saw the future");
      } else {
        assertTrue(a.distance2(b) > 1e-6, "position " + s + " ignored a token it may see");
      }
    }
  }

  @Test
  void paddingDoesNotChangeRealPositions() {
    ComputationGraph net = tinyLanguageModel(2);
    double[] row = {1, 4, 2, 6};
    INDArray alone = output(net, tokens(new double[][] {row}), null);
    // The same row padded to 7 with junk tokens, batched with a full-length row.
    INDArray batch = tokens(new double[][] {{1, 4, 2, 6, 5, 5, 3}, {2, 2, 3, 1, 0, 6, 4}});
    INDArray mask = Nd4j.create(new double[][] {{1, 1, 1, 1, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1}});
    INDArray padded = output(net, batch, mask);
    INDArray real = padded.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.interval(0, row.length));
    assertArrayEquals(alone.get(NDArrayIndex.point(0)).dup().data().asDouble(), real.dup().data().asDouble(), 1e-10);
  }

  @Test
  void maskedKeysAreIgnored() {
    // A hole in the mask: nothing at position 2 may reach any real position, before or after it.
    // Fed straight into the block, because the embedding layer would zero a masked position itself.
    ComputationGraph net = bareBlock();
    INDArray x = Nd4j.rand(DataType.DOUBLE, 1, HIDDEN, TIME);
    INDArray mask = Nd4j.create(new double[][] {{1, 1, 0, 1, 1}});
    INDArray before = output(net, x, mask);
    INDArray altered = x.dup();
    altered.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.point(2)).assign(5.0);
    INDArray after = output(net, altered, mask);
    for (int s : new int[] {0, 1, 3, 4}) {
      assertArrayEquals(
          before.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.point(s)).toDoubleVector(),
          after.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.point(s)).toDoubleVector(),
          1e-12, "real position " + s + " attended to the masked one");
    }
    // Without the mask position 2 is an ordinary key, so the comparison above was not vacuous.
    INDArray unmasked = output(net, altered, null);
    assertTrue(output(net, x, null).get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.point(3))
        .distance2(unmasked.get(NDArrayIndex.point(0), NDArrayIndex.all(), NDArrayIndex.point(3))) > 1e-6);
  }

  @Test
  void timeLengthMayVaryBetweenCalls() {
    ComputationGraph net = tinyLanguageModel(1);
    for (int time : new int[] {5, 1, 9}) {
      double[] row = new double[time];
      INDArray out = output(net, tokens(new double[][] {row, row}), null);
      assertArrayEquals(new long[] {2, VOCAB, time}, out.shape());
    }
  }

  @Test
  void savedModelRestoresWithSameOutputs() throws Exception {
    ComputationGraph net = tinyLanguageModel(2);
    INDArray input = tokens(new double[][] {{1, 4, 2, 6, 3}});
    var bytes = new ByteArrayOutputStream();
    ModelSerializer.writeModel(net, bytes, false);
    ComputationGraph back = ModelSerializer.restoreComputationGraph(new ByteArrayInputStream(bytes.toByteArray()), false);
    assertEquals(output(net, input, null), output(back, input, null));
  }

  @Test
  void architectureSurvivesJsonAndRuns() {
    var shape = new DistilleryConfig.Model("transformer", 16, 16, 2, 4, 32);
    ComputationGraphConfiguration conf = new TransformerArchitecture().configure(shape, 11, 3, 1e-3);
    ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(conf.toJson());
    assertEquals(conf, back);
    var vertex = (LayerVertex) back.getVertices().get("block0");
    var block = (TransformerBlock) vertex.getLayerConf().getLayer();
    assertEquals(16, block.getHidden());
    assertEquals(4, block.getHeads());
    assertTrue(block.isAddPositions());

    Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
    try {
      ComputationGraph net = new ComputationGraph(back);
      net.init();
      INDArray[] fm = Batches.padded(List.of(new int[] {1, 2, 3}, new int[] {4, 5, 6, 7, 8}));
      INDArray out = net.output(false, new INDArray[] {fm[0]}, new INDArray[] {fm[1]})[0];
      assertArrayEquals(new long[] {2, 11, 5}, out.shape());
      // Every position is a distribution over the 11 tokens.
      assertEquals(2 * 5, out.sum(1).sumNumber().doubleValue(), 1e-4);
    } finally {
      Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
    }
  }
}
