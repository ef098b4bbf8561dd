package dev.distillery.model;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.autodiff.samediff.SDIndex;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.Conv1DConfig;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.PaddingMode;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.AddOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One pre-LayerNorm Transformer decoder block (Vaswani et al. 2017, "Attention Is All You Need",
 * with the normalization moved in front of each sub-layer as in GPT-2) as a DL4J SameDiff layer:
 *
 * <pre>
 *   x = x + Wo · concat_h softmax(q_h k_hᵀ / √d + mask) v_h      (q, k, v from LN1(x))
 *   x = x + W2 · gelu(W1 · LN2(x) + b1) + b2                      (W1: hidden → 4·hidden; ND4J's
 *                                                                   sigmoid-approximated GELU)
 *   out = LNf(x)                                                  (only if finalNorm)
 * </pre>
 *
 * <p>Input and output are {@code [batch, hidden, time]} (NCW, like DL4J's recurrent activations);
 * the feature mask {@code [batch, time]} (1 = real token, right-padded) is honoured: a query at
 * position {@code t} attends only to keys {@code s <= t} that are real tokens. Both masks are one
 * additive bias {@code [batch, time, time]} (0 or -1e9) computed from the mask placeholder alone,
 * so the graph has no dependence on a fixed time length and no gradient flows through it.
 * Positions are counted with a {@code cumsum} over a ones array shaped like the mask rather than
 * with {@code sizeAt}/{@code range} (an index graph from those hung training on this ND4J version).
 *
 * <p>If {@code addPositions} (the first block), the block first scales its input (the token
 * embedding) by √hidden and adds the fixed sinusoidal position encoding of Vaswani et al. §3.5,
 * {@code PE[2i] = sin(t / 10000^(2i/hidden))}, {@code PE[2i+1] = cos(...)}. It has no parameters
 * and no maximum length: any time length works, though a model only generalizes to the lengths it
 * was trained on.
 *
 * <p>Every 1×1 projection is a {@code conv1d} with kernel size 1 (weights {@code [1, in, out]}),
 * which maps NCW to NCW without the permute/reshape pairs that would need the dynamic batch and
 * time sizes (measured faster than a permute + reshape + 2-D {@code mmul}); attention runs head by
 * head on channel slices with batched {@code mmul}; layer norm is ND4J's fused op over axis 1. The
 * ops avoided are those whose backprop is missing or wrong here: {@code tensorMmul},
 * {@code matrixBandPart}, {@code gather}/{@code gatherNd}, {@code nn.logSoftmax}. Parameter names
 * have no underscore (DL4J's updater splits {@code layer_param} keys at the last one).
 *
 * <p><b>The 2× gradient of SameDiff layers, and its fix.</b> In deeplearning4j-nn / nd4j-api
 * 1.0.0-M2.1 every {@code SameDiffLayer} (DL4J's own {@code SelfAttentionLayer} included) returns
 * parameter <i>and input</i> gradients exactly twice the true ones, so the layers below it get
 * doubled errors too (2^n after n such layers). Cause: DL4J feeds the incoming error into the
 * layer's graph through an {@code ExternalErrorsFunction}; its {@code doDiff} both registers the error placeholder
 * {@code <output>-grad} as the output's gradient ({@code setGradientForVariableName}) and returns
 * it, and {@code DifferentialFunction.diff} then finds a gradient already registered and adds the
 * returned one to it, building {@code add(<output>-grad, <output>-grad)}. Backprop is linear in the
 * incoming error, so everything below is doubled (printing {@code getFunction("grad").summary()}
 * of any SameDiff layer shows that op). The runtime layer {@link Runtime} detects that
 * exact self-add in the gradient graph once, and if present feeds the graph half the error; if a
 * later version fixes the bug the detection finds nothing and the error passes unchanged.
 * {@code TransformerBlockTest} gradient-checks the block against finite differences, so it fails
 * if either the bug or the compensation goes wrong.
 *
 * <p><b>LoRA</b> (Hu et al. 2021), for online KD: with {@code loraRank = r > 0} the block gains
 * low-rank modules on the query and value projections, {@code q ← q + s·a·Aq·Bq} and
 * {@code v ← v + s·a·Av·Bv} ({@code a} = LN1(x), {@code A*: [1, hidden, r]} Xavier-initialized,
 * {@code B*: [1, r, hidden]} zero-initialized, so a fresh block computes exactly what the base
 * does), and every other parameter is frozen: its updater is {@code NoOp} and the runtime layer
 * zeroes its gradient, so neither Adam, gradient clipping nor a stray update can move it. Errors
 * still flow through the block to the layers below.
 *
 * <p>Rebuilt from JSON on Spark workers: keep the no-arg constructor and a getter/setter pair for
 * every field (DL4J's mapper ignores unknown properties, so a field without a setter silently takes
 * its default).
 */
public class TransformerBlock extends SameDiffLayer implements Freezing {
  /** Added to the attention logits of masked (future or padding) keys: exp underflows to 0. */
  static final double MASKED_LOGIT = -1e9;

  private int hidden;
  private int heads;
  private boolean addPositions;
  private boolean finalNorm;
  private int loraRank;
  private double loraScale = 1.0;

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
  }

  /** The LoRA module parameters (empty without LoRA). */
  public static final List<String> LORA_PARAMS = List.of("Aq", "Bq", "Av", "Bv");

  /** Whether {@code param} is held fixed during training: every base parameter of a LoRA block. */
  @Override
  public boolean isFrozen(String param) {
    return loraRank > 0 && !LORA_PARAMS.contains(param);
  }

  @Override
  public org.nd4j.linalg.learning.config.IUpdater getUpdaterByParam(String paramName) {
    return isFrozen(paramName) ? new org.nd4j.linalg.learning.config.NoOp() : super.getUpdaterByParam(paramName);
  }

  // ---------------------------------------------------------------- parameters

  @Override
  public void defineParameters(SDLayerParams params) {
    params.clear();
    // No '_' in names: DL4J's updater splits "layer_param" gradient keys at the last underscore
    // (an underscore made it look up a layer "block0_ln1" that does not exist).
    long h = hidden;
    params.addBiasParam("ln1g", h);
    params.addBiasParam("ln1b", h);
    // q, k and v projections in one weight: channels [0, h) are q, [h, 2h) k, [2h, 3h) v.
    params.addWeightParam("Wqkv", 1, h, 3 * h);
    params.addBiasParam("bqkv", 3 * h);
    params.addWeightParam("Wo", 1, h, h);
    params.addBiasParam("bo", h);
    params.addBiasParam("ln2g", h);
    params.addBiasParam("ln2b", h);
    params.addWeightParam("W1", 1, h, 4 * h);
    params.addBiasParam("b1", 4 * h);
    params.addWeightParam("W2", 1, 4 * h, h);
    params.addBiasParam("b2", h);
    if (finalNorm) {
      params.addBiasParam("lnfg", h);
      params.addBiasParam("lnfb", h);
    }
    if (loraRank > 0) {
      params.addWeightParam("Aq", 1, h, loraRank);
      params.addWeightParam("Bq", 1, loraRank, h);
      params.addWeightParam("Av", 1, h, loraRank);
      params.addWeightParam("Bv", 1, loraRank, h);
    }
  }

  @Override
  public void initializeParameters(Map<String, INDArray> params) {
    try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      for (Map.Entry<String, INDArray> e : params.entrySet()) {
        String name = e.getKey();
        INDArray p = e.getValue();
        if (name.startsWith("ln") && name.endsWith("g")) {
          p.assign(1); // layer-norm gains start as the identity
        } else if (name.startsWith("W") || name.startsWith("A")) {
          // Xavier on the [1, in, out] conv kernel: fan-in = in, fan-out = out.
          WeightInit.XAVIER.getWeightInitFunction().init(p.size(1), p.size(2), p.shape(), 'c', p);
        } else {
          p.assign(0);
        }
      }
    }
  }

  // ---------------------------------------------------------------- graph

  @Override
  public SDVariable defineLayer(
      SameDiff sd, SDVariable layerInput, Map<String, SDVariable> p, SDVariable mask) {
    DataType dt = layerInput.dataType();
    int d = hidden / heads;
    // mask arrives as the feature mask [batch, time] (or all ones when the batch has none).
    SDVariable m = sd.castTo(mask, dt);
    // 1-based positions [batch, time], built from the mask's shape only (no sizeAt/range).
    SDVariable pos = sd.cumsum(m.mul(0.0).add(1.0), false, false, 1);

    SDVariable x = layerInput;
    if (addPositions) {
      x = x.mul(Math.sqrt(hidden)).add(sinusoid(sd, pos.sub(1.0), dt));
    }

    // Additive attention mask [batch, query, key]: key s is visible to query t iff s <= t and s is real.
    SDVariable causal = sd.castTo(sd.lte(sd.expandDims(pos, 1), sd.expandDims(pos, 2)), dt);
    SDVariable visible = causal.mul(sd.expandDims(m, 1));
    SDVariable maskBias = visible.sub(1.0).mul(-MASKED_LOGIT);

    // --- attention sub-layer
    SDVariable a = layerNorm(sd, x, p.get("ln1g"), p.get("ln1b"));
    SDVariable qkv = project(sd, a, p.get("Wqkv"), p.get("bqkv"));
    SDVariable dq = null, dv = null;
    if (loraRank > 0) {
      dq = project(sd, project(sd, a, p.get("Aq"), null), p.get("Bq"), null).mul(loraScale); // [batch, hidden, time]
      dv = project(sd, project(sd, a, p.get("Av"), null), p.get("Bv"), null).mul(loraScale);
    }
    double scale = 1.0 / Math.sqrt(d);
    List<SDVariable> headOutputs = new ArrayList<>(heads);
    for (int i = 0; i < heads; i++) {
      SDVariable q = channels(qkv, i * d, d);                      // [batch, d, time]
      SDVariable k = channels(qkv, hidden + i * d, d);
      SDVariable v = channels(qkv, 2 * hidden + i * d, d);
      if (loraRank > 0) {
        q = q.add(channels(dq, i * d, d));
        v = v.add(channels(dv, i * d, d));
      }
      q = q.mul(scale);
      SDVariable logits = sd.mmul(q, k, true, false, false).add(maskBias); // [batch, tq, tk]
      SDVariable att = sd.nn.softmax(logits, 2);
      headOutputs.add(sd.mmul(v, att, false, true, false));     // [batch, d, tq]
    }
    SDVariable attended = heads == 1 ? headOutputs.get(0)
        : sd.concat(1, headOutputs.toArray(new SDVariable[0]));
    x = x.add(project(sd, attended, p.get("Wo"), p.get("bo")));

    // --- MLP sub-layer
    SDVariable f = layerNorm(sd, x, p.get("ln2g"), p.get("ln2b"));
    f = sd.nn.gelu(project(sd, f, p.get("W1"), p.get("b1")));
    x = x.add(project(sd, f, p.get("W2"), p.get("b2")));

    if (finalNorm) {
      x = layerNorm(sd, x, p.get("lnfg"), p.get("lnfb"));
    }
    return sd.identity("block_out", x);
  }

  /** A 1×1 convolution: {@code [batch, in, time]} → {@code [batch, out, time]}; {@code b} may be null. */
  static SDVariable project(SameDiff sd, SDVariable x, SDVariable w, SDVariable b) {
    Conv1DConfig c = Conv1DConfig.builder()
        .k(1).s(1).p(0).d(1).dataFormat(Conv1DConfig.NCW).paddingMode(PaddingMode.VALID).build();
    return b == null ? sd.cnn.conv1d(x, w, c) : sd.cnn.conv1d(x, w, b, c);
  }

  /** Channels {@code [from, from + n)} of {@code [batch, channels, time]}. */
  private static SDVariable channels(SDVariable x, int from, int n) {
    return x.get(SDIndex.all(), SDIndex.interval(from, from + n), SDIndex.all());
  }

  /**
   * Layer normalization over the channel axis of {@code [batch, hidden, time]}, gain and bias
   * {@code [hidden]}. ND4J's fused op: its backprop passes the gradient check, and it is faster
   * than the same thing spelled out in mean/sub/rsqrt ops.
   */
  private static SDVariable layerNorm(SameDiff sd, SDVariable x, SDVariable gain, SDVariable bias) {
    return sd.nn.layerNorm(x, gain, bias, true, 1);
  }

  /**
   * Sinusoidal position encoding {@code [batch, hidden, time]} for 0-based positions
   * {@code [batch, time]}: channel {@code c} is {@code sin(t·ω + φ)} with
   * {@code ω = 10000^(-2⌊c/2⌋/hidden)} and {@code φ = 0} (even c) or {@code π/2} (odd c, i.e. cos).
   */
  private SDVariable sinusoid(SameDiff sd, SDVariable positions, DataType dt) {
    double[] freq = new double[hidden];
    double[] phase = new double[hidden];
    for (int c = 0; c < hidden; c++) {
      freq[c] = Math.pow(10000.0, -2.0 * (c / 2) / hidden);
      phase[c] = (c % 2 == 0) ? 0 : Math.PI / 2;
    }
    SDVariable w = sd.constant(Nd4j.create(freq, new long[] {1, hidden, 1}, 'c').castTo(dt));
    SDVariable phi = sd.constant(Nd4j.create(phase, new long[] {1, hidden, 1}, 'c').castTo(dt));
    return sd.math.sin(sd.expandDims(positions, 1).mul(w).add(phi));
  }

  // ---------------------------------------------------------------- DL4J plumbing

  @Override
  public InputType getOutputType(int layerIndex, InputType inputType) {
    if (!(inputType instanceof InputType.InputTypeRecurrent r)) {
      throw new IllegalArgumentException(
          "Cannot infer transformer block output: input is not recurrent: " + inputType);
    }
    return InputType.recurrent(hidden, r.getTimeSeriesLength(), RNNFormat.NCW);
  }

  @Override
  public void validateInput(INDArray input) {
    if (input.rank() != 3 || input.size(1) != hidden) {
      throw new IllegalArgumentException(
          "Cannot run transformer block: expected input [batch, " + hidden + ", time]: "
              + java.util.Arrays.toString(input.shape()));
    }
  }

  @Override
  public Layer instantiate(NeuralNetConfiguration conf, Collection<TrainingListener> listeners,
      int layerIndex, INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
    return Runtime.instantiate(this, conf, listeners, layerIndex, layerParamsView, initializeParams, networkDataType);
  }

  /**
   * DL4J's runtime SameDiff layer, feeding the gradient graph half the incoming error when that
   * graph adds the error placeholder to itself (the M2.1 {@code ExternalErrorsFunction} bug
   * described on {@link TransformerBlock}), and zeroing the gradients of the parameters a
   * {@link Freezing} configuration holds fixed. Also the runtime of {@link VocabLogits}.
   */
  static final class Runtime extends org.deeplearning4j.nn.layers.samediff.SameDiffLayer {
    /** The factor the gradient graph applies to the incoming error; 0 until measured. */
    private int errorMultiplicity;

    Runtime(NeuralNetConfiguration conf, DataType dataType) {
      super(conf, dataType);
    }

    /** As {@code SameDiffLayer.instantiate}, but with this runtime layer; for every layer configuration that uses it. */
    static Runtime instantiate(SameDiffLayer layer, NeuralNetConfiguration conf, Collection<TrainingListener> listeners,
        int layerIndex, INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
      Runtime ret = new Runtime(conf, networkDataType);
      ret.setIndex(layerIndex);
      ret.setParamsViewArray(layerParamsView);
      ret.setParamTable(layer.initializer().init(conf, layerParamsView, initializeParams));
      ret.setConf(conf);
      ret.setListeners(listeners);
      return ret;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
      if (errorMultiplicity == 0) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
          // The same lazy set-up super.backpropGradient does, done first so the graph can be inspected.
          if (sameDiff == null) {
            doInit();
          }
          if (!sameDiff.hasGradientFunction()) {
            sameDiff.createGradFunction(INPUT_KEY);
          }
        }
        errorMultiplicity = errorMultiplicity(sameDiff.getFunction("grad"), fn.getGradPlaceholderName());
      }
      if (errorMultiplicity != 1) {
        epsilon = workspaceMgr.dup(ArrayType.BP_WORKING_MEM, epsilon).divi(errorMultiplicity);
      }
      Pair<Gradient, INDArray> out = super.backpropGradient(epsilon, workspaceMgr);
      if (layerConf() instanceof Freezing f) {
        // The entries are views of the layer's flat gradient: zeroing them zeroes what the updater sees.
        out.getFirst().gradientForVariable().forEach((name, g) -> {
          if (f.isFrozen(name)) {
            g.assign(0);
          }
        });
      }
      return out;
    }

    /**
     * How many times the gradient graph counts the external error: the number of inputs of an
     * {@code add} op whose inputs are all the error placeholder, else 1.
     */
    static int errorMultiplicity(SameDiff gradGraph, String errorPlaceholder) {
      for (SameDiffOp op : gradGraph.getOps().values()) {
        List<String> in = op.getInputsToOp();
        if (op.getOp() instanceof AddOp && in != null && in.size() > 1
            && in.stream().allMatch(errorPlaceholder::equals)) {
          return in.size();
        }
      }
      return 1;
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

  /** Builder in DL4J's style (regularization, updater etc. come from {@link SameDiffLayer.Builder}). */
  public static class Builder extends SameDiffLayer.Builder<Builder> {
    private int hidden;
    private int heads = 1;
    private boolean addPositions;
    private boolean finalNorm;
    private int loraRank;
    private double loraScale = 1.0;

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

    @Override
    @SuppressWarnings("unchecked")
    public TransformerBlock build() {
      return new TransformerBlock(this);
    }
  }
}
