package dev.distillery.model;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;

/**
 * One pre-LayerNorm Transformer decoder block (Vaswani et al. 2017, "Attention Is All You Need",
 * with the normalization moved in front of each sub-layer as in GPT-2), as a DL4J layer with a
 * hand-written forward and backward pass ({@link TransformerBlockLayer}, on {@link BlockMath}):
 *
 * <pre>
 *   x = x + concat_h softmax(q_h k_hᵀ / √d + mask) v_h · Wo + bo     (q, k, v = LN1(x)·Wqkv + bqkv)
 *   x = x + gelu(LN2(x)·W1 + b1)·W2 + b2                            (W1: hidden → 4·hidden;
 *                                                                     gelu(u) = u·σ(1.702·u))
 *   out = LNf(x)                                                    (only if finalNorm)
 * </pre>
 *
 * <p>Input and output are {@code [batch, hidden, time]} (NCW, like DL4J's recurrent activations);
 * inside, every position is one row of {@code [batch·time, hidden]}, so each projection is one
 * GEMM over the whole minibatch and attention is one batched GEMM over all (example, head) pairs.
 * The feature mask {@code [batch, time]} (1 = real token, right-padded) is honoured: a query at
 * position {@code t} attends only to keys {@code s <= t} that are real tokens. Layer norm is
 * PyTorch's ({@code ε = 1e-5}, biased variance).
 *
 * <p>If {@code addPositions} (the first block), the block first scales its input (the token
 * embedding) by √hidden and adds the fixed sinusoidal position encoding of Vaswani et al. §3.5.
 * It has no parameters and no maximum length.
 *
 * <p>Parameters ({@code [in, out]} matrices, {@code [1, n]} vectors): {@code ln1g, ln1b, Wqkv
 * [h, 3h], bqkv, Wo [h, h], bo, ln2g, ln2b, W1 [h, 4h], b1, W2 [4h, h], b2}, then {@code lnfg,
 * lnfb} with {@code finalNorm}. Names have no underscore (DL4J's updater splits
 * {@code layer_param} keys at the last one).
 *
 * <p><b>Dropout</b> (inverted, {@code dropout = p}, training only; Vaswani et al. §5.4): the
 * attention probabilities, the output of each sub-layer before it is added to the residual stream
 * and, in the first block, the embedded input with its positions are multiplied by a fresh mask of
 * Bernoulli(1 - p) / (1 - p) entries. Inference and {@code output(false, ...)} never drop.
 *
 * <p><b>LoRA</b> (Hu et al. 2021), for online KD: with {@code loraRank = r > 0} the block gains
 * low-rank modules on the query and value projections, {@code q ← q + s·a·Aq·Bq} and
 * {@code v ← v + s·a·Av·Bv} ({@code a} = LN1(x), {@code A*: [h, r]} Xavier-initialized,
 * {@code B*: [r, h]} zero-initialized, so a fresh block computes exactly what the base does), and
 * every other parameter is frozen: its updater is {@code NoOp} and its gradient is zero (not
 * computed at all), so neither Adam, gradient clipping nor a stray update can move it. Errors
 * still flow through the block to the layers below.
 *
 * <p>Rebuilt from JSON on Spark workers: keep the no-arg constructor and a getter/setter pair for
 * every field (DL4J's mapper ignores unknown properties, so a field without a setter silently takes
 * its default).
 */
public class TransformerBlock extends BaseLayer implements Freezing {
  private int hidden;
  private int heads;
  private boolean addPositions;
  private boolean finalNorm;
  private int loraRank;
  private double loraScale = 1.0;
  private double dropout;

  /** For JSON deserialization only. */
  public TransformerBlock() {}

  protected TransformerBlock(Builder b) {
    super(b);
    if (b.hidden <= 0 || b.heads <= 0 || b.hidden % b.heads != 0) {
      throw new IllegalArgumentException(
          "Cannot build transformer block: heads must be positive and divide hidden: heads="
              + b.heads + ", hidden=" + b.hidden);
    }
    this.hidden = b.hidden;
    this.heads = b.heads;
    this.addPositions = b.addPositions;
    this.finalNorm = b.finalNorm;
    this.loraRank = b.loraRank;
    this.loraScale = b.loraScale;
    if (!(b.dropout >= 0 && b.dropout < 1)) {
      throw new IllegalArgumentException("Cannot build transformer block: dropout must be in [0, 1): " + b.dropout);
    }
    this.dropout = b.dropout;
  }

  /** Layer norm's ε (PyTorch's default); variance is biased. */
  public static final double LAYER_NORM_EPSILON = BlockMath.LN_EPS;
  /** The feed-forward activation is {@code u·σ(GELU_SCALE·u)}, the sigmoid approximation of GELU. */
  public static final double GELU_SCALE = BlockMath.GELU_K;
  /** The attention logit of a key a query may not see (finite, so a row of only such keys stays uniform, not NaN). */
  public static final double MASKED_LOGIT = BlockMath.MASKED_LOGIT;

  /**
   * ω_c of the sinusoidal position encoding: channel {@code c} of position {@code t} is
   * {@code sin(t·ω_c + φ_c)} with {@code ω_c = 10000^(−2⌊c/2⌋/hidden)}.
   */
  public static double positionFrequency(int c, int hidden) {
    return Math.pow(10000.0, -2.0 * (c / 2) / hidden);
  }

  /** φ_c of the sinusoidal position encoding: 0 for even channels, π/2 (a cosine) for odd ones. */
  public static double positionPhase(int c) {
    return c % 2 == 0 ? 0 : Math.PI / 2;
  }

  /** The LoRA module parameters (empty without LoRA). */
  public static final List<String> LORA_PARAMS = List.of("Aq", "Bq", "Av", "Bv");

  /** Whether {@code param} is held fixed during training: every base parameter of a LoRA block. */
  @Override
  public boolean isFrozen(String param) {
    return loraRank > 0 && !LORA_PARAMS.contains(param);
  }

  @Override
  public IUpdater getUpdaterByParam(String paramName) {
    return isFrozen(paramName) ? new NoOp() : super.getUpdaterByParam(paramName);
  }

  /** Parameter names and shapes, in the order of the layer's flat parameter vector. */
  Map<String, long[]> parameterShapes() {
    long h = hidden;
    Map<String, long[]> p = new LinkedHashMap<>();
    p.put("ln1g", new long[] {1, h});
    p.put("ln1b", new long[] {1, h});
    // q, k and v projections in one weight: columns [0, h) are q, [h, 2h) k, [2h, 3h) v.
    p.put("Wqkv", new long[] {h, 3 * h});
    p.put("bqkv", new long[] {1, 3 * h});
    p.put("Wo", new long[] {h, h});
    p.put("bo", new long[] {1, h});
    p.put("ln2g", new long[] {1, h});
    p.put("ln2b", new long[] {1, h});
    p.put("W1", new long[] {h, 4 * h});
    p.put("b1", new long[] {1, 4 * h});
    p.put("W2", new long[] {4 * h, h});
    p.put("b2", new long[] {1, h});
    if (finalNorm) {
      p.put("lnfg", new long[] {1, h});
      p.put("lnfb", new long[] {1, h});
    }
    if (loraRank > 0) {
      p.put("Aq", new long[] {h, loraRank});
      p.put("Bq", new long[] {loraRank, h});
      p.put("Av", new long[] {h, loraRank});
      p.put("Bv", new long[] {loraRank, h});
    }
    return p;
  }

  /** Matrices (weight decay applies) as opposed to biases and layer-norm gains. */
  static boolean isMatrix(String param) {
    return param.startsWith("W") || param.startsWith("A") || param.startsWith("B");
  }

  @Override
  public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners,
      int layerIndex, INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
    TransformerBlockLayer layer = new TransformerBlockLayer(conf, networkDataType);
    layer.setListeners(listeners);
    layer.setIndex(layerIndex);
    layer.setParamsViewArray(layerParamsView);
    layer.setParamTable(initializer().init(conf, layerParamsView, initializeParams));
    layer.setConf(conf);
    return layer;
  }

  @Override
  public ParamInitializer initializer() {
    return Params.INSTANCE;
  }

  @Override
  public InputType getOutputType(int layerIndex, InputType inputType) {
    if (!(inputType instanceof InputType.InputTypeRecurrent r)) {
      throw new IllegalArgumentException(
          "Cannot infer transformer block output: input is not recurrent: " + inputType);
    }
    return InputType.recurrent(hidden, r.getTimeSeriesLength(), RNNFormat.NCW);
  }

  @Override
  public void setNIn(InputType inputType, boolean override) {
    // The width is fixed by hidden.
  }

  @Override
  public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
    return null;
  }

  @Override
  public boolean isPretrainParam(String paramName) {
    return false;
  }

  @Override
  public LayerMemoryReport getMemoryReport(InputType inputType) {
    return new LayerMemoryReport();
  }

  /**
   * The flat parameter (and gradient) vector cut into the named {@code 'c'}-order views of
   * {@link #parameterShapes()}; initialization: layer-norm gains 1, matrices Xavier, the rest 0.
   */
  static final class Params implements ParamInitializer {
    static final Params INSTANCE = new Params();

    private static TransformerBlock block(org.deeplearning4j.nn.conf.layers.Layer l) {
      return (TransformerBlock) l;
    }

    @Override
    public long numParams(NeuralNetConfiguration conf) {
      return numParams(conf.getLayer());
    }

    @Override
    public long numParams(org.deeplearning4j.nn.conf.layers.Layer layer) {
      long n = 0;
      for (long[] s : block(layer).parameterShapes().values()) {
        n += s[0] * s[1];
      }
      return n;
    }

    @Override
    public List<String> paramKeys(org.deeplearning4j.nn.conf.layers.Layer layer) {
      return new ArrayList<>(block(layer).parameterShapes().keySet());
    }

    @Override
    public List<String> weightKeys(org.deeplearning4j.nn.conf.layers.Layer layer) {
      return paramKeys(layer).stream().filter(TransformerBlock::isMatrix).toList();
    }

    @Override
    public List<String> biasKeys(org.deeplearning4j.nn.conf.layers.Layer layer) {
      return paramKeys(layer).stream().filter(p -> !isMatrix(p)).toList();
    }

    @Override
    public boolean isWeightParam(org.deeplearning4j.nn.conf.layers.Layer layer, String key) {
      return isMatrix(key);
    }

    @Override
    public boolean isBiasParam(org.deeplearning4j.nn.conf.layers.Layer layer, String key) {
      return !isMatrix(key);
    }

    @Override
    public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray view, boolean initialize) {
      Map<String, INDArray> params = views(block(conf.getLayer()), view);
      if (initialize) {
        params.forEach((name, p) -> {
          if (name.startsWith("ln") && name.endsWith("g")) {
            p.assign(1); // layer-norm gains start as the identity
          } else if (name.startsWith("W") || name.startsWith("A")) {
            WeightInit.XAVIER.getWeightInitFunction().init(p.size(0), p.size(1), p.shape(), 'c', p);
          } else {
            p.assign(0); // biases, and LoRA's B: a fresh LoRA block computes what its base does
          }
        });
      }
      return params;
    }

    @Override
    public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradients) {
      return views(block(conf.getLayer()), gradients);
    }

    private static Map<String, INDArray> views(TransformerBlock b, INDArray flat) {
      INDArray row = flat.reshape(flat.length());
      Map<String, INDArray> out = new LinkedHashMap<>();
      long offset = 0;
      for (Map.Entry<String, long[]> e : b.parameterShapes().entrySet()) {
        long n = e.getValue()[0] * e.getValue()[1];
        out.put(e.getKey(), row.get(NDArrayIndex.interval(offset, offset + n)).reshape('c', e.getValue()));
        offset += n;
      }
      return out;
    }
  }

  // ---------------------------------------------------------------- bean accessors (JSON)

  public int getHidden() {
    return hidden;
  }

  public void setHidden(int hidden) {
    this.hidden = hidden;
  }

  public int getHeads() {
    return heads;
  }

  public void setHeads(int heads) {
    this.heads = heads;
  }

  public boolean isAddPositions() {
    return addPositions;
  }

  public void setAddPositions(boolean addPositions) {
    this.addPositions = addPositions;
  }

  public int getLoraRank() {
    return loraRank;
  }

  public void setLoraRank(int loraRank) {
    this.loraRank = loraRank;
  }

  public double getLoraScale() {
    return loraScale;
  }

  public void setLoraScale(double loraScale) {
    this.loraScale = loraScale;
  }

  public double getDropout() {
    return dropout;
  }

  public void setDropout(double dropout) {
    this.dropout = dropout;
  }

  public boolean isFinalNorm() {
    return finalNorm;
  }

  public void setFinalNorm(boolean finalNorm) {
    this.finalNorm = finalNorm;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TransformerBlock t && super.equals(o) && hidden == t.hidden
        && heads == t.heads && addPositions == t.addPositions && finalNorm == t.finalNorm
        && loraRank == t.loraRank && loraScale == t.loraScale;
  }

  @Override
  public int hashCode() {
    return Objects.hash(super.hashCode(), hidden, heads, addPositions, finalNorm, loraRank, loraScale);
  }

  /** Builder in DL4J's style (regularization, updater etc. come from {@link BaseLayer.Builder}). */
  public static class Builder extends BaseLayer.Builder<Builder> {
    private int hidden;
    private int heads = 1;
    private boolean addPositions;
    private boolean finalNorm;
    private int loraRank;
    private double loraScale = 1.0;
    private double dropout;

    /** Width of the residual stream: input and output are {@code [batch, hidden, time]}. */
    public Builder hidden(int hidden) {
      this.hidden = hidden;
      return this;
    }

    /** Number of attention heads; must divide {@code hidden}. */
    public Builder heads(int heads) {
      this.heads = heads;
      return this;
    }

    /** Scale the input by √hidden and add sinusoidal positions first (set on the first block). */
    public Builder addPositions(boolean addPositions) {
      this.addPositions = addPositions;
      return this;
    }

    /** Apply a final layer norm to the output (set on the last block, before the softmax). */
    public Builder finalNorm(boolean finalNorm) {
      this.finalNorm = finalNorm;
      return this;
    }

    /** LoRA modules of this rank on the query and value projections, base frozen (0 = none). */
    public Builder lora(int rank, double scale) {
      this.loraRank = rank;
      this.loraScale = scale;
      return this;
    }

    /**
     * Inverted dropout with this probability during training only (0 = none), on the attention
     * probabilities, on both residual branches and, in the first block, on the embedded input.
     */
    public Builder dropout(double dropout) {
      this.dropout = dropout;
      return this;
    }

    @Override
    @SuppressWarnings("unchecked")
    public TransformerBlock build() {
      return new TransformerBlock(this);
    }
  }
}
