package dev.distillery.okd;

import dev.distillery.config.ConfigException;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.loss.DistillExample;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.LoraAdapter;
import dev.distillery.model.ModelBundle;
import dev.distillery.prepare.Manifest;
import dev.distillery.storage.Location;
import dev.distillery.teacher.OnnxCausalModel;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.util.Progress;
import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * One {@code distill.loss = okd} run on the driver: opens the teacher the targets were made with,
 * builds the pair graph ({@link OnlineKd}), and between averaging rounds measures the two losses on
 * fixed probes and re-asserts the frozen weights. Averaging n identical copies of a weight is exact
 * in float only when n is a power of two ((a+a+a)/3 can differ from a in the last bit), so after
 * every round the teacher's base weights are compared bit for bit with the teacher's and any value
 * averaging moved is put back; the count is logged as {@code baseRestored}.
 */
public final class OkdRun {
  /** Reference examples the losses are measured on after every round. */
  static final int PROBES = 32;

  private final Location teacherDir;
  private final LanguageModel teacher;
  private final DistilleryConfig.Distill distill;
  private final DistilleryConfig.Train train;
  private final TextTokenizer tokenizer;
  private final ComputationGraph pair;
  private final Map<String, float[]> pristine = new LinkedHashMap<>();
  private OnlineKd.Losses last;
  private long restored;

  private OkdRun(Location teacherDir, LanguageModel teacher, DistilleryConfig.Distill distill, DistilleryConfig.Train train,
      TextTokenizer tokenizer) {
    this.teacherDir = teacherDir;
    this.teacher = teacher;
    this.distill = distill;
    this.train = train;
    this.tokenizer = tokenizer;
    this.pair = OnlineKd.pair(teacher, distill.student(), distill.okd(), train.seed(), train.learningRate());
    OnlineKd.frozen(pair).forEach((name, view) -> pristine.put(name, view.dup().data().asFloat()));
  }

  /**
   * Opens the teacher named in the targets' manifest and refuses, before any training, one that
   * cannot take LoRA modules, is unreadable here, or changed since prepare.
   */
  public static OkdRun open(Manifest manifest, DistilleryConfig.Distill distill, DistilleryConfig.Train train,
      TextTokenizer tokenizer, Progress progress) throws IOException {
    Location dir = Location.of(manifest.teacher());
    if (OnnxCausalModel.isOnnxDirectory(dir)) {
      throw new ConfigException("Cannot distill with okd: the teacher must be a Distillery transformer; an ONNX "
          + "export runs read-only and cannot take LoRA modules: " + dir);
    }
    if (!dir.isDirectory()) {
      throw new ConfigException("Cannot distill with okd: the teacher directory named in the manifest is not "
          + "readable from the driver: " + dir);
    }
    String fingerprint = ModelBundle.fingerprint(dir);
    if (!fingerprint.equals(manifest.teacherFingerprint())) {
      throw new ConfigException("Cannot distill with okd: the teacher changed since prepare (teacherFingerprint "
          + manifest.teacherFingerprint() + " vs " + fingerprint + "): " + dir);
    }
    LanguageModel teacher = ModelBundle.load(dir);
    try {
      OnlineKd.requireAdaptable(teacher, dir.toString());
    } catch (IllegalArgumentException e) {
      throw new ConfigException(e.getMessage());
    }
    OkdRun run = new OkdRun(dir, teacher, distill, train, tokenizer);
    long modules = LoraAdapter.modules(run.pair).stream()
        .mapToLong(m -> Arrays.stream(m.shape()).reduce(1, (a, b) -> a * b)).sum();
    progress.line("okd: teacher %s frozen (%d parameters), LoRA rank %d, scale %.2f on q and v of %d blocks "
            + "(%d trainable parameters), alpha %.2f", dir, teacher.graph().numParams(), distill.okd().rank(),
        distill.okd().scale(), teacher.shape().layers(), modules, distill.okd().alpha());
    return run;
  }

  /** The graph that trains: teacher with LoRA modules, and student. */
  public ComputationGraph pair() {
    return pair;
  }

  /** The student cut out of a pair graph. */
  public LanguageModel student(ComputationGraph graph) {
    return OnlineKd.student(graph, distill.student(), tokenizer, train.seed(), train.learningRate());
  }

  /** What runs after every averaging round: restore any frozen value averaging moved, then measure the losses. */
  public Consumer<ComputationGraph> afterRound(JavaRDD<DistillExample> examples) {
    List<DistillExample> probes = examples.take(PROBES);
    DataSet probe = OnlineKd.dataSet(probes);
    return graph -> {
      restored += restoreBase(graph);
      last = OnlineKd.losses(graph, probe);
    };
  }

  /** Puts back every frozen value that differs from the teacher's; returns how many did. */
  long restoreBase(ComputationGraph graph) {
    long moved = 0;
    for (Map.Entry<String, INDArray> e : OnlineKd.frozen(graph).entrySet()) {
      float[] want = pristine.get(e.getKey());
      float[] now = e.getValue().dup().data().asFloat();
      if (!Arrays.equals(want, now)) {
        for (int i = 0; i < want.length; i++) {
          moved += Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(now[i]) ? 1 : 0;
        }
        INDArray view = e.getValue();
        view.assign(org.nd4j.linalg.factory.Nd4j.create(want, view.shape(), view.ordering()));
      }
    }
    return moved;
  }

  /** Adds the latest probe losses (per target token, nats) and the restore count to a metrics line. */
  public void metrics(Map<String, Object> line) {
    if (last != null) {
      line.put("teacherLoss", last.teacher());
      line.put("studentKl", last.studentKl());
      line.put("teacherCe", last.teacherCe());
    }
    line.put("baseRestored", restored);
  }

  /** Saves the adapted teacher (a reference to the teacher plus the LoRA weights) and returns it. */
  public LanguageModel saveAdapted(ComputationGraph graph, Location dir, Map<String, Object> provenance) throws IOException {
    LanguageModel adapted = OnlineKd.adaptedTeacher(graph, teacher, distill.okd());
    LoraAdapter.save(dir, adapted, teacherDir, provenance);
    return adapted;
  }
}
