package dev.distillery.model;

import java.util.Collection;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.lossfunctions.impl.LossSparseMCXENT;

/**
 * The softmax output layer of teachers and of {@code train}: {@code [batch, nIn, time]} →
 * probabilities {@code [batch, vocab, time]}, trained with cross-entropy on token-id labels
 * {@code [batch, 1, time]}, optionally label-smoothed (Szegedy et al. 2016): the target is
 * {@code (1 - ε)·onehot + ε/vocab}.
 *
 * <p>It is DL4J's {@code RnnOutputLayer} with {@code LossSparseMCXENT} (same parameters {@code W
 * [nIn, vocab]}, {@code b [1, vocab]}, same JSON but for the class name, same inference), with a
 * fused training step ({@link SoftmaxOutputLayer}): the stock layer computes the logits twice
 * (once for the gradient, once for the score), the softmax twice and a one-hot label matrix;
 * this one computes each once and gets the score from the same softmax.
 *
 * <p>Rebuilt from JSON on Spark workers: keep the no-arg constructor and the getter/setter pair.
 */
public class SoftmaxOutput extends RnnOutputLayer {
  private double labelSmoothing;

  /** For JSON deserialization only. */
  public SoftmaxOutput() {}

  /**
   * @param labelSmoothing ε in [0, 1): the share of the target spread evenly over the vocabulary
   */
  public static SoftmaxOutput of(long nIn, long vocabSize, double labelSmoothing) {
    if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
      throw new IllegalArgumentException(
          "Cannot build softmax output: label smoothing must be in [0, 1): " + labelSmoothing);
    }
    // The stock builder sets every inherited field (and the "inherit from the network" markers);
    // copy them rather than restating DL4J's defaults here.
    RnnOutputLayer stock = new RnnOutputLayer.Builder(new LossSparseMCXENT())
        .activation(Activation.SOFTMAX).nIn(nIn).nOut(vocabSize).dataFormat(RNNFormat.NCW).build();
    SoftmaxOutput out = new SoftmaxOutput();
    out.setLayerName(stock.getLayerName());
    out.setIDropout(stock.getIDropout());
    out.setConstraints(stock.getConstraints());
    out.setActivationFn(stock.getActivationFn());
    out.setWeightInitFn(stock.getWeightInitFn());
    out.setBiasInit(stock.getBiasInit());
    out.setGainInit(stock.getGainInit());
    out.setRegularization(stock.getRegularization());
    out.setRegularizationBias(stock.getRegularizationBias());
    out.setIUpdater(stock.getIUpdater());
    out.setBiasUpdater(stock.getBiasUpdater());
    out.setWeightNoise(stock.getWeightNoise());
    out.setGradientNormalization(stock.getGradientNormalization());
    out.setGradientNormalizationThreshold(stock.getGradientNormalizationThreshold());
    out.setNIn(stock.getNIn());
    out.setNOut(stock.getNOut());
    out.setLossFn(stock.getLossFn());
    out.setHasBias(stock.hasBias());
    out.setRnnDataFormat(stock.getRnnDataFormat());
    out.labelSmoothing = labelSmoothing;
    return out;
  }

  public double getLabelSmoothing() {
    return labelSmoothing;
  }

  public void setLabelSmoothing(double labelSmoothing) {
    this.labelSmoothing = labelSmoothing;
  }

  @Override
  public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners,
      int layerIndex, INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
    SoftmaxOutputLayer layer = new SoftmaxOutputLayer(conf, networkDataType);
    layer.setListeners(listeners);
    layer.setIndex(layerIndex);
    layer.setParamsViewArray(layerParamsView);
    layer.setParamTable(initializer().init(conf, layerParamsView, initializeParams));
    layer.setConf(conf);
    return layer;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SoftmaxOutput s && super.equals(o) && s.labelSmoothing == labelSmoothing;
  }

  @Override
  public int hashCode() {
    return 31 * super.hashCode() + Double.hashCode(labelSmoothing);
  }
}
