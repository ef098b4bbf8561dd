package dev.distillery.model;

import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.shape.Gather;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Incremental decoding of a Distillery transformer with a key/value cache: every new token costs
 * one position per layer (its query against the cached keys and values), and the vocabulary
 * projection and log-softmax run for the last position only. Computes what the graph computes, with
 * the same {@link BlockMath} pieces, from the graph's own parameters (LoRA modules included).
 *
 * <p>Rows are left-aligned to a common column: prompts of different lengths are right-aligned
 * (padding columns first, masked as keys), so every step writes one column for all rows, and a
 * row's positions count from its first real token, as in training. Rows can be reordered or
 * repeated between steps (beam search): the cache rows follow their parents. Not thread-safe.
 */
public final class KvCache {
  private final int hidden;
  private final int heads;
  private final int d;
  private final DataType type;
  private final INDArray embedding;                // [vocab, hidden]
  private final INDArray embeddingBias;            // [1, hidden] or null
  private final List<Layer> blocks = new ArrayList<>();
  private final INDArray outW;                     // [hidden, vocab]
  private final INDArray outB;                     // [1, vocab]

  private int rows;
  private int filled;                              // columns written, the same for every row
  private int[] nextPosition;                      // per row: the position its next token takes
  private boolean[][] padding;                     // [rows][columns]: key columns that are prompt padding
  private INDArray[] keys;                         // per block [rows, heads, capacity, d]
  private INDArray[] values;

  /** The cache of a transformer {@link LanguageModel}'s graph (it reads the parameters live, so do not train meanwhile). */
  public KvCache(LanguageModel model) {
    if (!(model.architecture() instanceof TransformerArchitecture)) {
      throw new IllegalArgumentException("Cannot decode with a key/value cache: not a transformer: "
          + model.shape().architecture());
    }
    ComputationGraph g = model.graph();
    Layer embed = g.getLayer("embed");
    embedding = embed.getParam("W");
    embeddingBias = embed.paramTable().containsKey("b") ? embed.getParam("b") : null;
    for (int i = 0; i < model.shape().layers(); i++) {
      blocks.add(g.getLayer("block" + i));
    }
    TransformerBlock first = conf(blocks.get(0));
    hidden = first.getHidden();
    heads = first.getHeads();
    d = hidden / heads;
    Layer out = g.getLayer(Architecture.OUTPUT);
    outW = out.getParam("W");
    outB = out.getParam("b");
    type = outW.dataType();
  }

  private static TransformerBlock conf(Layer l) {
    return (TransformerBlock) l.conf().getLayer();
  }

  /**
   * Starts from the prompts (lengths may differ).
   *
   * @return natural-log next-token probabilities {@code [rows][vocab]}
   */
  public float[][] start(List<int[]> prompts) {
    rows = prompts.size();
    int p = 0;
    for (int[] r : prompts) {
      p = Math.max(p, r.length);
    }
    int capacity = Math.max(16, 2 * p);
    keys = new INDArray[blocks.size()];
    values = new INDArray[blocks.size()];
    for (int l = 0; l < blocks.size(); l++) {
      keys[l] = Nd4j.zeros(type, rows, heads, capacity, d);
      values[l] = Nd4j.zeros(type, rows, heads, capacity, d);
    }
    padding = new boolean[rows][];
    nextPosition = new int[rows];
    int[] tokens = new int[rows * p];
    int[] positions = new int[rows * p];
    for (int i = 0; i < rows; i++) {
      int[] r = prompts.get(i);
      int pad = p - r.length;
      padding[i] = new boolean[p];
      for (int c = 0; c < p; c++) {
        boolean real = c >= pad;
        tokens[i * p + c] = real ? r[c - pad] : 0;
        positions[i * p + c] = real ? c - pad : 0;
        padding[i][c] = !real;
      }
      nextPosition[i] = r.length;
    }
    filled = 0;
    return forward(tokens, positions, p);
  }

  /**
   * Row {@code i} continues the row that was {@code parents[i]}, extended by {@code tokens[i]}.
   *
   * @return natural-log next-token probabilities {@code [parents.length][vocab]}
   */
  public float[][] step(int[] parents, int[] tokens) {
    reorder(parents);
    int[] positions = new int[rows];
    for (int i = 0; i < rows; i++) {
      positions[i] = nextPosition[i]++;
    }
    return forward(tokens, positions, 1);
  }

  /** Cache rows follow their parents; nothing is copied when every row keeps its own. */
  private void reorder(int[] parents) {
    boolean identity = parents.length == rows;
    for (int i = 0; identity && i < parents.length; i++) {
      identity = parents[i] == i;
    }
    if (identity) {
      return;
    }
    int[] pos = new int[parents.length];
    for (int i = 0; i < parents.length; i++) {
      pos[i] = nextPosition[parents[i]];
    }
    nextPosition = pos;
    boolean[][] pad = new boolean[parents.length][];
    for (int i = 0; i < parents.length; i++) {
      pad[i] = padding[parents[i]];
    }
    padding = pad;
    for (int l = 0; l < blocks.size(); l++) {
      keys[l] = pullRows(keys[l], parents);
      values[l] = pullRows(values[l], parents);
    }
    rows = parents.length;
  }

  /**
   * Rows {@code parents} of {@code [rows, heads, capacity, d]}: one gather (a copy per row, several
   * times faster than pullRows here). With a single index ND4J's gather treats it as a scalar and
   * drops the row axis (its output then overran the buffer it was given), so one row goes through
   * pullRows on the flattened rows instead.
   */
  private static INDArray pullRows(INDArray cache, int[] parents) {
    long[] s = cache.shape();
    if (parents.length == 1) {
      INDArray flat = cache.reshape('c', s[0], s[1] * s[2] * s[3]);
      return Nd4j.pullRows(flat, 1, parents).reshape('c', 1, s[1], s[2], s[3]);
    }
    return Nd4j.exec(new Gather(cache, parents, 0))[0];
  }

  /** Doubles the cache capacity until {@code columns} fit. */
  private void ensureCapacity(int columns) {
    long capacity = keys[0].size(2);
    if (columns <= capacity) {
      return;
    }
    long grown = capacity;
    while (grown < columns) {
      grown *= 2;
    }
    for (int l = 0; l < blocks.size(); l++) {
      keys[l] = grow(keys[l], grown);
      values[l] = grow(values[l], grown);
    }
  }

  private INDArray grow(INDArray cache, long capacity) {
    INDArray g = Nd4j.zeros(type, cache.size(0), heads, capacity, d);
    g.get(all(), all(), NDArrayIndex.interval(0, cache.size(2)), all()).assign(cache);
    return g;
  }

  /**
   * Runs {@code n} new columns per row through every block, appending their keys and values.
   *
   * @param tokens {@code [rows·n]} ids, row-major
   * @param positions {@code [rows·n]} each token's position in its row
   */
  private float[][] forward(int[] tokens, int[] positions, int n) {
    ensureCapacity(filled + n);
    int c0 = filled;
    int tk = c0 + n;
    INDArray x = Nd4j.pullRows(embedding, 1, tokens);                // [rows·n, hidden]
    if (embeddingBias != null) {
      x.addiRowVector(embeddingBias);
    }
    // Attention runs over the whole capacity (no copy of the filled part); the bias hides
    // columns not yet written, prompt padding, and within the chunk the future.
    int capacity = (int) keys[0].size(2);
    INDArray bias = bias(c0, n, capacity).reshape('c', rows, 1, n, capacity);
    double scale = 1.0 / Math.sqrt(d);
    for (int l = 0; l < blocks.size(); l++) {
      Layer block = blocks.get(l);
      TransformerBlock conf = conf(block);
      if (conf.isAddPositions()) {
        x.muli(Math.sqrt(hidden)).addi(BlockMath.positionRows(positions, hidden, type));
      }
      INDArray a = BlockMath.layerNorm(x, block.getParam("ln1g"), block.getParam("ln1b")).out();
      INDArray qkv = BlockMath.linear(a, block.getParam("Wqkv"), block.getParam("bqkv"));
      if (conf.getLoraRank() > 0) {
        BlockMath.addLora(qkv, a, block.getParam("Aq"), block.getParam("Bq"), block.getParam("Av"), block.getParam("Bv"),
            conf.getLoraScale());
      }
      INDArray q = BlockMath.heads(qkv, 0, rows, n, heads, d);
      INDArray k = BlockMath.heads(qkv, 1, rows, n, heads, d);
      INDArray v = BlockMath.heads(qkv, 2, rows, n, heads, d);
      INDArrayIndex fresh = NDArrayIndex.interval(c0, tk);
      keys[l].get(all(), all(), fresh, all()).assign(k.reshape('c', rows, heads, n, d));
      values[l].get(all(), all(), fresh, all()).assign(v.reshape('c', rows, heads, n, d));
      INDArray kc = keys[l].reshape('c', (long) rows * heads, capacity, d);
      INDArray vc = values[l].reshape('c', (long) rows * heads, capacity, d);
      INDArray p = BlockMath.attentionProbabilities(q, kc, bias, rows, heads, scale);
      INDArray o = BlockMath.mergeHeads(Nd4j.matmul(p, vc), rows, n, heads, d);
      x = BlockMath.linear(o, block.getParam("Wo"), block.getParam("bo")).addi(x);
      INDArray c = BlockMath.layerNorm(x, block.getParam("ln2g"), block.getParam("ln2b")).out();
      x = BlockMath.linear(BlockMath.gelu(BlockMath.linear(c, block.getParam("W1"), block.getParam("b1"))),
          block.getParam("W2"), block.getParam("b2")).addi(x);
      if (conf.isFinalNorm()) {
        x = BlockMath.layerNorm(x, block.getParam("lnfg"), block.getParam("lnfb")).out();
      }
    }
    filled = tk;
    INDArray last = n == 1 ? x : x.reshape('c', rows, n, hidden).get(all(), NDArrayIndex.point(n - 1), all()).dup('c');
    INDArray logProbs = BlockMath.logSoftmax(BlockMath.linear(last, outW, outB)); // [rows, vocab]
    float[][] out = new float[rows][];
    for (int i = 0; i < rows; i++) {
      out[i] = logProbs.getRow(i).toFloatVector();
    }
    return out;
  }

  /**
   * {@code [rows, n, capacity]} for queries at columns {@code c0 … c0+n−1}: 0 where the key column
   * is a real token at or before the query, else {@link BlockMath#MASKED_LOGIT}.
   */
  private INDArray bias(int c0, int n, int capacity) {
    float masked = (float) BlockMath.MASKED_LOGIT;
    float[] b = new float[rows * n * capacity];
    java.util.Arrays.fill(b, masked);
    for (int i = 0; i < rows; i++) {
      boolean[] pad = padding[i];
      for (int j = 0; j < n; j++) {
        int base = (i * n + j) * capacity;
        for (int c = 0; c <= c0 + j; c++) {
          if (c >= pad.length || !pad[c]) {
            b[base + c] = 0f;
          }
        }
      }
    }
    return Nd4j.create(b, new long[] {rows, n, capacity}, 'c').castTo(type);
  }

  private static INDArrayIndex all() {
    return NDArrayIndex.all();
  }
}
