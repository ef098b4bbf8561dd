package dev.distillery.model;

import java.util.concurrent.ConcurrentHashMap;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The Transformer block's pieces as plain ND4J ops on row-major activations {@code [rows, width]}
 * (one row per position), forward and backward, shared by the training layer
 * ({@link TransformerBlockLayer}) and the cached decoder ({@code decode.KvCacheStepper}), so the
 * two compute the same numbers. Every matrix product is one large GEMM over all positions of the
 * minibatch, or one batched GEMM over all (example, head) pairs for attention.
 */
final class BlockMath {
  /** Layer-norm epsilon, as PyTorch's {@code nn.LayerNorm} default. */
  static final double LN_EPS = 1e-5;
  /** Added to the attention logits of masked (future or padding) keys: exp underflows to 0. */
  static final double MASKED_LOGIT = -1e9;
  /** The sigmoid approximation of GELU (Hendrycks and Gimpel 2016): {@code gelu(u) = u·σ(1.702·u)}. */
  static final double GELU_K = 1.702;

  private BlockMath() {}

  /** A layer norm's output and what its backward pass needs. */
  record Norm(INDArray out, INDArray xhat, INDArray rstd) {}

  /** {@code out = g ⊙ (x − mean) / sqrt(var + ε) + b} over the last axis of {@code x: [rows, width]}; g, b {@code [1, width]}. */
  static Norm layerNorm(INDArray x, INDArray g, INDArray b) {
    INDArray mu = x.mean(true, 1);
    INDArray xc = x.subColumnVector(mu);
    INDArray var = xc.mul(xc).mean(true, 1);
    INDArray rstd = Transforms.pow(var.addi(LN_EPS), -0.5, false);
    INDArray xhat = xc.muliColumnVector(rstd);
    INDArray out = xhat.mulRowVector(g).addiRowVector(b);
    return new Norm(out, xhat, rstd);
  }

  /**
   * The backward pass of {@link #layerNorm}: writes {@code ∂L/∂g} and {@code ∂L/∂b} into
   * {@code dg}, {@code db} (either may be null: not wanted) and returns {@code ∂L/∂x}.
   */
  static INDArray layerNormBackward(INDArray dy, Norm n, INDArray g, INDArray dg, INDArray db) {
    if (dg != null) {
      dg.assign(dy.mul(n.xhat()).sum(true, 0));
    }
    if (db != null) {
      db.assign(dy.sum(true, 0));
    }
    INDArray dxhat = dy.mulRowVector(g);
    INDArray meanD = dxhat.mean(true, 1);
    INDArray meanDx = dxhat.mul(n.xhat()).mean(true, 1);
    // dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat ⊙ xhat))
    return dxhat.subiColumnVector(meanD).subi(n.xhat().mulColumnVector(meanDx)).muliColumnVector(n.rstd());
  }

  /** {@code x·W + b}: x {@code [rows, in]}, W {@code [in, out]}, b {@code [1, out]} or null. */
  static INDArray linear(INDArray x, INDArray w, INDArray b) {
    INDArray y = product(x, w, false, false);
    return b == null ? y : y.addiRowVector(b);
  }

  /**
   * {@code op(a)·op(b)} into a fresh {@code 'c'} array. ND4J's {@code mmul} allocates an
   * {@code 'f'} result and converts it; GEMM into a row-major result was about 2.5× faster at the
   * block's shapes (measured on this machine, one thread).
   */
  static INDArray product(INDArray a, INDArray b, boolean transposeA, boolean transposeB) {
    long rows = transposeA ? a.size(1) : a.size(0);
    long cols = transposeB ? b.size(0) : b.size(1);
    INDArray c = Nd4j.createUninitialized(a.dataType(), new long[] {rows, cols}, 'c');
    return Nd4j.gemm(a, b, c, transposeA, transposeB, 1.0, 0.0);
  }

  /**
   * The backward pass of {@link #linear}: {@code dW ← xᵀ·dy}, {@code db ← Σ_rows dy} (either null: not
   * wanted), returns {@code dy·Wᵀ} (or null if {@code wantInput} is false).
   */
  static INDArray linearBackward(INDArray dy, INDArray x, INDArray w, INDArray dw, INDArray db, boolean wantInput) {
    if (dw != null) {
      Nd4j.gemm(x, dy, dw, true, false, 1.0, 0.0);
    }
    if (db != null) {
      db.assign(dy.sum(true, 0));
    }
    return wantInput ? product(dy, w, false, true) : null;
  }

  /**
   * Adds LoRA's low-rank updates to the query and value parts of fused projections
   * {@code qkv [rows, 3·hidden]} (in place): {@code q += s·(a·Aq)·Bq}, {@code v += s·(a·Av)·Bv}.
   *
   * @return {@code a·Aq} and {@code a·Av} ({@code [rows, r]}), which the backward pass needs
   */
  static INDArray[] addLora(INDArray qkv, INDArray a, INDArray aq, INDArray bq, INDArray av, INDArray bv,
      double scale) {
    long h = a.size(1);
    INDArray lowQ = product(a, aq, false, false);
    INDArray lowV = product(a, av, false, false);
    qkv.get(NDArrayIndex.all(), NDArrayIndex.interval(0, h)).addi(product(lowQ, bq, false, false).muli(scale));
    qkv.get(NDArrayIndex.all(), NDArrayIndex.interval(2 * h, 3 * h)).addi(product(lowV, bv, false, false).muli(scale));
    return new INDArray[] {lowQ, lowV};
  }

  /** Natural-log softmax over axis 1 (the vocabulary) of logits, stable: {@code z − max − log Σ exp(z − max)}. */
  static INDArray logSoftmax(INDArray z) {
    INDArray shifted = z.sub(z.max(true, 1));
    INDArray lse = Transforms.log(Transforms.exp(shifted, true).sum(true, 1), false);
    return shifted.subi(lse);
  }

  /** {@code u·σ(1.702·u)}, elementwise. */
  static INDArray gelu(INDArray u) {
    return Transforms.sigmoid(u.mul(GELU_K), false).muli(u);
  }

  /** {@code ∂L/∂u} from {@code ∂L/∂gelu(u)}: {@code d·(s + 1.702·u·s·(1 − s))}, {@code s = σ(1.702·u)}. */
  static INDArray geluBackward(INDArray d, INDArray u) {
    INDArray s = Transforms.sigmoid(u.mul(GELU_K), false);
    INDArray ds = s.rsub(1.0).muli(s).muli(u).muli(GELU_K).addi(s);
    return ds.muli(d);
  }

  /**
   * Part {@code part} (0 = q, 1 = k, 2 = v) of fused projections {@code [batch·time, 3·hidden]} as
   * heads {@code [batch·heads, time, d]} (one copy).
   */
  static INDArray heads(INDArray qkv, int part, int batch, int time, int heads, int d) {
    INDArray five = qkv.reshape('c', batch, time, 3, heads, d);
    INDArray p = five.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(part),
        NDArrayIndex.all(), NDArrayIndex.all());
    return p.permute(0, 2, 1, 3).dup('c').reshape('c', (long) batch * heads, time, d);
  }

  /** {@code [batch·time, heads·d]} → {@code [batch·heads, time, d]} (one copy). */
  static INDArray splitHeads(INDArray rows, int batch, int time, int heads, int d) {
    return rows.reshape('c', batch, time, heads, d).permute(0, 2, 1, 3).dup('c').reshape('c', (long) batch * heads, time, d);
  }

  /** {@code [batch·heads, time, d]} → {@code [batch·time, heads·d]} (one copy). */
  static INDArray mergeHeads(INDArray h, int batch, int time, int heads, int d) {
    return h.reshape('c', batch, heads, time, d).permute(0, 2, 1, 3).dup('c').reshape('c', (long) batch * time, (long) heads * d);
  }

  /** Writes heads {@code [batch·heads, time, d]} into part {@code part} of {@code dqkv [batch·time, 3·hidden]}. */
  static void putHeads(INDArray dqkv, int part, INDArray h, int batch, int time, int heads, int d) {
    INDArray five = dqkv.reshape('c', batch, time, 3, heads, d);
    five.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(part), NDArrayIndex.all(), NDArrayIndex.all())
        .assign(h.reshape('c', batch, heads, time, d).permute(0, 2, 1, 3));
  }

  /**
   * Attention probabilities {@code softmax(Q·Kᵀ·scale + bias)}: Q {@code [batch·heads, tq, d]},
   * K {@code [batch·heads, tk, d]}, bias broadcastable to {@code [batch, heads, tq, tk]} (0 or
   * {@link #MASKED_LOGIT}); returns {@code [batch·heads, tq, tk]}.
   */
  static INDArray attentionProbabilities(INDArray q, INDArray k, INDArray bias, int batch, int heads, double scale) {
    INDArray s = Nd4j.matmul(q, k, false, true, false).muli(scale);
    long tq = s.size(1);
    long tk = s.size(2);
    s.reshape('c', batch, heads, tq, tk).addi(bias);
    Nd4j.exec(new SoftMax(s, s, 2));
    return s;
  }

  /** {@code ∂L/∂S} of the attention logits from {@code ∂L/∂P}: {@code P ⊙ (dP − Σ_k dP ⊙ P)}. */
  static INDArray softmaxBackward(INDArray dp, INDArray p) {
    INDArray dot = dp.mul(p).sum(true, 2);
    return dp.subi(dot).muli(p);
  }

  private static final ConcurrentHashMap<String, INDArray> TABLES = new ConcurrentHashMap<>();

  /**
   * Sinusoidal position encodings (Vaswani et al. §3.5) {@code [time, hidden]} for positions
   * {@code 0 … time−1}: channel {@code c} is {@code sin(t·ω_c + φ_c)} with
   * {@code ω_c = 10000^(−2⌊c/2⌋/hidden)} and {@code φ_c = 0} (even c) or {@code π/2} (odd c). A view
   * of a table kept per width and type, grown in powers of two, never rebuilt per call.
   */
  static INDArray positions(int time, int hidden, DataType type) {
    INDArray t = table(hidden + "/" + type, time, type, n -> {
      double[] v = new double[n * hidden];
      for (int p = 0; p < n; p++) {
        for (int c = 0; c < hidden; c++) {
          v[p * hidden + c] = Math.sin(p * TransformerBlock.positionFrequency(c, hidden) + TransformerBlock.positionPhase(c));
        }
      }
      return Nd4j.create(v, new long[] {n, hidden}, 'c');
    });
    return t.get(NDArrayIndex.interval(0, time), NDArrayIndex.all());
  }

  /**
   * The table under {@code key} with at least {@code time} rows, built outside workspaces by
   * {@code build(rows)} (rows a power of two, at least 64) when missing or too short.
   */
  private static INDArray table(String key, int time, DataType type, java.util.function.IntFunction<INDArray> build) {
    INDArray t = TABLES.get(key);
    if (t == null || t.size(0) < time) {
      int n = Integer.highestOneBit(Math.max(time, 64) - 1) << 1;
      try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
        t = build.apply(n).castTo(type);
      }
      TABLES.put(key, t);
    }
    return t;
  }

  /** The rows {@code rows} of the position table, {@code [rows.length, hidden]}. */
  static INDArray positionRows(int[] rows, int hidden, DataType type) {
    int max = 0;
    for (int r : rows) {
      max = Math.max(max, r);
    }
    INDArray table = positions(max + 1, hidden, type);
    return Nd4j.pullRows(table, 1, rows);
  }

  /**
   * The causal part of the attention bias {@code [time, time]}: 0 where key ≤ query, else
   * {@link #MASKED_LOGIT}. A view of a table kept per type, never rebuilt per call.
   */
  static INDArray causal(int time, DataType type) {
    INDArray t = table("causal/" + type, time, type, n -> {
      double[] v = new double[n * n];
      for (int q = 0; q < n; q++) {
        for (int k = q + 1; k < n; k++) {
          v[q * n + k] = MASKED_LOGIT;
        }
      }
      return Nd4j.create(v, new long[] {n, n}, 'c');
    });
    return t.get(NDArrayIndex.interval(0, time), NDArrayIndex.interval(0, time));
  }
}
