package dev.distillery.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.Batches;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.TokenizedExample;
import dev.distillery.testing.TinyModels;
import dev.distillery.tokenizer.BpeTokenizer;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link OnnxExport}: ONNX Runtime, on the exported graph, gives the log-probabilities DL4J gives
 * on the model itself (within 1e-4), for real pairs of the bundled sample, for an LSTM and a
 * transformer trained a few steps in the test; with past key values, decoding one token at a time
 * reproduces the full-sequence logits step by step; left padding changes nothing for the
 * transformer. A wrong LSTM gate order, a wrong head split or a wrong position formula each fail
 * the first comparison.
 */
class OnnxExportTest {
  private static final double TOLERANCE = 1e-4;
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  private static BpeTokenizer tokenizer;
  private static List<int[]> rows;

  @BeforeAll
  static void data() {
    tokenizer = TinyModels.tokenizer(300);
    rows = new ArrayList<>();
    for (TokenizedExample e : TinyModels.examples(tokenizer, 6, 60)) {
      rows.add(e.tokens());
    }
  }

  /** A model trained {@code steps} minibatches on the sample, so no weight is at its initial value. */
  static LanguageModel trained(BpeTokenizer tokenizer, String... overrides) {
    DistilleryConfig config = TinyModels.config(overrides);
    LanguageModel model = TinyModels.model(config, tokenizer);
    List<TokenizedExample> examples = TinyModels.examples(tokenizer, 32, 120);
    for (int step = 0; step < 8; step++) {
      model.graph().fit(Batches.nextTokenDataSet(examples.subList(step * 4, step * 4 + 4)));
    }
    return model;
  }

  static LanguageModel transformer() {
    return trained(tokenizer, "model.architecture=transformer", "model.hidden=32", "model.heads=4", "model.layers=2",
        "model.dropout=0.1");
  }

  static LanguageModel lstm() {
    return lstm(tokenizer);
  }

  static LanguageModel lstm(BpeTokenizer tokenizer) {
    return trained(tokenizer, "model.architecture=lstm", "model.embedding=16", "model.hidden=24", "model.layers=2");
  }

  @Test
  void theTransformerExportGivesDl4jsLogProbabilities() throws Exception {
    LanguageModel model = transformer();
    assertMatches(model, session(model, false), rows);
  }

  @Test
  void theLstmExportGivesDl4jsLogProbabilities() throws Exception {
    LanguageModel model = lstm();
    assertMatches(model, session(model, false), rows);
  }

  @Test
  void decodingWithPastKeyValuesReproducesTheFullSequenceLogitsStepByStep() throws Exception {
    LanguageModel model = transformer();
    try (OrtSession full = session(model, false); OrtSession cached = session(model, true)) {
      int layers = model.shape().layers();
      int heads = model.shape().heads();
      int d = model.shape().hidden() / heads;
      for (int[] row : rows.subList(0, 3)) {
        float[][][] expected = logits(full, List.of(row), null);
        int prompt = 4;
        Map<String, OnnxTensor> past = new HashMap<>();
        for (int l = 0; l < layers; l++) {
          for (String part : new String[] {"key", "value"}) {
            past.put(OnnxExport.past(l, part),
                OnnxTensor.createTensor(ENV, FloatBuffer.allocate(0), new long[] {1, heads, 0, d}));
          }
        }
        int done = 0;
        while (done < row.length) {
          int n = done == 0 ? prompt : 1; // the prompt in one call, then one token per call
          int[] chunk = java.util.Arrays.copyOfRange(row, done, done + n);
          long[] mask = new long[done + n];
          java.util.Arrays.fill(mask, 1);
          Map<String, OnnxTensor> inputs = new HashMap<>(past);
          inputs.put(OnnxExport.INPUT_IDS, ids(List.of(chunk)));
          inputs.put(OnnxExport.ATTENTION_MASK, OnnxTensor.createTensor(ENV, LongBuffer.wrap(mask), new long[] {1, mask.length}));
          try (OrtSession.Result result = cached.run(inputs)) {
            float[][][] step = (float[][][]) result.get(OnnxExport.LOGITS).get().getValue();
            for (int t = 0; t < n; t++) {
              assertClose(expected[0][done + t], step[0][t], "row position " + (done + t));
            }
            past.values().forEach(OnnxTensor::close);
            past.clear();
            for (int l = 0; l < layers; l++) {
              for (String part : new String[] {"key", "value"}) {
                float[][][][] present = (float[][][][]) result.get(OnnxExport.present(l, part)).get().getValue();
                assertEquals(done + n, present[0][0].length, "present length");
                past.put(OnnxExport.past(l, part), OnnxTensor.createTensor(ENV, present));
              }
            }
          }
          inputs.get(OnnxExport.INPUT_IDS).close();
          inputs.get(OnnxExport.ATTENTION_MASK).close();
          done += n;
        }
        past.values().forEach(OnnxTensor::close);
      }
    }
  }

  @Test
  void aLeftPaddedRowGetsTheLogitsOfTheSameRowUnpadded() throws Exception {
    LanguageModel model = transformer();
    try (OrtSession session = session(model, false)) {
      int[] row = rows.get(0);
      int pad = 5;
      int[] padded = new int[row.length + pad];
      System.arraycopy(row, 0, padded, pad, row.length);
      long[] mask = new long[padded.length];
      java.util.Arrays.fill(mask, pad, mask.length, 1);
      float[][][] plain = logits(session, List.of(row), null);
      float[][][] shifted = logits(session, List.of(padded), mask);
      for (int t = 0; t < row.length; t++) {
        assertClose(plain[0][t], shifted[0][pad + t], "position " + t);
      }
    }
  }

  @Test
  void anLstmCannotBeExportedWithPast() {
    LanguageModel model = lstm();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> OnnxExport.build(model, true, Map.of()));
    assertTrue(e.getMessage().startsWith("Cannot export with past key values"), e.getMessage());
  }

  // ---------------------------------------------------------------------------------- helpers

  static OrtSession session(LanguageModel model, boolean withPast) throws Exception {
    byte[] bytes = OnnxExport.build(model, withPast, Map.of()).toByteArray();
    return ENV.createSession(bytes, new OrtSession.SessionOptions());
  }

  /** Each row's DL4J log-probabilities next to ONNX Runtime's, at every real position. */
  static void assertMatches(LanguageModel model, OrtSession session, List<int[]> batch) throws Exception {
    try (session) {
      INDArray dl4j = model.logProbs(batch); // [rows, vocab, time]
      float[][][] onnx = logits(session, batch, null);
      for (int r = 0; r < batch.size(); r++) {
        for (int t = 0; t < batch.get(r).length; t++) {
          float[] expected = dl4j.get(org.nd4j.linalg.indexing.NDArrayIndex.point(r),
              org.nd4j.linalg.indexing.NDArrayIndex.all(), org.nd4j.linalg.indexing.NDArrayIndex.point(t)).toFloatVector();
          double[] got = logSoftmax(onnx[r][t]);
          double worst = 0;
          for (int v = 0; v < expected.length; v++) {
            worst = Math.max(worst, Math.abs(expected[v] - got[v]));
          }
          assertTrue(worst < TOLERANCE, "row " + r + " position " + t + ": log-probabilities differ by " + worst);
        }
      }
    }
  }

  /** Logits {@code [rows][time][vocab]} of right-padded rows (or one row with the given mask). */
  static float[][][] logits(OrtSession session, List<int[]> batch, long[] mask) throws Exception {
    int time = batch.stream().mapToInt(r -> r.length).max().orElse(0);
    long[] m = mask;
    if (m == null) {
      m = new long[batch.size() * time];
      for (int r = 0; r < batch.size(); r++) {
        java.util.Arrays.fill(m, r * time, r * time + batch.get(r).length, 1);
      }
    }
    try (OnnxTensor ids = ids(batch);
         OnnxTensor am = OnnxTensor.createTensor(ENV, LongBuffer.wrap(m), new long[] {batch.size(), time});
         OrtSession.Result result = session.run(Map.of(OnnxExport.INPUT_IDS, ids, OnnxExport.ATTENTION_MASK, am))) {
      return (float[][][]) result.get(OnnxExport.LOGITS).get().getValue();
    }
  }

  static OnnxTensor ids(List<int[]> batch) throws Exception {
    int time = batch.stream().mapToInt(r -> r.length).max().orElse(0);
    long[] ids = new long[batch.size() * time];
    for (int r = 0; r < batch.size(); r++) {
      for (int t = 0; t < batch.get(r).length; t++) {
        ids[r * time + t] = batch.get(r)[t];
      }
    }
    return OnnxTensor.createTensor(ENV, LongBuffer.wrap(ids), new long[] {batch.size(), time});
  }

  static double[] logSoftmax(float[] z) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : z) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (float v : z) {
      sum += Math.exp(v - max);
    }
    double lse = max + Math.log(sum);
    double[] out = new double[z.length];
    for (int i = 0; i < z.length; i++) {
      out[i] = z[i] - lse;
    }
    return out;
  }

  static void assertClose(float[] expected, float[] got, String where) {
    double[] a = logSoftmax(expected);
    double[] b = logSoftmax(got);
    double worst = 0;
    for (int v = 0; v < a.length; v++) {
      worst = Math.max(worst, Math.abs(a[v] - b[v]));
    }
    assertTrue(worst < TOLERANCE, where + ": log-probabilities differ by " + worst);
  }
}
