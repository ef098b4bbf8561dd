package dev.distillery.okd;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.loss.BucketLoss;
import dev.distillery.loss.DistillExample;
import dev.distillery.loss.Divergence;
import dev.distillery.model.Architecture;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.LoraAdapter;
import dev.distillery.model.OutputHead;
import dev.distillery.model.TransformerArchitecture;
import dev.distillery.model.TransformerBlock;
import dev.distillery.model.VocabLogits;
import dev.distillery.tokenizer.TextTokenizer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration.GraphBuilder;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.layers.RnnLossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Online KD (Rao et al. 2024) as one DL4J graph that parameter averaging trains like any student:
 *
 * <pre>
 *   tokens ─┬─ t-embed (frozen) → t-block0..n (frozen, LoRA on q and v) → t-logits (frozen) ─┐
 *           │                                                                                ├─ logits [batch, 2·vocab, time] → out ({@link OkdLoss})
 *           └─ s-embed → s-lstm0.. or s-block0.. → s-logits ──────────────────────────────────┘
 * </pre>
 *
 * <p>The teacher's weights travel inside the graph, so executors need no teacher directory; the
 * only teacher parameters that train are the LoRA modules. The loss sends {@code ∂L_t} only into
 * the teacher's logits and {@code ∂L_s} only into the student's, and the two branches share no
 * parameter, so each loss's gradient reaches only its own parameters. Afterwards
 * {@link #student} and {@link #adaptedTeacher} cut the two models out as ordinary
 * {@link LanguageModel}s.
 */
public final class OnlineKd {
  public static final String TEACHER = "t-";
  public static final String STUDENT = "s-";
  static final String LOGITS = "logits";

  private OnlineKd() {}

  /** Refuses a teacher LoRA cannot adapt: anything but a plain Distillery transformer. */
  public static void requireAdaptable(LanguageModel teacher, String where) {
    if (!(teacher.architecture() instanceof TransformerArchitecture)) {
      throw new IllegalArgumentException("Cannot distill with okd: the teacher must be a transformer (LoRA adapts "
          + "its attention query and value projections), but it is " + teacher.shape().architecture() + ": " + where);
    }
    if (teacher.outputsLogits() || !LoraAdapter.modules(teacher.graph()).isEmpty()) {
      throw new IllegalArgumentException("Cannot distill with okd: the teacher must be a trained softmax model "
          + "without LoRA modules: " + where);
    }
  }

  /**
   * The pair graph, initialized: teacher weights copied in, LoRA fresh (the adapted teacher starts
   * equal to the teacher), student initialized from {@code seed}.
   */
  public static ComputationGraph pair(LanguageModel teacher, DistilleryConfig.Model studentShape,
      DistilleryConfig.Okd okd, long seed, double learningRate) {
    requireAdaptable(teacher, "teacher");
    int vocab = teacher.vocabSize();
    Architecture t = teacher.architecture();
    Architecture s = Architecture.of(studentShape.architecture());
    // One clipping for both branches: per-layer L2 norm keeps the direction of each update.
    GraphBuilder g = Architecture.builder(seed, learningRate, GradientNormalization.ClipL2PerLayer);
    String tLast = t.body(g, TEACHER, Architecture.INPUT, teacher.shape(), vocab,
        new Architecture.Lora(okd.rank(), okd.scale()));
    g.addLayer(TEACHER + LOGITS, new VocabLogits(t.width(teacher.shape()), vocab, true), tLast);
    String sLast = s.body(g, STUDENT, Architecture.INPUT, studentShape, vocab, null);
    g.addLayer(STUDENT + LOGITS, new VocabLogits(s.width(studentShape), vocab, false), sLast);
    g.addVertex(LOGITS, new MergeVertex(), TEACHER + LOGITS, STUDENT + LOGITS);
    g.addLayer(Architecture.OUTPUT, new RnnLossLayer.Builder().lossFunction(new OkdLoss(okd.alpha()))
        .activation(Activation.IDENTITY).dataFormat(RNNFormat.NCW).build(), LOGITS);
    g.setOutputs(Architecture.OUTPUT);
    ComputationGraph pair = new ComputationGraph(g.build());
    pair.init();
    LoraAdapter.copyLayers(teacher.graph(), pair, name -> inPair(TEACHER, name));
    return pair;
  }

  /** A language model's layer name in the pair, under {@code prefix} (its output layer is the logits layer). */
  private static String inPair(String prefix, String name) {
    return prefix + (name.equals(Architecture.OUTPUT) ? LOGITS : name);
  }

  /** The inverse of {@link #inPair}; null for the pair's layers outside {@code prefix}. */
  private static String outOfPair(String prefix, String name) {
    if (!name.startsWith(prefix)) {
      return null;
    }
    String rest = name.substring(prefix.length());
    return rest.equals(LOGITS) ? Architecture.OUTPUT : rest;
  }

  /**
   * The student as a standalone model with a logits output (like every distill student), its
   * weights copied out of the pair.
   */
  public static LanguageModel student(ComputationGraph pair, DistilleryConfig.Model shape, TextTokenizer tokenizer,
      long seed, double learningRate) {
    LanguageModel student = LanguageModel.create(shape, tokenizer, seed, learningRate,
        OutputHead.logits(new BucketLoss(Divergence.KL, 1.0, 0.5)));
    LoraAdapter.copyLayers(pair, student.graph(), name -> outOfPair(STUDENT, name));
    return student;
  }

  /** The teacher with its trained LoRA modules, a standalone softmax model. */
  public static LanguageModel adaptedTeacher(ComputationGraph pair, LanguageModel teacher, DistilleryConfig.Okd okd) {
    LanguageModel adapted = LoraAdapter.attach(teacher, new Architecture.Lora(okd.rank(), okd.scale()));
    LoraAdapter.copyLayers(pair, adapted.graph(), name -> outOfPair(TEACHER, name));
    return adapted;
  }

  /**
   * The pair's frozen teacher weights as views into its parameters, keyed {@code layer/param}: the
   * embedding, every block's base weights, the logits. Everything that must never change.
   */
  public static Map<String, INDArray> frozen(ComputationGraph pair) {
    Map<String, INDArray> out = new LinkedHashMap<>();
    for (org.deeplearning4j.nn.api.Layer layer : pair.getLayers()) {
      String name = layer.conf().getLayer().getLayerName();
      if (!name.startsWith(TEACHER)) {
        continue;
      }
      var conf = layer.conf().getLayer();
      layer.paramTable().forEach((p, v) -> {
        boolean trains = conf instanceof TransformerBlock b && !b.isFrozen(p);
        if (!trains) {
          out.put(name + "/" + p, v);
        }
      });
    }
    return out;
  }

  /**
   * A minibatch: features {@code [batch, 1, time]} (token ids), feature mask {@code [batch, time]},
   * labels {@code [batch, 1, time]} (the next reference token's id) and label mask {@code [batch, time]}
   * (1 on target positions).
   */
  public static DataSet dataSet(List<DistillExample> batch) {
    int b = batch.size();
    int time = 0;
    for (DistillExample e : batch) {
      time = Math.max(time, e.tokens().length - 1);
    }
    float[] features = new float[b * time];
    float[] featureMask = new float[b * time];
    float[] labels = new float[b * time];
    float[] labelMask = new float[b * time];
    for (int i = 0; i < b; i++) {
      int[] t = batch.get(i).tokens();
      for (int s = 0; s < t.length - 1; s++) {
        features[i * time + s] = t[s];
        featureMask[i * time + s] = 1f;
        if (s + 1 >= batch.get(i).targetStart()) {
          labels[i * time + s] = t[s + 1];
          labelMask[i * time + s] = 1f;
        }
      }
    }
    return new DataSet(
        Nd4j.create(features, new long[] {b, 1, time}, 'c'),
        Nd4j.create(labels, new long[] {b, 1, time}, 'c'),
        Nd4j.create(featureMask, new long[] {b, time}, 'c'),
        Nd4j.create(labelMask, new long[] {b, time}, 'c'));
  }

  /** What the loss layer sees for a minibatch: logits {@code [rows, 2·vocab]}, labels and mask {@code [rows, 1]}, rows = batch·time. */
  public record Rows(INDArray logits, INDArray labels, INDArray mask) {}

  /** The pair's forward pass on a minibatch, laid out as the loss layer sees it (no training). */
  public static Rows rows(ComputationGraph pair, DataSet batch) {
    INDArray merged = pair.output(false, new INDArray[] {batch.getFeatures()}, new INDArray[] {batch.getFeaturesMaskArray()})[0];
    long b = merged.size(0), width = merged.size(1), time = merged.size(2);
    return new Rows(merged.permute(0, 2, 1).dup('c').reshape(b * time, width),
        batch.getLabels().permute(0, 2, 1).dup('c').reshape(b * time, 1),
        batch.getLabelsMaskArray().dup('c').reshape(b * time, 1));
  }

  /** Mean losses per target token on one minibatch (no training). */
  public record Losses(double teacher, double studentKl, double teacherCe) {}

  public static Losses losses(ComputationGraph pair, DataSet batch) {
    Rows r = rows(pair, batch);
    OkdLoss loss = (OkdLoss) ((RnnLossLayer) pair.getLayer(Architecture.OUTPUT).conf().getLayer()).getLossFn();
    OkdLoss.Parts parts = loss.parts(r.labels(), r.logits(), r.mask(), null);
    double n = r.mask().sumNumber().doubleValue();
    return new Losses(parts.teacherLoss().sumNumber().doubleValue() / n,
        parts.studentKl().sumNumber().doubleValue() / n, parts.teacherCe().sumNumber().doubleValue() / n);
  }
}
