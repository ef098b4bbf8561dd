package dev.distillery.model;

import java.util.Map;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.BaseLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The runtime of a {@link TransformerBlock}: a hand-written forward and backward pass on ND4J ops
 * ({@link BlockMath}). A training forward pass keeps what the backward pass needs (normalized
 * inputs, projections, attention probabilities) in DL4J's {@code INPUT} workspace, which lives until
 * the minibatch's backward pass is done, as DL4J's own batch normalization does; nothing is
 * recomputed and nothing is allocated outside workspaces per step. Not thread-safe (one per model copy).
 */
final class TransformerBlockLayer extends BaseLayer<TransformerBlock> {
  /** What one training forward pass leaves for the backward pass; shapes with N = batch·time, h = hidden. */
  private record Cache(
      INDArray inputSeen, int batch, int time,
      BlockMath.Norm ln1,                      // LN1(x) [N, h]: the projections' input
      INDArray q, INDArray k, INDArray v,      // heads [batch·heads, time, d]
      INDArray loraQ, INDArray loraV,          // LN1(x)·Aq, LN1(x)·Av [N, r] (LoRA only)
      INDArray p,                              // attention probabilities [batch·heads, time, time]
      Dropped dropped,                         // dropout masks (null: none this pass)
      INDArray o,                              // merged head outputs [N, h]
      BlockMath.Norm ln2,                      // LN2(x1) [N, h]: the MLP's input
      INDArray u, INDArray g,                  // u = LN2(x1)·W1 + b1, g = gelu(u) [N, 4h]
      INDArray y,                              // the residual stream after the MLP [N, h]
      BlockMath.Norm lnf) {}

  private Cache cache;

  TransformerBlockLayer(NeuralNetConfiguration conf, DataType dataType) {
    super(conf, dataType);
  }

  @Override
  public Type type() {
    return Type.RECURRENT;
  }

  @Override
  public boolean isPretrainLayer() {
    return false;
  }

  @Override
  public void clearNoiseWeightParams() {}

  @Override
  public void clear() {
    super.clear();
    cache = null;
  }

  @Override
  public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
    assertInputSet(false);
    validate(input);
    if (!training) {
      cache = null;
      Cache c = forward(input, maskArray);
      return workspaceMgr.dup(ArrayType.ACTIVATIONS, output(c), 'c');
    }
    // Everything the forward pass makes lives in the INPUT workspace, open until backprop ends.
    try (MemoryWorkspace ws = workspaceMgr.notifyScopeBorrowed(ArrayType.INPUT)) {
      cache = forward(input, maskArray, true);
    }
    return workspaceMgr.dup(ArrayType.ACTIVATIONS, output(cache), 'c');
  }

  private void validate(INDArray in) {
    if (in.rank() != 3 || in.size(1) != layerConf().getHidden()) {
      throw new IllegalArgumentException(
          "Cannot run transformer block: expected input [batch, " + layerConf().getHidden() + ", time]: "
              + java.util.Arrays.toString(in.shape()));
    }
  }

  /** The block's output {@code [batch, hidden, time]} from the cache's last stage. */
  private INDArray output(Cache c) {
    INDArray rows = c.lnf() != null ? c.lnf().out() : c.y();
    return rows.reshape('c', c.batch(), c.time(), layerConf().getHidden()).permute(0, 2, 1);
  }

  /**
   * Inverted-dropout masks of one training pass (entries 0 or 1/(1-p)): {@code input [N, h]} (first
   * block only, else null), {@code attention [batch·heads, time, time]} with {@code pd} the dropped
   * probabilities, {@code attentionOut} and {@code mlpOut [N, h]} on the residual branches.
   */
  private record Dropped(INDArray input, INDArray attention, INDArray pd, INDArray attentionOut, INDArray mlpOut) {}

  private static INDArray dropMask(DataType type, double p, long... shape) {
    INDArray m = Nd4j.createUninitialized(type, shape);
    Nd4j.getExecutioner().exec(new org.nd4j.linalg.api.ops.random.impl.BernoulliDistribution(m, 1 - p), Nd4j.getRandom());
    return m.muli(1 / (1 - p));
  }

  private Cache forward(INDArray in, INDArray mask) {
    return forward(in, mask, false);
  }

  private Cache forward(INDArray in, INDArray mask, boolean training) {
    TransformerBlock conf = layerConf();
    int b = (int) in.size(0);
    int t = (int) in.size(2);
    int h = conf.getHidden();
    int heads = conf.getHeads();
    int d = h / heads;
    int r = conf.getLoraRank();
    DataType type = in.dataType();
    INDArray x = in.permute(0, 2, 1).dup('c').reshape('c', (long) b * t, h);
    if (conf.isAddPositions()) {
      x.muli(Math.sqrt(h));
      x.reshape('c', b, t, h).addi(BlockMath.positions(t, h, type).reshape('c', 1, t, h));
    }
    double drop = training ? conf.getDropout() : 0;
    INDArray dropIn = drop > 0 && conf.isAddPositions() ? dropMask(type, drop, (long) b * t, h) : null;
    if (dropIn != null) {
      x.muli(dropIn);
    }
    // --- attention
    BlockMath.Norm ln1 = BlockMath.layerNorm(x, param("ln1g"), param("ln1b"));
    INDArray a = ln1.out();
    INDArray qkv = BlockMath.linear(a, param("Wqkv"), param("bqkv"));
    INDArray loraQ = null;
    INDArray loraV = null;
    if (r > 0) {
      INDArray[] low = BlockMath.addLora(qkv, a, param("Aq"), param("Bq"), param("Av"), param("Bv"), conf.getLoraScale());
      loraQ = low[0];
      loraV = low[1];
    }
    INDArray q = BlockMath.heads(qkv, 0, b, t, heads, d);
    INDArray k = BlockMath.heads(qkv, 1, b, t, heads, d);
    INDArray v = BlockMath.heads(qkv, 2, b, t, heads, d);
    INDArray p = BlockMath.attentionProbabilities(q, k, bias(mask, b, t, type), b, heads, 1.0 / Math.sqrt(d));
    INDArray dropA = drop > 0 ? dropMask(type, drop, p.shape()) : null;
    INDArray pd = dropA != null ? p.mul(dropA) : p;
    INDArray o = BlockMath.mergeHeads(Nd4j.matmul(pd, v), b, t, heads, d);
    INDArray attended = BlockMath.linear(o, param("Wo"), param("bo"));
    INDArray dropO = drop > 0 ? dropMask(type, drop, attended.shape()) : null;
    INDArray x1 = (dropO != null ? attended.muli(dropO) : attended).addi(x);
    // --- MLP
    BlockMath.Norm ln2 = BlockMath.layerNorm(x1, param("ln2g"), param("ln2b"));
    INDArray u = BlockMath.linear(ln2.out(), param("W1"), param("b1"));
    INDArray g = BlockMath.gelu(u);
    INDArray mlp = BlockMath.linear(g, param("W2"), param("b2"));
    INDArray dropM = drop > 0 ? dropMask(type, drop, mlp.shape()) : null;
    INDArray y = (dropM != null ? mlp.muli(dropM) : mlp).addi(x1);
    Dropped dropped = drop > 0 ? new Dropped(dropIn, dropA, pd, dropO, dropM) : null;
    BlockMath.Norm lnf = conf.isFinalNorm() ? BlockMath.layerNorm(y, param("lnfg"), param("lnfb")) : null;
    return new Cache(in, b, t, ln1, q, k, v, loraQ, loraV, p, dropped, o, ln2, u, g, y, lnf);
  }

  /**
   * The additive attention bias {@code [batch, 1, time, time]}: the cached causal table plus
   * {@link BlockMath#MASKED_LOGIT} on padding keys (from the feature mask {@code [batch, time]}).
   */
  private static INDArray bias(INDArray mask, int b, int t, DataType type) {
    INDArray causal = BlockMath.causal(t, type).reshape('c', 1, 1, t, t);
    if (mask == null) {
      return causal;
    }
    INDArray keys = mask.castTo(type).sub(1.0).muli(-BlockMath.MASKED_LOGIT).reshape('c', b, 1, 1, t);
    return keys.add(causal);
  }

  @Override
  public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
    assertInputSet(true);
    if (cache == null || cache.inputSeen() != input) {
      // Backprop without a training forward pass on this input (not DL4J's fit path): redo it here.
      cache = forward(input, maskArray);
    }
    TransformerBlock conf = layerConf();
    Cache c = cache;
    int b = c.batch();
    int t = c.time();
    int h = conf.getHidden();
    int heads = conf.getHeads();
    int d = h / heads;
    int r = conf.getLoraRank();
    boolean frozen = r > 0; // LoRA: every base parameter is frozen, its gradient stays zero

    INDArray dy = epsilon.permute(0, 2, 1).dup('c').reshape('c', (long) b * t, h);
    if (c.lnf() != null) {
      dy = BlockMath.layerNormBackward(dy, c.lnf(), param("lnfg"), grad("lnfg", frozen), grad("lnfb", frozen));
    }
    Dropped dropped = c.dropped();
    // --- MLP: y = x1 + (g·W2 + b2)·mask
    INDArray dMlp = dropped != null ? dy.mul(dropped.mlpOut()) : dy;
    INDArray dg = BlockMath.linearBackward(dMlp, c.g(), param("W2"), grad("W2", frozen), grad("b2", frozen), true);
    INDArray du = BlockMath.geluBackward(dg, c.u());
    INDArray dc = BlockMath.linearBackward(du, c.ln2().out(), param("W1"), grad("W1", frozen), grad("b1", frozen), true);
    INDArray dx1 = BlockMath.layerNormBackward(dc, c.ln2(), param("ln2g"), grad("ln2g", frozen), grad("ln2b", frozen))
        .addi(dy);
    // --- attention: x1 = x + (o·Wo + bo)·mask, o from the dropped probabilities
    INDArray dAttended = dropped != null ? dx1.mul(dropped.attentionOut()) : dx1;
    INDArray dO = BlockMath.linearBackward(dAttended, c.o(), param("Wo"), grad("Wo", frozen), grad("bo", frozen), true);
    INDArray dOh = BlockMath.splitHeads(dO, b, t, heads, d);
    INDArray dP = Nd4j.matmul(dOh, c.v(), false, true, false);
    if (dropped != null) {
      dP.muli(dropped.attention());
    }
    INDArray dV = Nd4j.matmul(dropped != null ? dropped.pd() : c.p(), dOh, true, false, false);
    double scale = 1.0 / Math.sqrt(d);
    INDArray dS = BlockMath.softmaxBackward(dP, c.p()).muli(scale);
    INDArray dQ = Nd4j.matmul(dS, c.k());
    INDArray dK = Nd4j.matmul(dS, c.q(), true, false, false);
    INDArray dqkv = Nd4j.createUninitialized(dy.dataType(), (long) b * t, 3L * h);
    BlockMath.putHeads(dqkv, 0, dQ, b, t, heads, d);
    BlockMath.putHeads(dqkv, 1, dK, b, t, heads, d);
    BlockMath.putHeads(dqkv, 2, dV, b, t, heads, d);
    INDArray da = BlockMath.linearBackward(dqkv, c.ln1().out(), param("Wqkv"), grad("Wqkv", frozen), grad("bqkv", frozen), true);
    if (r > 0) {
      double s = conf.getLoraScale();
      da.addi(lora(dqkv.get(all(), interval(0, h)), c.ln1().out(), c.loraQ(), "Aq", "Bq", s));
      da.addi(lora(dqkv.get(all(), interval(2 * h, 3 * h)), c.ln1().out(), c.loraV(), "Av", "Bv", s));
    }
    INDArray dx = BlockMath.layerNormBackward(da, c.ln1(), param("ln1g"), grad("ln1g", frozen), grad("ln1b", frozen))
        .addi(dx1);
    if (dropped != null && dropped.input() != null) {
      dx.muli(dropped.input());
    }
    if (conf.isAddPositions()) {
      dx.muli(Math.sqrt(h));
    }
    Gradient out = new DefaultGradient(gradientsFlattened);
    for (Map.Entry<String, INDArray> e : gradientViews.entrySet()) {
      out.setGradientFor(e.getKey(), e.getValue());
    }
    INDArray epsOut = dx.reshape('c', b, t, h).permute(0, 2, 1);
    cache = null;
    return new Pair<>(out, workspaceMgr.dup(ArrayType.ACTIVATION_GRAD, epsOut, 'c'));
  }

  /**
   * LoRA's backward for one projection {@code δ = s·(a·A)·B} given {@code ∂L/∂δ} ({@code dProj [N, h]}):
   * {@code dB = s·(a·A)ᵀ·dProj}, {@code dA = s·aᵀ·(dProj·Bᵀ)}; returns the part of {@code ∂L/∂a}.
   */
  private INDArray lora(INDArray dProj, INDArray a, INDArray aA, String nameA, String nameB, double s) {
    INDArray dLow = BlockMath.product(dProj, param(nameB), false, true).muli(s); // [N, r]
    Nd4j.gemm(aA, dProj, gradientViews.get(nameB), true, false, s, 0.0);
    Nd4j.gemm(a, dLow, gradientViews.get(nameA), true, false, 1.0, 0.0);
    return BlockMath.product(dLow, param(nameA), false, true);
  }

  private INDArray param(String name) {
    return params.get(name);
  }

  /** The gradient view of {@code name}, or null (after zeroing it) when the parameter is frozen. */
  private INDArray grad(String name, boolean frozen) {
    INDArray g = gradientViews.get(name);
    if (frozen) {
      g.assign(0);
      return null;
    }
    return g;
  }

  private static org.nd4j.linalg.indexing.INDArrayIndex all() {
    return org.nd4j.linalg.indexing.NDArrayIndex.all();
  }

  private static org.nd4j.linalg.indexing.INDArrayIndex interval(long from, long to) {
    return org.nd4j.linalg.indexing.NDArrayIndex.interval(from, to);
  }
}
