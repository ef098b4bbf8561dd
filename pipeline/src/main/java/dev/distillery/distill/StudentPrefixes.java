package dev.distillery.distill;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.Objective;
import dev.distillery.decode.Decoder;
import dev.distillery.decode.Hypothesis;
import dev.distillery.loss.DistillExample;
import dev.distillery.model.LanguageModel;
import dev.distillery.prepare.TeacherOutput;
import dev.distillery.prepare.TeacherScorer;
import dev.distillery.spark.Device;
import dev.distillery.storage.Location;
import dev.distillery.teacher.TeacherCache;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.train.SparkTrainer;
import dev.distillery.util.Hashing;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.TaskContext;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code distill.prefix = student} (f-DISTILL's on-policy side, Wen et al. 2023): a minibatch's
 * divergence sequences are drawn afresh from the student and scored by the live teacher on the
 * executor, instead of being read from the teacher's stored samples. The student is the snapshot
 * the driver took after the previous averaging round (shipped inside this encoder, which Spark
 * serializes anew with every round's tasks); the teacher is loaded once per executor JVM and device
 * ({@link TeacherCache}), so the teacher directory must be readable from the executors. A draw stops
 * at {@code distill.prefix-length-ratio} times the teacher sample it replaces and is then unfinished,
 * like one cut at {@code decode.max-new-tokens}.
 */
public final class StudentPrefixes implements SparkTrainer.BatchEncoder<DistillExample> {
  private final LossPlan plan;
  private final int k;
  private final Location teacherDir;
  private final int teacherMaxTokens;
  private final DistilleryConfig.Decode sampling;
  private final DistilleryConfig.Prepare prepare;
  private final Snapshot snapshot;
  private final double lengthRatio;
  private final org.apache.spark.util.LongAccumulator sampled;

  /**
   * @param teacherDir the teacher's model directory (the targets' manifest names it)
   * @param config decoding length, sampling temperature and top-p ({@code prepare.sample-*}), device
   * @param sampled counts the sequences drawn from the student on the executors (a task Spark
   *     retries counts its sequences again); distill reports it as {@code prefixesSampled}
   */
  public StudentPrefixes(LossPlan plan, int k, String teacherDir, DistilleryConfig config, Snapshot snapshot,
      org.apache.spark.util.LongAccumulator sampled) {
    this.plan = plan;
    this.k = k;
    this.teacherDir = Location.of(teacherDir);
    this.teacherMaxTokens = config.model().maxTokens();
    this.sampling = TeacherScorer.sampling(config.decode(), config.prepare());
    this.prepare = config.prepare();
    this.snapshot = snapshot;
    this.lengthRatio = config.distill().prefixLengthRatio();
    this.sampled = sampled;
  }

  @Override
  public DataSet encode(List<DistillExample> batch, double progress) {
    List<Integer> onPolicy = new ArrayList<>();
    List<int[]> prompts = new ArrayList<>();
    List<Random> randoms = new ArrayList<>();
    List<Integer> caps = new ArrayList<>();
    for (int i = 0; i < batch.size(); i++) {
      DistillExample e = batch.get(i);
      if (e.role() == Objective.Role.DIVERGENCE) {
        onPolicy.add(i);
        prompts.add(Arrays.copyOf(e.tokens(), e.targetStart()));
        // The replaced teacher sample's target tokens (its </s> included) times the ratio, at least one.
        caps.add(Math.max(1, (int) Math.ceil(lengthRatio * e.targetTokens())));
        // A fresh draw per round: seeded by the example and the snapshot version.
        randoms.add(new Random((Hashing.stableHash64(e.id()) * 31 + i) ^ (snapshot.version * 1_000_003L)));
      }
    }
    if (onPolicy.isEmpty()) {
      return DistillBatches.dataSet(batch, plan, k, progress);
    }
    LanguageModel student = snapshot.model();
    List<Hypothesis> drawn = new Decoder(student, sampling).sample(prompts, randoms,
        caps.stream().mapToInt(Integer::intValue).toArray());
    List<int[]> outputs = drawn.stream().map(Hypothesis::tokens).toList();
    List<TeacherOutput> scored;
    try (TeacherCache.Lease teacher = TeacherCache.borrow(teacherDir,
        Device.forTask(prepare.device(), TaskContext.get()), teacherMaxTokens)) {
      scored = new TeacherScorer(teacher.model(), sampling, prepare).along(prompts, outputs, k);
    }
    List<DistillExample> out = new ArrayList<>(batch);
    for (int j = 0; j < onPolicy.size(); j++) {
      DistillExample e = batch.get(onPolicy.get(j));
      TeacherOutput t = scored.get(j);
      int[] source = e.targetStart() > 1 ? Arrays.copyOfRange(e.tokens(), 1, e.targetStart() - 1) : null;
      out.set(onPolicy.get(j), Targets.example(e.id(), source, t.ids(), drawn.get(j).finished(), t.topkIds(),
          t.topkLogprobs(), t.tailMass(), e.role(), k));
    }
    sampled.add(onPolicy.size());
    return DistillBatches.dataSet(out, plan, k, progress);
  }

  /**
   * The student's parameters as of the last averaging round, with what it takes to rebuild it on an
   * executor (configuration JSON, shape, tokenizer). Executors rebuild a version once per JVM.
   */
  public static final class Snapshot implements Serializable {
    private static final ConcurrentHashMap<String, LanguageModel> BUILT = new ConcurrentHashMap<>();

    private final String id = UUID.randomUUID().toString();
    private final String configuration;
    private final DistilleryConfig.Model shape;
    private final TextTokenizer tokenizer;
    private float[] params;
    private long version;

    public Snapshot(LanguageModel student) {
      this.configuration = student.graph().getConfiguration().toJson();
      this.shape = student.shape();
      this.tokenizer = student.tokenizer();
      update(student.graph());
    }

    /** Takes the averaged parameters after a round (on the driver). */
    public void update(ComputationGraph graph) {
      params = graph.params().toFloatVector();
      version++;
    }

    /**
     * This thread's copy of the snapshot: executor threads sample concurrently, and a DL4J graph
     * keeps its layers' activations, so one shared copy would have to be locked (it was, and the
     * two task threads then sampled one after the other).
     */
    LanguageModel model() {
      String key = id + "@" + version + "#" + Thread.currentThread().getId();
      LanguageModel built = BUILT.get(key);
      if (built != null) {
        return built;
      }
      synchronized (BUILT) {
        built = BUILT.get(key);
        if (built == null) {
          String current = id + "@" + version + "#";
          // Keep one version per JVM (a copy per thread of it).
          BUILT.keySet().removeIf(old -> old.startsWith(id + "@") && !old.startsWith(current));
          ComputationGraph graph = new ComputationGraph(ComputationGraphConfiguration.fromJson(configuration));
          graph.init(Nd4j.create(params).reshape(1, params.length), true);
          built = new LanguageModel(graph, shape, tokenizer);
          BUILT.put(key, built);
        }
        return built;
      }
    }
  }
}
