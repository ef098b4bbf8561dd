package dev.distillery.teacher;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.distillery.errors.DataException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A teacher language model exported from Hugging Face to ONNX in the {@code optimum} layout, run
 * with ONNX Runtime.
 *
 * <p>The model is a decoder-only causal LM: inputs {@code input_ids}
 * [batch, seq] int64 and {@code attention_mask} [batch, seq] int64 (and optionally {@code
 * position_ids} [batch, seq] int64, fed 0..seq-1), output {@code logits} [batch, seq, vocab]
 * float32. {@link #logProbs(List)} right-pads a batch, runs it once, and turns the logits of every
 * real (unpadded) position into natural-log probabilities with a log-softmax computed in double
 * precision.
 *
 * <p>An export with past key values ({@code optimum}'s {@code text-generation-with-past}: inputs
 * {@code past_key_values.N.key/value} [batch, heads, past, head_dim] with fixed heads and head_dim,
 * outputs {@code present.N.key/value} [batch, heads, past + seq, head_dim], {@code attention_mask}
 * [batch, past + seq]) is fed an empty past when it scores whole sequences, and decodes one
 * position per new token through {@link #decoding()}.
 *
 * <p>Not thread-safe for {@link #close()}; concurrent {@link #logProbs(List)} calls are fine (ONNX
 * Runtime sessions allow concurrent runs).
 */
public final class OnnxTeacher implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(OnnxTeacher.class);

  static final String INPUT_IDS = "input_ids";
  static final String ATTENTION_MASK = "attention_mask";
  static final String POSITION_IDS = "position_ids";
  static final String LOGITS = "logits";

  private final Path modelPath;
  private final OrtEnvironment env;
  private final OrtSession session;
  private final boolean usesPositionIds;
  /** The past key/value inputs and their {@code [heads, head_dim]}, fed empty (past length 0). */
  private final Map<String, long[]> pastInputs = new java.util.TreeMap<>();
  /** Each past input's {@code present.*} output, when the model returns every one of them. */
  private final Map<String, String> presentOf = new java.util.TreeMap<>();
  private final int vocabSize;
  private final String device;

  /** Loads the model on the CPU. */
  public OnnxTeacher(Path modelPath) {
    this(modelPath, -1, 0);
  }

  /**
   * Loads the model.
   *
   * @param modelPath the {@code model.onnx} file (external-data files, if any, next to it)
   * @param gpuIndex a CUDA device index, or a negative value for the CPU; when the CUDA execution
   *     provider is not available the model runs on the CPU and a warning says why
   * @param cpuThreads ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose
   */
  public OnnxTeacher(Path modelPath, int gpuIndex, int cpuThreads) {
    this.modelPath = modelPath;
    if (modelPath == null) {
      throw new DataException("Cannot load teacher model: no path given: null");
    }
    if (!Files.isRegularFile(modelPath)) {
      throw new DataException("Cannot load teacher model: no such file: " + modelPath.toAbsolutePath());
    }
    if (cpuThreads < 0) {
      throw new IllegalArgumentException("Cannot load teacher model: cpu threads must be >= 0: " + cpuThreads);
    }
    this.env = OrtEnvironment.getEnvironment();
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    OrtSession opened = null;
    try {
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      if (cpuThreads > 0) {
        options.setIntraOpNumThreads(cpuThreads);
      }
      String where = "cpu";
      if (gpuIndex >= 0) {
        try {
          options.addCUDA(gpuIndex);
          where = "cuda:" + gpuIndex;
        } catch (OrtException | RuntimeException | UnsatisfiedLinkError e) {
          LOG.warn(
              "Cannot use CUDA for the teacher model, running it on the CPU instead: {}: cuda:{}",
              e.getMessage(), gpuIndex);
        }
      }
      try {
        opened = env.createSession(modelPath.toString(), options);
      } catch (OrtException e) {
        throw new DataException(
            "Cannot load teacher model: ONNX Runtime rejected it (" + e.getMessage() + "): " + modelPath);
      }
      this.device = where;
      this.session = opened;
      Set<String> inputs = session.getInputNames();
      if (!inputs.contains(INPUT_IDS) || !inputs.contains(ATTENTION_MASK)) {
        throw new DataException("Cannot load teacher model: it needs inputs input_ids and attention_mask, has "
            + new TreeSet<>(inputs) + ": " + modelPath);
      }
      Set<String> unsupported = new TreeSet<>(inputs);
      unsupported.removeAll(Set.of(INPUT_IDS, ATTENTION_MASK, POSITION_IDS));
      Map<String, NodeInfo> inputInfo = session.getInputInfo();
      for (String name : Set.copyOf(unsupported)) {
        long[] headsAndDim = pastShape(name, inputInfo.get(name));
        if (headsAndDim != null) {
          pastInputs.put(name, headsAndDim);
          unsupported.remove(name);
        }
      }
      if (!unsupported.isEmpty()) {
        throw new DataException("Cannot load teacher model: unsupported inputs " + unsupported
            + " (export it without past key values, e.g. optimum-cli --task text-generation): " + modelPath);
      }
      this.usesPositionIds = inputs.contains(POSITION_IDS);
      Map<String, NodeInfo> outputs = session.getOutputInfo();
      if (!outputs.containsKey(LOGITS)) {
        throw new DataException("Cannot load teacher model: no logits output (outputs are "
            + new TreeSet<>(outputs.keySet()) + "): " + modelPath);
      }
      this.vocabSize = findVocabSize(outputs.get(LOGITS));
      for (String past : pastInputs.keySet()) {
        String present = "present." + past.substring("past_key_values.".length());
        if (outputs.containsKey(present)) {
          presentOf.put(past, present);
        }
      }
      if (presentOf.size() < pastInputs.size()) {
        presentOf.clear(); // without every present output the past cannot be carried: score only
      }
      LOG.info("Loaded teacher model {} on {}: vocab {}", modelPath, device, vocabSize);
    } catch (OrtException e) {
      closeQuietly(opened);
      throw new DataException("Cannot load teacher model: " + e.getMessage() + ": " + modelPath);
    } catch (RuntimeException e) {
      closeQuietly(opened);
      throw e;
    } finally {
      options.close();
    }
  }

  /** {@code [heads, head_dim]} of a past key/value input with both fixed, else null. */
  private static long[] pastShape(String name, NodeInfo info) {
    if (!name.startsWith("past_key_values.") || !(info.getInfo() instanceof TensorInfo t)) {
      return null;
    }
    long[] shape = t.getShape();
    return shape.length == 4 && shape[1] > 0 && shape[3] > 0 ? new long[] {shape[1], shape[3]} : null;
  }

  private int findVocabSize(NodeInfo logits) throws OrtException {
    if (!(logits.getInfo() instanceof TensorInfo info) || info.getShape().length != 3) {
      throw new DataException("Cannot load teacher model: logits must be a [batch, seq, vocab] tensor, is "
          + logits.getInfo() + ": " + modelPath);
    }
    long declared = info.getShape()[2];
    if (declared > 0) {
      return Math.toIntExact(declared);
    }
    // a symbolic vocabulary dimension: ask the model with a one-token probe
    try (OrtSession.Result result = run(new long[] {0}, new long[] {1}, 1, 1)) {
      long[] shape = ((TensorInfo) result.get(LOGITS).get().getInfo()).getShape();
      return Math.toIntExact(shape[2]);
    }
  }

  /** The size of the model's vocabulary: the last dimension of {@code logits}. */
  public int vocabSize() {
    return vocabSize;
  }

  /** Whether the model takes past key values and returns present ones: {@link #decoding()} works. */
  public boolean hasPast() {
    return !presentOf.isEmpty();
  }

  /**
   * Starts an incremental decode that carries the past key values between calls, so that each new
   * token costs one position.
   *
   * @throws IllegalStateException if the model has no past ({@link #hasPast()} is false)
   */
  public Decoding decoding() {
    if (!hasPast()) {
      throw new IllegalStateException("Cannot decode incrementally: the model has no past key values: " + modelPath);
    }
    return new Decoding();
  }

  /**
   * One incremental decode (not thread-safe; one per decoding call). Rows may be reordered between
   * steps, as beam search does. Prompts of different lengths are left-padded: the attention mask
   * hides the padding and {@code position_ids}, where the model takes them, count real tokens only
   * ({@code cumsum(mask) − 1}, as Hugging Face's {@code generate} feeds them).
   */
  public final class Decoding {
    /** {@code [rows][past]}: 1 for a real token, 0 for left padding. */
    private long[][] mask = new long[0][];
    /** Per past input: {@code [rows, heads, past, head_dim]} in C order. */
    private final Map<String, float[]> past = new HashMap<>();

    private Decoding() {}

    /**
     * Runs the prompts, left-padded, in one call.
     *
     * @return natural-log next-token probabilities {@code [rows][vocab]} after each prompt
     */
    public float[][] start(List<int[]> prompts) {
      int rows = prompts.size();
      int longest = 0;
      for (int[] p : prompts) {
        if (p == null || p.length == 0) {
          throw new IllegalArgumentException("Cannot decode with the teacher: empty prompt");
        }
        longest = Math.max(longest, p.length);
      }
      long[] ids = new long[rows * longest];
      long[][] newMask = new long[rows][longest];
      long[] positions = new long[rows * longest];
      for (int r = 0; r < rows; r++) {
        int[] p = prompts.get(r);
        int pad = longest - p.length;
        for (int t = 0; t < p.length; t++) {
          checkId("decode", p[t], r);
          ids[r * longest + pad + t] = p[t];
          newMask[r][pad + t] = 1;
          positions[r * longest + pad + t] = t;
        }
      }
      return run(ids, newMask, positions, longest, emptyPast(), 0);
    }

    /**
     * Makes row {@code i} continue the row that was {@code parents[i]}, extended by {@code tokens[i]}.
     *
     * @return natural-log next-token probabilities {@code [parents.length][vocab]}
     */
    public float[][] step(int[] parents, int[] tokens) {
      int rows = parents.length;
      int pastLength = mask.length == 0 ? 0 : mask[0].length;
      long[][] newMask = new long[rows][];
      long[] positions = new long[rows];
      long[] ids = new long[rows];
      for (int i = 0; i < rows; i++) {
        long[] parent = mask[parents[i]];
        newMask[i] = java.util.Arrays.copyOf(parent, pastLength + 1);
        newMask[i][pastLength] = 1;
        for (long m : parent) {
          positions[i] += m;
        }
        checkId("decode", tokens[i], i);
        ids[i] = tokens[i];
      }
      Map<String, float[]> reordered = new HashMap<>();
      for (Map.Entry<String, float[]> e : past.entrySet()) {
        float[] from = e.getValue();
        int rowSize = from.length / mask.length;
        float[] to = new float[rows * rowSize];
        for (int i = 0; i < rows; i++) {
          System.arraycopy(from, parents[i] * rowSize, to, i * rowSize, rowSize);
        }
        reordered.put(e.getKey(), to);
      }
      return run(ids, newMask, positions, 1, reordered, pastLength);
    }

    private float[][] run(long[] ids, long[][] newMask, long[] positions, int sequence,
        Map<String, float[]> pastValues, int pastLength) {
      int rows = newMask.length;
      int total = pastLength + sequence;
      long[] flatMask = new long[rows * total];
      for (int r = 0; r < rows; r++) {
        System.arraycopy(newMask[r], 0, flatMask, r * total, total);
      }
      List<OnnxTensor> tensors = new ArrayList<>();
      try {
        Map<String, OnnxTensor> feed = feed(tensors, ids, flatMask, positions, rows, sequence, pastValues, pastLength);
        Set<String> wanted = new java.util.HashSet<>(presentOf.values());
        wanted.add(LOGITS);
        try (OrtSession.Result result = session.run(feed, wanted)) {
          FloatBuffer logits = ((OnnxTensor) result.get(LOGITS).orElseThrow()).getFloatBuffer();
          float[][] out = new float[rows][];
          for (int r = 0; r < rows; r++) {
            out[r] = logSoftmax(logits, ((long) r * sequence + sequence - 1) * vocabSize, vocabSize);
          }
          for (Map.Entry<String, String> e : presentOf.entrySet()) {
            FloatBuffer present = ((OnnxTensor) result.get(e.getValue()).orElseThrow()).getFloatBuffer();
            float[] copy = new float[present.remaining()];
            present.get(copy);
            past.put(e.getKey(), copy);
          }
          mask = newMask;
          return out;
        }
      } catch (OrtException e) {
        throw new IllegalStateException("Cannot decode with the teacher: ONNX Runtime failed ("
            + e.getMessage() + "): " + modelPath, e);
      } finally {
        tensors.forEach(OnnxTensor::close);
      }
    }
  }

  /** Where the model runs: {@code cpu} or {@code cuda:<index>}. */
  public String device() {
    return device;
  }

  /**
   * Natural-log next-token probabilities for every position of every row.
   *
   * @param rows token ids, one array per sequence (not empty, ids in [0, vocab)); rows of different
   *     lengths are right-padded with id 0 and masked out
   * @return {@code [row][t][token]}: log P(token at t+1 | tokens 0..t of the row); each row has as
   *     many positions as its input (padding positions are not returned)
   */
  public float[][][] logProbs(List<int[]> rows) {
    if (rows == null || rows.isEmpty()) {
      return new float[0][][];
    }
    int batch = rows.size();
    int maxLen = 0;
    for (int r = 0; r < batch; r++) {
      int[] row = rows.get(r);
      if (row == null || row.length == 0) {
        throw new IllegalArgumentException("Cannot score rows with the teacher: empty row: " + r);
      }
      for (int id : row) {
        checkId("score rows", id, r);
      }
      maxLen = Math.max(maxLen, row.length);
    }
    long[] ids = new long[batch * maxLen];
    long[] mask = new long[batch * maxLen];
    for (int r = 0; r < batch; r++) {
      int[] row = rows.get(r);
      for (int t = 0; t < row.length; t++) {
        ids[r * maxLen + t] = row[t];
        mask[r * maxLen + t] = 1;
      }
    }
    try (OrtSession.Result result = run(ids, mask, batch, maxLen)) {
      OnnxValue value = result.get(LOGITS).orElseThrow();
      if (!(value instanceof OnnxTensor tensor)) {
        throw new IllegalStateException("Cannot score rows with the teacher: logits is not a tensor: " + value.getType());
      }
      long[] shape = tensor.getInfo().getShape();
      if (shape.length != 3 || shape[0] != batch || shape[1] != maxLen || shape[2] != vocabSize) {
        throw new IllegalStateException("Cannot score rows with the teacher: logits shape is not ["
            + batch + ", " + maxLen + ", " + vocabSize + "]: " + java.util.Arrays.toString(shape));
      }
      FloatBuffer logits = tensor.getFloatBuffer();
      float[][][] out = new float[batch][][];
      for (int r = 0; r < batch; r++) {
        int len = rows.get(r).length;
        out[r] = new float[len][];
        for (int t = 0; t < len; t++) {
          out[r][t] = logSoftmax(logits, ((long) r * maxLen + t) * vocabSize, vocabSize);
        }
      }
      return out;
    } catch (OrtException e) {
      throw new IllegalStateException("Cannot score rows with the teacher: ONNX Runtime failed ("
          + e.getMessage() + "): " + modelPath, e);
    }
  }

  private OrtSession.Result run(long[] ids, long[] mask, int batch, int len) throws OrtException {
    long[] positions = new long[batch * len];
    for (int i = 0; i < positions.length; i++) {
      positions[i] = i % len;
    }
    List<OnnxTensor> tensors = new ArrayList<>();
    try {
      return session.run(feed(tensors, ids, mask, positions, batch, len, emptyPast(), 0), Set.of(LOGITS));
    } finally {
      tensors.forEach(OnnxTensor::close);
    }
  }

  /**
   * The inputs of one run: {@code ids} and {@code positions} {@code [batch, sequence]}, {@code mask}
   * {@code [batch, past + sequence]}, and each past input {@code [batch, heads, past, head_dim]}
   * from {@code pastValues}. The tensors go into {@code tensors} for the caller to close.
   */
  private Map<String, OnnxTensor> feed(List<OnnxTensor> tensors, long[] ids, long[] mask, long[] positions,
      int batch, int sequence, Map<String, float[]> pastValues, int pastLength) throws OrtException {
    long[] shape = {batch, sequence};
    Map<String, OnnxTensor> feed = new HashMap<>();
    feed.put(INPUT_IDS, track(tensors, OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape)));
    feed.put(ATTENTION_MASK, track(tensors,
        OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {batch, pastLength + sequence})));
    if (usesPositionIds) {
      feed.put(POSITION_IDS, track(tensors, OnnxTensor.createTensor(env, LongBuffer.wrap(positions), shape)));
    }
    for (Map.Entry<String, long[]> past : pastInputs.entrySet()) {
      long[] pastShape = {batch, past.getValue()[0], pastLength, past.getValue()[1]};
      feed.put(past.getKey(), track(tensors,
          OnnxTensor.createTensor(env, FloatBuffer.wrap(pastValues.get(past.getKey())), pastShape)));
    }
    return feed;
  }

  /** A past of length 0 for every past input (none when the model takes no past). */
  private Map<String, float[]> emptyPast() {
    Map<String, float[]> empty = new HashMap<>();
    for (String name : pastInputs.keySet()) {
      empty.put(name, new float[0]);
    }
    return empty;
  }

  /** Refuses an id outside the model's vocabulary, naming what was being done and the row. */
  private void checkId(String doing, int id, int row) {
    if (id < 0 || id >= vocabSize) {
      throw new IllegalArgumentException("Cannot " + doing + " with the teacher: token id outside [0, "
          + vocabSize + ") in row " + row + ": " + id);
    }
  }

  private static OnnxTensor track(List<OnnxTensor> tensors, OnnxTensor tensor) {
    tensors.add(tensor);
    return tensor;
  }

  /** log-softmax of {@code n} logits starting at {@code offset}, in double precision. */
  static float[] logSoftmax(FloatBuffer logits, long offset, int n) {
    int base = Math.toIntExact(offset);
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      max = Math.max(max, logits.get(base + i));
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
      sum += Math.exp(logits.get(base + i) - max);
    }
    double logZ = max + Math.log(sum);
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = (float) (logits.get(base + i) - logZ);
    }
    return out;
  }

  private static void closeQuietly(OrtSession session) {
    if (session != null) {
      try {
        session.close();
      } catch (OrtException e) {
        LOG.debug("Cannot close ONNX session: {}", e.getMessage());
      }
    }
  }

  @Override
  public void close() {
    try {
      session.close();
    } catch (OrtException e) {
      throw new IllegalStateException("Cannot close teacher model: " + e.getMessage() + ": " + modelPath, e);
    }
  }
}
