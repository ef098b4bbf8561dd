package dev.distillery.okd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.Objective;
import dev.distillery.loss.DistillExample;
import dev.distillery.model.Architecture;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.LoraAdapter;
import dev.distillery.model.ModelBundle;
import dev.distillery.model.TokenizedExample;
import dev.distillery.testing.TinyModels;
import dev.distillery.tokenizer.BpeTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/** The OKD pair graph on a tiny two-block transformer teacher and an LSTM or transformer student. */
class OnlineKdTest {
  static BpeTokenizer tok;
  static DistilleryConfig config;
  static LanguageModel teacher;
  static List<DistillExample> batch;
  @TempDir Path dir;

  @BeforeAll
  static void setUp() {
    tok = TinyModels.tokenizer(300);
    config = TinyModels.config("tokenizer.vocab-size=300", "model.architecture=transformer", "model.hidden=16",
        "model.heads=2", "model.layers=2", "distill.student.embedding=8", "distill.student.hidden=12",
        "distill.okd.rank=2", "distill.okd.scale=2.0", "distill.okd.alpha=0.3");
    teacher = TinyModels.model(config, tok);
    assertEquals(3, TinyModels.examples(tok, 3, 70).size());
    batch = new ArrayList<>();
    for (TokenizedExample e : TinyModels.examples(tok, 3, 70)) { // short rows keep the gradient check fast
      batch.add(new DistillExample(e.id(), e.tokens(), e.targetStart(), Objective.Role.REFERENCE, new float[0], true));
    }
  }

  static ComputationGraph pair(String studentArchitecture) {
    DistilleryConfig.Model s = config.distill().student();
    DistilleryConfig.Model shape = new DistilleryConfig.Model(studentArchitecture, s.embedding(), s.hidden(),
        s.layers(), 2, s.maxTokens());
    return OnlineKd.pair(teacher, shape, config.distill().okd(), 7, 1e-2);
  }

  @Test
  void loraWithZeroWeightsComputesExactlyWhatTheBaseComputes() {
    LanguageModel adapted = LoraAdapter.attach(teacher, new Architecture.Lora(2, 2.0));
    List<int[]> rows = batch.stream().map(DistillExample::tokens).toList();
    // Fresh modules have B = 0; zero A as well, as the issue states it.
    for (LoraAdapter.Module m : LoraAdapter.modules(adapted.graph())) {
      adapted.graph().getLayer(m.layer()).getParam(m.param()).assign(0);
    }
    assertArrayEquals(teacher.logProbs(rows).data().asFloat(), adapted.logProbs(rows).data().asFloat());
    // Non-zero modules change the distribution: the equality above is not vacuous.
    for (LoraAdapter.Module m : LoraAdapter.modules(adapted.graph())) {
      adapted.graph().getLayer(m.layer()).getParam(m.param()).assign(Nd4j.rand(DataType.FLOAT, m.shape()).subi(0.5));
    }
    assertFalse(java.util.Arrays.equals(teacher.logProbs(rows).data().asFloat(), adapted.logProbs(rows).data().asFloat()));
  }

  @Test
  void pairStartsWithTheTeacherDistributionAndCutsOutBothModels() {
    ComputationGraph pair = pair("lstm");
    DataSet ds = OnlineKd.dataSet(batch);
    // The adapted teacher cut out of a fresh pair is the teacher; the student is the pair's student half.
    LanguageModel adapted = OnlineKd.adaptedTeacher(pair, teacher, config.distill().okd());
    List<int[]> rows = batch.stream().map(DistillExample::tokens).toList();
    assertArrayEquals(teacher.logProbs(rows).data().asFloat(), adapted.logProbs(rows).data().asFloat(), 1e-6f);
    LanguageModel student = OnlineKd.student(pair, config.distill().student(), tok, 1, 1e-3);
    INDArray merged = pair.output(false, new INDArray[] {ds.getFeatures()}, new INDArray[] {ds.getFeaturesMaskArray()})[0];
    int vocab = tok.vocabSize();
    INDArray studentLogits = merged.get(all(), interval(vocab, 2 * vocab), all());
    INDArray standalone = student.graph().output(false, new INDArray[] {ds.getFeatures()},
        new INDArray[] {ds.getFeaturesMaskArray()})[0];
    assertArrayEquals(studentLogits.dup('c').data().asFloat(), standalone.dup('c').data().asFloat(), 1e-5f);
  }

  @Test
  void teacherIsRefusedUnlessItIsATransformer() {
    DistilleryConfig lstm = TinyModels.config("tokenizer.vocab-size=300");
    LanguageModel lstmTeacher = TinyModels.model(lstm, tok);
    var e = assertThrows(IllegalArgumentException.class, () -> OnlineKd.pair(lstmTeacher,
        config.distill().student(), config.distill().okd(), 1, 1e-3));
    assertTrue(e.getMessage().contains("must be a transformer"), e.getMessage());
  }

  /**
   * Gradient check in double precision: the graph's gradient for each LoRA matrix equals the finite
   * difference of L_t alone, for each student parameter that of L_s alone, and for every frozen
   * teacher weight it is exactly zero. The losses are recomputed here from the logits, by hand.
   */
  @Test
  void eachLossesGradientReachesOnlyItsOwnParametersAndMatchesFiniteDifferences() {
    for (String student : List.of("lstm", "transformer")) {
      ComputationGraph pair = pair(student).convertDataType(DataType.DOUBLE);
      Random random = new Random(3);
      // Random non-zero B, so that the gradients of A are not zero.
      for (LoraAdapter.Module m : LoraAdapter.modules(pair)) {
        pair.getLayer(m.layer()).getParam(m.param()).assign(Nd4j.rand(DataType.DOUBLE, m.shape()).subi(0.5).muli(0.4));
      }
      DataSet ds = OnlineKd.dataSet(batch);
      ds.setFeatures(ds.getFeatures().castTo(DataType.DOUBLE));
      ds.setLabels(ds.getLabels().castTo(DataType.DOUBLE));
      pair.setInputs(ds.getFeatures());
      pair.setLabels(ds.getLabels());
      pair.setLayerMaskArrays(new INDArray[] {ds.getFeaturesMaskArray().castTo(DataType.DOUBLE)},
          new INDArray[] {ds.getLabelsMaskArray().castTo(DataType.DOUBLE)});
      pair.computeGradientAndScore();
      Gradient g = pair.gradient();
      Map<String, INDArray> grads = new LinkedHashMap<>(g.gradientForVariable());

      for (String frozen : OnlineKd.frozen(pair).keySet()) {
        INDArray gr = grads.get(frozen.replace('/', '_'));
        assertTrue(gr == null || gr.amaxNumber().doubleValue() == 0.0, "frozen " + frozen + " has a gradient");
      }
      int checked = 0;
      for (var e : grads.entrySet()) {
        String key = e.getKey();
        boolean lora = key.startsWith(OnlineKd.TEACHER) && LoraAdapter.modules(pair).stream()
            .anyMatch(m -> key.equals(m.layer() + "_" + m.param()));
        boolean studentParam = key.startsWith(OnlineKd.STUDENT);
        if (!lora && !studentParam) {
          continue;
        }
        String layer = key.substring(0, key.lastIndexOf('_'));
        String param = key.substring(key.lastIndexOf('_') + 1);
        INDArray p = pair.getLayer(layer).getParam(param);
        for (int trial = 0; trial < 3; trial++) {
          long[] i = org.nd4j.linalg.api.shape.Shape.ind2subC(p, random.nextInt((int) p.length()));
          // DL4J's gradients are sums over the minibatch (its updater divides by the size); its score is a mean.
          double analytic = e.getValue().getDouble(i) / batch.size();
          double old = p.getDouble(i);
          double eps = 1e-6;
          p.putScalar(i, old + eps);
          double plus = handLoss(pair, ds, lora);
          p.putScalar(i, old - eps);
          double minus = handLoss(pair, ds, lora);
          p.putScalar(i, old);
          double numeric = (plus - minus) / (2 * eps);
          double scale = Math.max(1e-6, Math.abs(numeric) + Math.abs(analytic));
          assertTrue(Math.abs(numeric - analytic) / scale < 1e-4 || Math.abs(numeric - analytic) < 1e-8,
              student + " " + key + java.util.Arrays.toString(i) + ": analytic " + analytic + " vs numeric " + numeric);
          checked++;
        }
      }
      assertTrue(checked >= 3 * (4 * 2 + 3), "checked " + checked);
    }
  }

  /**
   * L_t (teacher modules' loss) or L_s (student's), summed over target positions and divided by
   * the batch size (DL4J's score convention), from the pair's logits.
   */
  static double handLoss(ComputationGraph pair, DataSet ds, boolean teacherLoss) {
    double alpha = config.distill().okd().alpha();
    INDArray merged = pair.output(false, new INDArray[] {ds.getFeatures()},
        new INDArray[] {ds.getFeaturesMaskArray().castTo(DataType.DOUBLE)})[0];
    int vocab = (int) merged.size(1) / 2;
    double sum = 0;
    for (int b = 0; b < merged.size(0); b++) {
      for (int t = 0; t < merged.size(2); t++) {
        if (ds.getLabelsMaskArray().getDouble(b, t) == 0) {
          continue;
        }
        double[] p = softmax(merged, b, t, 0, vocab);
        double[] q = softmax(merged, b, t, vocab, vocab);
        int gold = (int) ds.getLabels().getDouble(b, 0, t);
        double klQp = 0, klPq = 0;
        for (int v = 0; v < vocab; v++) {
          klQp += q[v] * Math.log(q[v] / p[v]);
          klPq += p[v] * Math.log(p[v] / q[v]);
        }
        sum += teacherLoss ? alpha * klQp - (1 - alpha) * Math.log(p[gold]) : klPq;
      }
    }
    return sum / merged.size(0);
  }

  static double[] softmax(INDArray merged, int b, int t, int from, int n) {
    double[] out = new double[n];
    double max = Double.NEGATIVE_INFINITY;
    for (int v = 0; v < n; v++) {
      out[v] = merged.getDouble(b, from + v, t);
      max = Math.max(max, out[v]);
    }
    double sum = 0;
    for (int v = 0; v < n; v++) {
      out[v] = Math.exp(out[v] - max);
      sum += out[v];
    }
    for (int v = 0; v < n; v++) {
      out[v] /= sum;
    }
    return out;
  }

  @Test
  void fittingMovesTheModulesAndTheStudentButNeverABaseBit() {
    ComputationGraph pair = pair("lstm");
    Map<String, float[]> before = new LinkedHashMap<>();
    OnlineKd.frozen(pair).forEach((k, v) -> before.put(k, v.dup().data().asFloat()));
    float[] loraBefore = lora(pair);
    float[] studentBefore = pair.getLayer("s-logits").getParam("W").dup().data().asFloat();
    DataSet ds = OnlineKd.dataSet(batch);
    OnlineKd.Losses start = OnlineKd.losses(pair, ds);
    for (int i = 0; i < 15; i++) {
      pair.fit(ds);
    }
    OnlineKd.Losses end = OnlineKd.losses(pair, ds);
    OnlineKd.frozen(pair).forEach((k, v) -> assertArrayEquals(before.get(k), v.dup().data().asFloat(), 0f, k));
    assertFalse(java.util.Arrays.equals(loraBefore, lora(pair)), "LoRA modules did not train");
    assertFalse(java.util.Arrays.equals(studentBefore, pair.getLayer("s-logits").getParam("W").dup().data().asFloat()));
    assertTrue(end.studentKl() < start.studentKl(), start + " -> " + end);
    assertTrue(end.teacher() < start.teacher(), start + " -> " + end);
  }

  static float[] lora(ComputationGraph pair) {
    List<INDArray> parts = new ArrayList<>();
    for (LoraAdapter.Module m : LoraAdapter.modules(pair)) {
      parts.add(pair.getLayer(m.layer()).getParam(m.param()));
    }
    return Nd4j.toFlattened('c', parts).data().asFloat();
  }

  @Test
  void adaptedTeacherSavesAsBaseReferencePlusLoraAndLoadsLikeAnyModel() throws Exception {
    Path base = dir.resolve("teacher");
    ModelBundle.save(base, teacher, config, Map.of());
    ComputationGraph pair = pair("lstm");
    for (LoraAdapter.Module m : LoraAdapter.modules(pair)) {
      pair.getLayer(m.layer()).getParam(m.param()).assign(Nd4j.rand(DataType.FLOAT, m.shape()).subi(0.5));
    }
    LanguageModel adapted = OnlineKd.adaptedTeacher(pair, teacher, config.distill().okd());
    Path saved = dir.resolve("adapted");
    LoraAdapter.save(saved, adapted, base, Map.of("job", "test"));
    LanguageModel loaded = ModelBundle.load(saved);
    List<int[]> rows = batch.stream().map(DistillExample::tokens).toList();
    assertArrayEquals(adapted.logProbs(rows).data().asFloat(), loaded.logProbs(rows).data().asFloat(), 0f);
    // Only the modules are stored: the file is far smaller than the teacher.
    long loraValues = LoraAdapter.modules(pair).stream().mapToLong(m -> java.util.Arrays.stream(m.shape()).reduce(1, (a, b) -> a * b)).sum();
    assertTrue(loraValues < teacher.graph().numParams() / 4);
    assertTrue(java.nio.file.Files.size(saved.resolve(LoraAdapter.WEIGHTS)) < loraValues * 4 + 1024);
    // A changed base is refused, naming the field.
    LanguageModel other = TinyModels.model(TinyModels.config("tokenizer.vocab-size=300", "model.architecture=transformer",
        "model.hidden=16", "model.heads=2", "model.layers=2", "train.seed=9"), tok);
    ModelBundle.save(base, other, config, Map.of());
    var e = assertThrows(java.io.IOException.class, () -> ModelBundle.load(saved));
    assertTrue(e.getMessage().contains("baseFingerprint"), e.getMessage());
    assertEquals(2, LoraAdapter.modules(loaded.graph()).size() / 4);
  }

  private static org.nd4j.linalg.indexing.INDArrayIndex all() {
    return org.nd4j.linalg.indexing.NDArrayIndex.all();
  }

  private static org.nd4j.linalg.indexing.INDArrayIndex interval(long from, long to) {
    return org.nd4j.linalg.indexing.NDArrayIndex.interval(from, to);
  }
}
