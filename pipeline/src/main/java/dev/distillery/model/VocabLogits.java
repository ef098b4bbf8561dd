package dev.distillery.model;

import java.util.Collection;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;

/**
 * Next-token logits as a hidden (non-output) layer: {@code [batch, in, time]} →
 * {@code [batch, vocab, time]}, {@code z = Wᵀ·x + b} at every position, with {@code W: [1, in, vocab]}
 * and {@code b: [vocab]}. An output layer ({@code RnnOutputLayer}) holds the same map as
 * {@code W: [in, vocab]}, {@code b: [1, vocab]}; online KD needs the logits of two models inside one
 * graph, ahead of a loss that sees both, so their projections are this layer instead. With
 * {@code frozen} (the teacher's) its parameters never train (see {@link SameDiffLayers}) while errors still flow to the layers below.
 */
public class VocabLogits extends SameDiffLayer implements Freezing {
  private int width;
  private int vocab;
  private boolean frozen;

  /** For JSON deserialization only. */
  public VocabLogits() {}

  public VocabLogits(int width, int vocab, boolean frozen) {
    this.width = width;
    this.vocab = vocab;
    this.frozen = frozen;
  }

  @Override
  public boolean isFrozen(String param) {
    return frozen;
  }

  @Override
  public IUpdater getUpdaterByParam(String paramName) {
    return frozen ? new NoOp() : super.getUpdaterByParam(paramName);
  }

  @Override
  public void defineParameters(SDLayerParams params) {
    params.clear();
    params.addWeightParam("W", 1, width, vocab);
    params.addBiasParam("b", vocab);
  }

  @Override
  public void initializeParameters(Map<String, INDArray> params) {
    try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      WeightInit.XAVIER.getWeightInitFunction().init(width, vocab, params.get("W").shape(), 'c', params.get("W"));
      params.get("b").assign(0);
    }
  }

  @Override
  public SDVariable defineLayer(SameDiff sd, SDVariable layerInput, Map<String, SDVariable> p, SDVariable mask) {
    return sd.identity("logits", SameDiffLayers.project(sd, layerInput, p.get("W"), p.get("b")));
  }

  @Override
  public InputType getOutputType(int layerIndex, InputType inputType) {
    if (!(inputType instanceof InputType.InputTypeRecurrent r)) {
      throw new IllegalArgumentException("Cannot infer logits output: input is not recurrent: " + inputType);
    }
    return InputType.recurrent(vocab, r.getTimeSeriesLength(), RNNFormat.NCW);
  }

  @Override
  public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners,
      int layerIndex, INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
    return SameDiffLayers.Runtime.instantiate(this, conf, listeners, layerIndex, layerParamsView, initializeParams,
        networkDataType);
  }

  public int getWidth() {
    return width;
  }

  public void setWidth(int width) {
    this.width = width;
  }

  public int getVocab() {
    return vocab;
  }

  public void setVocab(int vocab) {
    this.vocab = vocab;
  }

  public boolean isFrozen() {
    return frozen;
  }

  public void setFrozen(boolean frozen) {
    this.frozen = frozen;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof VocabLogits v && super.equals(o) && width == v.width && vocab == v.vocab && frozen == v.frozen;
  }

  @Override
  public int hashCode() {
    return Objects.hash(super.hashCode(), width, vocab, frozen);
  }
}
