package dev.distillery.export;

import dev.distillery.model.Architecture;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.LstmArchitecture;
import dev.distillery.model.TransformerArchitecture;
import dev.distillery.model.TransformerBlock;
import java.util.List;
import java.util.Map;
import onnx.Onnx.ModelProto;
import onnx.Onnx.TensorProto;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A Distillery {@link LanguageModel} as an ONNX decoder in the layout Hugging Face {@code optimum}
 * exports causal LMs in, so ONNX Runtime, Triton or transformers.js serve it like any exported
 * Hugging Face model:
 *
 * <ul>
 *   <li>inputs {@code input_ids} {@code [batch, sequence]} int64 and {@code attention_mask}
 *       {@code [batch, past + sequence]} int64 (1 = real token);
 *   <li>output {@code logits} {@code [batch, sequence, vocab]} float32, before the softmax;
 *   <li>with past (transformer only): inputs {@code past_key_values.N.key} and {@code .value}
 *       {@code [batch, heads, past, head_dim]}, outputs {@code present.N.key} and {@code .value}
 *       {@code [batch, heads, past + sequence, head_dim]}; the first step feeds {@code past = 0}.
 * </ul>
 *
 * <p>The transformer's graph computes what {@link TransformerBlock} computes: positions count from
 * each row's first real token ({@code cumsum(attention_mask) − 1}, as the key/value-cache decoder
 * does), so left or right padding both work; a query sees the real keys at or before it. The LSTM
 * ignores {@code attention_mask} (a recurrence cannot skip padding): pad on the right. ids are
 * Distillery's, unchanged ({@code tokenizer.json} is written to match).
 */
public final class OnnxExport {
  static final String INPUT_IDS = "input_ids";
  static final String ATTENTION_MASK = "attention_mask";
  static final String LOGITS = "logits";
  private static final String BATCH = "batch_size";
  private static final String SEQUENCE = "sequence_length";
  private static final String PAST = "past_sequence_length";
  private static final String TOTAL = "total_sequence_length";

  /**
   * Where ONNX's {@code LSTM} gates (in its order {@code i, o, f, c}) sit among DL4J's four
   * column blocks of {@code W}, {@code RW} and {@code b}: DL4J orders them {@code c, f, o, i} (the
   * cell input first, the input gate last; {@code LSTMHelpers}).
   */
  static final int[] DL4J_BLOCK_OF_ONNX_GATE = {3, 2, 1, 0};

  private OnnxExport() {}

  /** The name of layer {@code l}'s past key ({@code part = "key"}) or value input. */
  public static String past(int layer, String part) {
    return "past_key_values." + layer + "." + part;
  }

  /** The name of layer {@code l}'s present key or value output. */
  public static String present(int layer, String part) {
    return "present." + layer + "." + part;
  }

  /**
   * The ONNX model of {@code model}.
   *
   * @param withPast add the key/value inputs and outputs of incremental decoding (transformer only)
   * @param metadata written as the model's metadata properties
   */
  public static ModelProto build(LanguageModel model, boolean withPast, Map<String, String> metadata) {
    Architecture architecture = model.architecture();
    OnnxGraph g = new OnnxGraph("distillery-" + model.shape().architecture());
    if (architecture instanceof TransformerArchitecture) {
      transformer(g, model, withPast);
    } else if (architecture instanceof LstmArchitecture) {
      if (withPast) {
        throw new IllegalArgumentException("Cannot export with past key values: an LSTM has no keys or values"
            + " (its export decodes by re-running the prefix): " + model.shape().architecture());
      }
      lstm(g, model);
    } else {
      throw new IllegalArgumentException("Cannot export model: unknown architecture: " + model.shape().architecture());
    }
    return g.model(dev.distillery.util.Provenance.gitCommit(), metadata);
  }

  // ------------------------------------------------------------------------------ shared pieces

  /** Declares the id and mask inputs and returns the embedded tokens {@code [batch, sequence, width]}. */
  private static String embed(OnnxGraph g, ComputationGraph graph, int vocab, boolean withPast) {
    g.input(INPUT_IDS, TensorProto.DataType.INT64, BATCH, SEQUENCE);
    g.input(ATTENTION_MASK, TensorProto.DataType.INT64, BATCH, withPast ? TOTAL : SEQUENCE);
    Layer embed = graph.getLayer("embed");
    INDArray w = embed.getParam("W");
    String x = g.op("Gather", List.of(g.weight("embed.weight", w, vocab, w.size(1)), INPUT_IDS), "axis", 0L);
    if (embed.paramTable().containsKey("b")) {
      x = g.add(x, g.weight("embed.bias", embed.getParam("b"), w.size(1)));
    }
    return x;
  }

  /** {@code logits = x·W + b} over the vocabulary, as the graph's output. */
  private static void head(OnnxGraph g, ComputationGraph graph, String x, int width, int vocab) {
    Layer out = graph.getLayer(Architecture.OUTPUT);
    String w = g.weight("lm_head.weight", out.getParam("W"), width, vocab);
    String b = g.weight("lm_head.bias", out.getParam("b"), vocab);
    g.opNamed(LOGITS, "Add", List.of(g.matmul(x, w), b));
    g.output(LOGITS, TensorProto.DataType.FLOAT, BATCH, SEQUENCE, vocab);
  }

  // -------------------------------------------------------------------------------- transformer

  private static void transformer(OnnxGraph g, LanguageModel model, boolean withPast) {
    ComputationGraph graph = model.graph();
    int vocab = model.vocabSize();
    int layers = model.shape().layers();
    TransformerBlock first = (TransformerBlock) graph.getLayer("block0").conf().getLayer();
    int hidden = first.getHidden();
    int heads = first.getHeads();
    int d = hidden / heads;
    String x = embed(g, graph, vocab, withPast);

    // Positions: each row's count of real tokens so far, minus one (0 for left padding), for the
    // last `sequence` columns of the mask; then sin(t·ω + φ) per channel, added to √hidden·embedding.
    String ids = OnnxExport.INPUT_IDS;
    String mask = OnnxExport.ATTENTION_MASK;
    String counted = g.op("CumSum", List.of(mask, g.scalar(1L)));
    String position = g.op("Max", List.of(g.op("Sub", List.of(counted, g.scalar(1L))), g.scalar(0L)));
    String idShape = g.op("Shape", List.of(ids));
    String sequence = g.op("Slice", List.of(idShape, g.vector(1), g.vector(2)));
    position = g.op("Slice", List.of(position, g.op("Neg", List.of(sequence)), g.vector(Long.MAX_VALUE), g.vector(1)));
    String t = g.op("Unsqueeze", List.of(g.op("Cast", List.of(position), "to", (long) TensorProto.DataType.FLOAT_VALUE),
        g.vector(-1)));
    float[] omega = new float[hidden];
    float[] phase = new float[hidden];
    for (int c = 0; c < hidden; c++) {
      omega[c] = (float) TransformerBlock.positionFrequency(c, hidden);
      phase[c] = (float) TransformerBlock.positionPhase(c);
    }
    String positions = g.op("Sin", List.of(g.add(g.mul(t, g.floats("position.frequency", omega, hidden)),
        g.floats("position.phase", phase, hidden))));
    x = g.add(g.mul(x, g.scalar((float) Math.sqrt(hidden))), positions);

    // Attention bias [batch, 1, sequence, total]: 0 where key column j is a real token at or before
    // the query's column (past + i), else the masked logit.
    String total = g.op("Gather", List.of(g.op("Shape", List.of(mask)), g.scalar(1L)), "axis", 0L);
    String seqScalar = g.op("Gather", List.of(idShape, g.scalar(1L)), "axis", 0L);
    String pastLength = g.op("Sub", List.of(total, seqScalar));
    String keyColumn = g.op("Unsqueeze", List.of(g.op("Range", List.of(g.scalar(0L), total, g.scalar(1L))), g.vector(0)));
    String queryColumn = g.op("Unsqueeze", List.of(g.op("Range", List.of(pastLength, total, g.scalar(1L))), g.vector(1)));
    String causal = g.op("LessOrEqual", List.of(keyColumn, queryColumn));
    String real = g.op("Unsqueeze", List.of(g.op("Cast", List.of(mask), "to", (long) TensorProto.DataType.BOOL_VALUE),
        g.vector(1, 2)));
    String bias = g.op("Where", List.of(g.op("And", List.of(causal, real)), g.scalar(0f),
        g.scalar((float) TransformerBlock.MASKED_LOGIT)));

    String scale = g.scalar((float) (1.0 / Math.sqrt(d)));
    String geluScale = g.scalar((float) TransformerBlock.GELU_SCALE);
    double eps = TransformerBlock.LAYER_NORM_EPSILON;
    for (int l = 0; l < layers; l++) {
      Layer block = graph.getLayer("block" + l);
      TransformerBlock conf = (TransformerBlock) block.conf().getLayer();
      String p = "block" + l + ".";
      String a = g.layerNorm(x, g.weight(p + "ln1.weight", block.getParam("ln1g"), hidden),
          g.weight(p + "ln1.bias", block.getParam("ln1b"), hidden), eps);
      String qkv = g.linear(a, g.weight(p + "qkv.weight", mergedQkv(block, conf, hidden), hidden, 3L * hidden),
          g.weight(p + "qkv.bias", block.getParam("bqkv"), 3L * hidden));
      // [batch, time, 3·hidden] → [3, batch, heads, time, d]: q, k, v split by head as BlockMath.heads does.
      String split = g.transpose(g.reshape(qkv, 0, 0, 3, heads, d), 2, 0, 3, 1, 4);
      String q = g.op("Gather", List.of(split, g.scalar(0L)), "axis", 0L);
      String k = g.op("Gather", List.of(split, g.scalar(1L)), "axis", 0L);
      String v = g.op("Gather", List.of(split, g.scalar(2L)), "axis", 0L);
      if (withPast) {
        g.input(past(l, "key"), TensorProto.DataType.FLOAT, BATCH, heads, PAST, d);
        g.input(past(l, "value"), TensorProto.DataType.FLOAT, BATCH, heads, PAST, d);
        k = g.opNamed(present(l, "key"), "Concat", List.of(past(l, "key"), k), "axis", 2L);
        v = g.opNamed(present(l, "value"), "Concat", List.of(past(l, "value"), v), "axis", 2L);
        g.output(k, TensorProto.DataType.FLOAT, BATCH, heads, TOTAL, d);
        g.output(v, TensorProto.DataType.FLOAT, BATCH, heads, TOTAL, d);
      }
      String scores = g.add(g.mul(g.matmul(q, g.transpose(k, 0, 1, 3, 2)), scale), bias);
      String probabilities = g.op("Softmax", List.of(scores), "axis", -1L);
      String attended = g.reshape(g.transpose(g.matmul(probabilities, v), 0, 2, 1, 3), 0, 0, hidden);
      x = g.add(g.linear(attended, g.weight(p + "attn_out.weight", block.getParam("Wo"), hidden, hidden),
          g.weight(p + "attn_out.bias", block.getParam("bo"), hidden)), x);
      String c = g.layerNorm(x, g.weight(p + "ln2.weight", block.getParam("ln2g"), hidden),
          g.weight(p + "ln2.bias", block.getParam("ln2b"), hidden), eps);
      String u = g.linear(c, g.weight(p + "ff_in.weight", block.getParam("W1"), hidden, 4L * hidden),
          g.weight(p + "ff_in.bias", block.getParam("b1"), 4L * hidden));
      String gelu = g.mul(u, g.op("Sigmoid", List.of(g.mul(u, geluScale))));
      x = g.add(g.linear(gelu, g.weight(p + "ff_out.weight", block.getParam("W2"), 4L * hidden, hidden),
          g.weight(p + "ff_out.bias", block.getParam("b2"), hidden)), x);
      if (conf.isFinalNorm()) {
        x = g.layerNorm(x, g.weight(p + "ln_f.weight", block.getParam("lnfg"), hidden),
            g.weight(p + "ln_f.bias", block.getParam("lnfb"), hidden), eps);
      }
    }
    head(g, graph, x, hidden, vocab);
  }

  /**
   * {@code Wqkv} with a LoRA block's low-rank updates folded in ({@code Wq + s·Aq·Bq},
   * {@code Wv + s·Av·Bv}): the same function in one matrix, which is what a served model wants.
   */
  private static INDArray mergedQkv(Layer block, TransformerBlock conf, int hidden) {
    INDArray w = block.getParam("Wqkv");
    if (conf.getLoraRank() == 0) {
      return w;
    }
    INDArray merged = w.dup('c');
    double s = conf.getLoraScale();
    merged.get(NDArrayIndex.all(), NDArrayIndex.interval(0, hidden))
        .addi(block.getParam("Aq").mmul(block.getParam("Bq")).muli(s));
    merged.get(NDArrayIndex.all(), NDArrayIndex.interval(2 * hidden, 3 * hidden))
        .addi(block.getParam("Av").mmul(block.getParam("Bv")).muli(s));
    return merged;
  }

  // --------------------------------------------------------------------------------------- LSTM

  private static void lstm(OnnxGraph g, LanguageModel model) {
    ComputationGraph graph = model.graph();
    int vocab = model.vocabSize();
    int hidden = model.shape().hidden();
    String x = g.transpose(embed(g, graph, vocab, false), 1, 0, 2); // ONNX's LSTM reads [time, batch, in]
    for (int l = 0; l < model.shape().layers(); l++) {
      Layer layer = graph.getLayer("lstm" + l);
      INDArray w = layer.getParam("W");   // [in, 4·hidden]
      INDArray rw = layer.getParam("RW"); // [hidden, 4·hidden]
      INDArray b = layer.getParam("b").reshape(1, 4L * hidden); // [4·hidden] in DL4J; a row here
      long in = w.size(0);
      String p = "lstm" + l + ".";
      INDArray onnxBias = Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, 8L * hidden);
      onnxBias.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 4L * hidden)).assign(gates(b, hidden));
      String y = g.op("LSTM", List.of(
              x,
              g.weight(p + "W", gates(w, hidden).transpose(), 1, 4L * hidden, in),
              g.weight(p + "R", gates(rw, hidden).transpose(), 1, 4L * hidden, hidden),
              g.weight(p + "B", onnxBias, 1, 8L * hidden)),
          "hidden_size", (long) hidden);
      x = g.op("Squeeze", List.of(y, g.vector(1))); // [time, 1 direction, batch, hidden] → [time, batch, hidden]
    }
    head(g, graph, g.transpose(x, 1, 0, 2), hidden, vocab);
  }

  /** DL4J's {@code [rows, 4·hidden]} gate columns reordered into ONNX's {@code i, o, f, c}. */
  static INDArray gates(INDArray dl4j, int hidden) {
    if (dl4j.rank() != 2 || dl4j.size(1) != 4L * hidden) {
      throw new IllegalArgumentException("Cannot export LSTM weights: expected [rows, " + 4 * hidden + "], got "
          + java.util.Arrays.toString(dl4j.shape()));
    }
    INDArray out = Nd4j.create(dl4j.dataType(), dl4j.size(0), 4L * hidden);
    for (int gate = 0; gate < 4; gate++) {
      int block = DL4J_BLOCK_OF_ONNX_GATE[gate];
      out.get(NDArrayIndex.all(), NDArrayIndex.interval((long) gate * hidden, (long) (gate + 1) * hidden))
          .assign(dl4j.get(NDArrayIndex.all(), NDArrayIndex.interval((long) block * hidden, (long) (block + 1) * hidden)));
    }
    return out;
  }
}
