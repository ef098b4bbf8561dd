package dev.distillery.model;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.recurrent.RnnOutputLayer;
import org.deeplearning4j.nn.params.DefaultParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.TimeSeriesUtils;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Runtime of {@link SoftmaxOutput}. Training (DL4J calls {@link #backpropGradient} and then
 * {@link #computeScore} on the same input) does, over the {@code N = batch·time} positions as rows:
 *
 * <pre>
 *   z = x·W + b                       [N, vocab], one GEMM
 *   p = softmax(z), lse = log Σ exp z  (one exp pass, max-shifted)
 *   loss_n = lse_n - (1-ε)·z[n, y_n] - ε·mean(z_n)          (masked rows: 0)
 *   dz = p - (1-ε)·onehot(y) - ε/vocab                    (masked rows: 0)
 *   dW = xᵀ·dz, db = Σ_n dz, dx = dz·Wᵀ                    two GEMMs
 * </pre>
 *
 * and keeps {@code Σ loss} for the score, so the stock layer's second logits GEMM, second softmax
 * and one-hot label matrix are never built. The score is, as DL4J's, the loss summed over positions
 * divided by the minibatch size, plus the regularization term. Inference ({@code activate}) is the
 * stock layer's.
 */
final class SoftmaxOutputLayer extends RnnOutputLayer {
  private double lossSum;
  private INDArray scoredInput;
  private INDArray scoredLabels;

  SoftmaxOutputLayer(NeuralNetConfiguration conf, DataType dataType) {
    super(conf, dataType);
  }

  /** The 2-D input {@code [N, nIn]}, and softmax probabilities turned into {@code dz} (rows of {@code N}). */
  private record Step(INDArray x, INDArray dz, double lossSum) {}

  /**
   * The forward pass, the loss and its gradient with respect to the logits, in {@code working}
   * memory (backprop's or, when scoring alone, the forward pass's).
   */
  private Step step(LayerWorkspaceMgr workspaceMgr, ArrayType working) {
    assertInputSet(true);
    if (input.rank() != 3) {
      throw new IllegalStateException(
          "Cannot train softmax output: input must be [batch, nIn, time]: " + input.shapeInfoToString());
    }
    INDArray x = TimeSeriesUtils.reshape3dTo2d(input, workspaceMgr, working);
    INDArray w = getParamWithNoise(DefaultParamInitializer.WEIGHT_KEY, true, workspaceMgr);
    INDArray b = getParamWithNoise(DefaultParamInitializer.BIAS_KEY, true, workspaceMgr);
    long rows = x.size(0);
    long vocab = w.size(1);
    INDArray z = workspaceMgr.createUninitialized(working, x.dataType(), new long[] {rows, vocab}, 'c');
    Nd4j.gemm(x, w, z, false, false, 1.0, 0.0);
    z.addiRowVector(b);
    z.subiColumnVector(z.max(true, 1));

    int[] label = getLabels2d(workspaceMgr, working).toIntVector();
    float[] mask = maskArray == null ? null : maskArray.toFloatVector();
    double eps = ((SoftmaxOutput) conf().getLayer()).getLabelSmoothing();
    INDArray meanLogit = eps > 0 ? z.mean(1) : null;
    double[] labelLogit = new double[(int) rows];
    for (int n = 0; n < rows; n++) {
      if (mask == null || mask[n] != 0) {
        labelLogit[n] = z.getDouble(n, label[n]);
      }
    }
    INDArray p = Transforms.exp(z, false);
    INDArray sum = p.sum(1);
    p.diviColumnVector(sum.reshape(rows, 1));

    double loss = 0;
    for (int n = 0; n < rows; n++) {
      if (mask != null && mask[n] == 0) {
        continue;
      }
      double lse = Math.log(sum.getDouble(n));
      double rowLoss = lse - (1 - eps) * labelLogit[n] - (eps > 0 ? eps * meanLogit.getDouble(n) : 0);
      loss += mask == null ? rowLoss : mask[n] * rowLoss;
      p.putScalar(n, label[n], p.getDouble(n, label[n]) - (1 - eps));
    }
    if (eps > 0) {
      p.subi(eps / vocab);
    }
    if (mask != null) {
      p.muliColumnVector(maskArray.castTo(p.dataType()).reshape(rows, 1));
    }
    return new Step(x, p, loss);
  }

  @Override
  public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
    Step s = step(workspaceMgr, ArrayType.BP_WORKING_MEM);
    lossSum = s.lossSum();
    scoredInput = input;
    scoredLabels = labels;

    INDArray w = getParamWithNoise(DefaultParamInitializer.WEIGHT_KEY, true, workspaceMgr);
    Gradient gradient = new DefaultGradient();
    INDArray dw = gradientViews.get(DefaultParamInitializer.WEIGHT_KEY);
    Nd4j.gemm(s.x(), s.dz(), dw, true, false, 1.0, 0.0);
    gradient.gradientForVariable().put(DefaultParamInitializer.WEIGHT_KEY, dw);
    INDArray db = gradientViews.get(DefaultParamInitializer.BIAS_KEY);
    s.dz().sum(db, 0);
    gradient.gradientForVariable().put(DefaultParamInitializer.BIAS_KEY, db);

    INDArray dx = workspaceMgr.createUninitialized(
        ArrayType.BP_WORKING_MEM, s.dz().dataType(), new long[] {s.x().size(0), w.size(0)}, 'c');
    Nd4j.gemm(s.dz(), w, dx, false, true, 1.0, 0.0);
    INDArray dx3 = TimeSeriesUtils.reshape2dTo3d(dx, input.size(0), workspaceMgr, ArrayType.ACTIVATION_GRAD);
    weightNoiseParams.clear();
    return new Pair<>(gradient, dx3);
  }

  /**
   * The loss of the last training step on this input (DL4J scores right after backprop), else a
   * forward pass of its own (scoring without training, gradient checks).
   */
  @Override
  public double computeScore(double fullNetRegTerm, boolean training, LayerWorkspaceMgr workspaceMgr) {
    double sum = scoredInput != null && scoredInput == input && scoredLabels == labels
        ? lossSum : step(workspaceMgr, ArrayType.FF_WORKING_MEM).lossSum();
    scoredInput = null;
    scoredLabels = null;
    score = sum / getInputMiniBatchSize() + fullNetRegTerm;
    return score;
  }

  @Override
  public void clear() {
    super.clear();
    scoredInput = null;
    scoredLabels = null;
  }
}
