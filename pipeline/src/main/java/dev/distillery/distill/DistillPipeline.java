package dev.distillery.distill;

import dev.distillery.loss.Divergence;
import dev.distillery.loss.DistillExample;
import dev.distillery.loss.CompactLabels;
import dev.distillery.loss.BucketLoss;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.ConfigException;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.Objective;
import dev.distillery.corpus.Tokenization;
import dev.distillery.decode.Decoder;
import dev.distillery.decode.Hypothesis;
import dev.distillery.eval.Bleu;
import dev.distillery.eval.Chrf;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.model.OutputHead;
import dev.distillery.model.TokenizedExample;
import dev.distillery.okd.OkdRun;
import dev.distillery.prepare.Manifest;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.spark.ExecutorMemory;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.train.Checkpoint;
import dev.distillery.util.Progress;
import dev.distillery.train.SparkTrainer;
import dev.distillery.util.Provenance;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.ObjIntConsumer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@code distill}: a student trained from prepare's targets with the configured loss (see
 * {@link LossPlan}) through Spark parameter averaging, checkpointed and resumable, then evaluated
 * beside the teacher (and a baseline student when given): BLEU and chrF of greedy and beam outputs,
 * reference perplexity, and the teacher–student divergence on held-out positions.
 *
 * <p>Output: {@code model/} (a model directory with provenance), {@code metrics.jsonl} (one line per
 * progress step: step, loss, gate, tokens/s), {@code checkpoints/}, {@code summary.json} and
 * {@code report.html} (loss curve and the comparison table).
 */
public final class DistillPipeline {
  private static final ObjectMapper JSON = new ObjectMapper();

  private DistillPipeline() {}

  /**
   * One system's scores on the held-out examples.
   *
   * @param bucketKl mean KL(teacher ‖ model) per reference position on the k+1 stored buckets: a
   *     lower bound of the full KL (merging tokens into a bucket can only lose divergence)
   * @param vocabKl mean KL(teacher ‖ model) per reference position over the whole vocabulary, against
   *     the live teacher (NaN when the teacher cannot be loaded on the driver, e.g. an ONNX export)
   * @param eosArgmax the fraction of reference target positions, the last excepted, where the model's
   *     most likely next token is {@code </s>}: how often greedy decoding would stop early
   */
  public record Scores(String system, double greedyBleu, double greedyChrf, double beamBleu, double beamChrf,
      double referencePerplexity, double bucketKl, double vocabKl, double eosArgmax) {}

  public record Summary(Path student, List<Scores> table, List<Double> validationLoss, long steps, double seconds,
      double tokensPerSecond) {}

  /**
   * On resume, keeps the lines of a JSONL log whose {@code field} is below {@code bound} (what the
   * resumed checkpoint holds) and drops the rest, so a run killed after its last checkpoint continues
   * one curve without repeated lines; with nothing to keep the log starts over.
   */
  static void keepLinesBelow(Path file, String field, long bound) throws IOException {
    List<String> kept = new ArrayList<>();
    if (Files.exists(file)) {
      for (String line : Files.readAllLines(file)) {
        if (!line.isBlank() && JSON.readTree(line).path(field).asLong(Long.MAX_VALUE) < bound) {
          kept.add(line);
        }
      }
    }
    Files.deleteIfExists(file);
    if (!kept.isEmpty()) {
      Files.write(file, kept);
    }
  }

  /** Where {@code distill.loss = okd} saves the teacher with its trained LoRA modules (a {@code LoraAdapter}). */
  public static final String ADAPTED_TEACHER = "teacher-lora";

  /** One line per epoch: the student's scores on the first held-out examples. */
  public static final String EVALUATION = "evaluation.jsonl";
  /** Held-out examples decoded after every epoch (the final evaluation uses distill.eval-examples). */
  static final int EPOCH_EVAL_EXAMPLES = 20;

  /**
   * After every epoch: greedy and beam BLEU/chrF, reference perplexity and KL(teacher ‖ student) on
   * the first {@value #EPOCH_EVAL_EXAMPLES} held-out examples (fewer if distill.eval-examples says so),
   * appended to {@code evaluation.jsonl} (which the caller has trimmed to the resumed checkpoint).
   */
  static ObjIntConsumer<LanguageModel> evaluateEachEpoch(Path file, List<Row> held, DistilleryConfig config, int k,
      LanguageModel teacher, Progress progress) {
    List<Row> rows = held.subList(0, Math.min(held.size(), Math.min(EPOCH_EVAL_EXAMPLES, config.distill().evalExamples())));
    return (model, epoch) -> {
      if (rows.isEmpty()) {
        return;
      }
      Scores s = scores("student after epoch " + epoch, model, rows, config, k, teacher, progress);
      Map<String, Object> line = new LinkedHashMap<>();
      line.put("epoch", epoch);
      line.put("examples", rows.size());
      line.put("greedyBleu", s.greedyBleu());
      line.put("greedyChrf", s.greedyChrf());
      line.put("beamBleu", s.beamBleu());
      line.put("beamChrf", s.beamChrf());
      line.put("referencePerplexity", s.referencePerplexity());
      line.put("bucketKl", s.bucketKl());
      line.put("vocabKl", s.vocabKl());
      line.put("eosArgmax", s.eosArgmax());
      try {
        Files.writeString(file, JSON.writeValueAsString(line) + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    };
  }

  /** Probe sequences per role for the learned gate's loss estimates. */
  static final int GATE_PROBES = 32;
  /** Learning rate of the gate's log-variances, one step per averaging round. */
  static final double GATE_RATE = 0.5;

  /**
   * The learned gate's update: after each averaging round, the student's mean loss per target token
   * on fixed probes of each role (token level: the divergence alone; sentence level: cross-entropy
   * on beam outputs) drives one step on {@code s1, s2}. On resume, the gate continues from the last
   * metrics line the resumed checkpoint kept.
   */
  static Consumer<ComputationGraph> learnGate(LossPlan.LearnedGate gate, JavaRDD<DistillExample> train, int k,
      Path metrics, boolean resume) throws IOException {
    if (resume && Files.exists(metrics)) {
      List<String> lines = Files.readAllLines(metrics);
      if (!lines.isEmpty()) {
        var s = JSON.readTree(lines.get(lines.size() - 1)).path("gate_s");
        gate.set(s.path(0).asDouble(0), s.path(1).asDouble(0));
      }
    }
    List<DistillExample> tokens = train.filter(e -> e.role() == DistillExample.Role.TOKEN).take(GATE_PROBES);
    List<DistillExample> sentences = train.filter(e -> e.role() == DistillExample.Role.SENTENCE).take(GATE_PROBES);
    LossPlan divergenceOnly = new LossPlan(new Objective.TokenKd(1.0));
    LossPlan crossEntropyOnly = new LossPlan(new Objective.SeqKd());
    if (tokens.isEmpty() || sentences.isEmpty()) {
      throw new IllegalStateException("Cannot learn the hybrid gate: no training sequences of one kind (token-level "
          + tokens.size() + ", sentence-level " + sentences.size() + ")");
    }
    return graph -> {
      double tokenLoss = perTargetToken(graph, DistillBatches.dataSet(tokens, divergenceOnly, k, 0), tokens);
      double sentenceLoss = perTargetToken(graph, DistillBatches.dataSet(sentences, crossEntropyOnly, k, 0), sentences);
      gate.update(tokenLoss, sentenceLoss, GATE_RATE);
    };
  }

  private static double perTargetToken(ComputationGraph graph, org.nd4j.linalg.dataset.DataSet batch,
      List<DistillExample> examples) {
    // DL4J's score: the loss summed over a sequence's positions, averaged over sequences.
    return graph.score(batch) * examples.size() / examples.stream().mapToLong(DistillExample::targetTokens).sum();
  }

  public static Summary run(SparkSession spark, DistilleryConfig config, Path targets, Path output, boolean resume,
      Path baseline, Progress progress) throws IOException {
    DistilleryConfig.Distill d = config.distill();
    Path modelDir = output.resolve("model");
    Path checkpoints = output.resolve("checkpoints");
    if (!resume && (Files.exists(modelDir) || Files.exists(checkpoints))) {
      throw new ConfigException("Cannot distill: output already holds a student or checkpoints "
          + "(pass --resume to continue it, or choose another directory): " + output);
    }
    dev.distillery.storage.StagedOutput.requireWritable("distill", output);
    if (resume || d.checkpointEvery() > 0) {
      dev.distillery.train.ResumeCheck.check("distill", checkpoints, config, resume, progress);
    }
    LanguageModel init = d.init().isEmpty() ? null : ModelBundle.load(Path.of(d.init()));
    Manifest manifest = Targets.open(targets, d.topK(), init == null ? null : init.tokenizer());
    spark.sparkContext().setJobDescription("Verify " + targets + " against its manifest");
    dev.distillery.prepare.TargetsCheck.verify(spark, targets, manifest, "distill");
    int k = d.topK() == 0 ? manifest.topK() : d.topK();
    TextTokenizer tokenizer = TextTokenizer.load(targets.resolve(PreparePipeline.TOKENIZER));
    LossPlan plan = LossPlan.of(d);
    progress.line("distill %s from %s: %d examples, teacher top-%d of %d stored, loss %s", output, targets,
        manifest.rows(), k, manifest.topK(), d.objective().name());

    boolean okd = d.objective() instanceof Objective.Online;
    BucketLoss loss = new BucketLoss(Divergence.of(d.objective()), d.temperature(),
        d.objective() instanceof Objective.FDivergence f ? f.weight() : 0.5);
    LanguageModel student = LanguageModel.create(d.student(), tokenizer, config.train().seed(),
        dev.distillery.model.Updates.of(config.train()), OutputHead.logits(loss));
    OkdRun online = okd ? OkdRun.open(manifest, d, config.train(), tokenizer, progress) : null;
    if (init != null) {
      if (init.graph().numParams() != student.graph().numParams()) {
        throw new ConfigException("Cannot distill: distill.init has " + init.graph().numParams()
            + " parameters but distill.student describes " + student.graph().numParams() + ": " + d.init());
      }
      student.graph().setParams(init.graph().params());
    }
    long params = student.graph().numParams();
    progress.line("student: %s, %d parameters%s", d.student(), params,
        init == null ? "" : ", initialized from " + d.init());
    long trained = okd ? online.pair().numParams() : params;
    // Per parameter: weights, gradients, Adam's two moments and the copy parameter averaging ships.
    ExecutorMemory.require(spark.sparkContext(), "distill", (okd ? "the teacher and student" : "the student")
        + " (" + trained + " parameters x 20 bytes: weights, gradients, Adam state, averaging copy)", trained * 20,
        " or shrink distill.student");

    spark.sparkContext().setJobDescription("Read targets " + targets);
    Dataset<Row> rows = spark.read().parquet(targets.toString());
    double fraction = config.corpus().validationFraction();
    Targets.Expander expander = new Targets.Expander(plan, k);
    JavaRDD<DistillExample> train = rows.toJavaRDD()
        .filter(r -> !Tokenization.isValidation(r.getAs("id"), fraction))
        .flatMap(r -> expander.expand(r).iterator());
    List<Row> held = rows.toJavaRDD().filter(r -> Tokenization.isValidation(r.getAs("id"), fraction)).collect();
    held = new ArrayList<>(held);
    held.sort(java.util.Comparator.comparing(r -> r.<String>getAs("id")));
    List<TokenizedExample> validation = held.stream().map(Targets.Expander::reference).toList();

    LanguageModel liveTeacher = liveTeacher(manifest, progress);
    Files.createDirectories(output);
    Path metrics = output.resolve("metrics.jsonl");
    Path evaluation = output.resolve(EVALUATION);
    Optional<Checkpoint> resumed = Optional.empty();
    Optional<Path> latest = resume ? Checkpoint.latest(checkpoints, progress::line) : Optional.empty();
    if (latest.isPresent()) {
      resumed = Optional.of(Checkpoint.readState(latest.get()));
    }
    // A checkpoint holds steps 1..step and the epochs before the one it was written in.
    keepLinesBelow(metrics, "step", resumed.map(c -> c.step() + 1).orElse(0L));
    keepLinesBelow(evaluation, "epoch", resumed.map(c -> (long) c.epoch()).orElse(0L));
    Consumer<ComputationGraph> afterRound = graph -> { };
    if (plan.learned() != null) {
      afterRound = learnGate(plan.learned(), train, k, metrics, resume);
    }
    SparkTrainer.BatchEncoder<DistillExample> encoder = DistillBatches.encoder(plan, k);
    if (okd) {
      encoder = (batch, done) -> dev.distillery.okd.OnlineKd.dataSet(batch);
      afterRound = online.afterRound(train);
    }
    if (d.onPolicy()) {
      // On-policy: each round samples from the student as averaged after the previous round.
      StudentPrefixes.Snapshot snapshot = new StudentPrefixes.Snapshot(student);
      encoder = new StudentPrefixes(plan, k, manifest.teacher(), config, snapshot);
      afterRound = afterRound.andThen(snapshot::update);
      progress.line("prefixes: sampled from the student every round, scored by the live teacher %s", manifest.teacher());
    }
    SparkTrainer.Options options = new SparkTrainer.Options(checkpoints, d.checkpointEvery(), d.keepCheckpoints(),
        resume, m -> {
      m.put("loss_name", d.objective().name());
      if (d.objective() instanceof Objective.Hybrid) {
        m.put("gate", plan.gate((Double) m.get("progress")));
      }
      if (plan.learned() != null) {
        m.put("gate_s", List.of(plan.learned().s1(), plan.learned().s2()));
      }
      if (online != null) {
        online.metrics(m);
      }
      try {
        Files.writeString(metrics, JSON.writeValueAsString(m) + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }, config.hash(), afterRound, evaluateEachEpoch(evaluation, held, config, k, liveTeacher, progress));
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    SparkTrainer.Result result = okd
        ? SparkTrainer.train(jsc, online.pair(), online::student, train, validation, config.train(),
            config.spark().partitions(), progress, encoder, options)
        : SparkTrainer.train(jsc, student, train, validation, config.train(), config.spark().partitions(), progress,
            encoder, options);

    Map<String, Object> provenance = Provenance.base();
    provenance.put("job", "distill");
    provenance.put("targets", targets.toString());
    provenance.put("teacherFingerprint", manifest.teacherFingerprint());
    provenance.put("loss", d.objective().name());
    provenance.put("topK", k);
    provenance.put("steps", result.steps());
    provenance.put("validationLoss", result.validationLoss());
    provenance.put("init", d.init());
    ModelBundle.save(modelDir, result.model(), config, provenance);
    LanguageModel adapted = null;
    if (okd) {
      adapted = online.saveAdapted(result.network(), output.resolve(ADAPTED_TEACHER), provenance);
      progress.line("adapted teacher: base %s plus LoRA modules in %s", manifest.teacher(), output.resolve(ADAPTED_TEACHER));
    }

    // Evaluation beside the teacher (its stored beam outputs) and the baseline.
    List<Row> evalRows = held.subList(0, Math.min(held.size(), d.evalExamples()));
    List<Scores> table = new ArrayList<>();
    table.add(liveTeacher != null
        ? scores("teacher", liveTeacher, evalRows, config, k, liveTeacher, progress)
        : storedTeacherScores(evalRows, tokenizer));
    if (adapted != null) {
      table.add(scores("adapted teacher", adapted, evalRows, config, k, liveTeacher, progress));
    }
    table.add(scores("student (" + d.objective().name() + ")", result.model(), evalRows, config, k, liveTeacher, progress));
    if (baseline != null) {
      table.add(scores("baseline", ModelBundle.load(baseline), evalRows, config, k, liveTeacher, progress));
    }
    progress.line("%n%-22s %9s %9s %9s %9s %10s %10s %10s %9s", "system", "greedy BLEU", "chrF", "beam BLEU", "chrF",
        "ref ppl", "bucket KL", "vocab KL", "</s> top");
    for (Scores s : table) {
      progress.line("%-22s %9s %9s %9.2f %9.2f %10.2f %10.4f %10s %9s", s.system(), fmt(s.greedyBleu()),
          fmt(s.greedyChrf()), s.beamBleu(), s.beamChrf(), s.referencePerplexity(), s.bucketKl(), fmt4(s.vocabKl()),
          fmt(100 * s.eosArgmax()) + "%");
    }
    Summary summary = new Summary(modelDir, table, result.validationLoss(), result.steps(), result.seconds(),
        result.tokensPerSecond());
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("loss", d.objective().name());
    json.put("evalExamples", evalRows.size());
    json.put("table", table);
    json.put("validationLoss", result.validationLoss());
    json.put("steps", result.steps());
    json.put("trainSeconds", result.seconds());
    json.put("tokensPerSecond", result.tokensPerSecond());
    Provenance.writeJson(output.resolve("summary.json"), json);
    Report.write(output.resolve("report.html"), d.objective().name(), metrics, table);
    progress.line("distill done: student in %s, report %s", modelDir, output.resolve("report.html"));
    return summary;
  }

  /**
   * The teacher, loaded on the driver to be decoded and compared like any model, when it is a
   * Distillery model directory; null for other teachers (an ONNX export), whose row then comes from
   * the stored targets.
   */
  private static LanguageModel liveTeacher(Manifest manifest, Progress progress) {
    Path dir = Path.of(manifest.teacher());
    if (!Files.isRegularFile(dir.resolve(ModelBundle.META_FILE))) {
      progress.line("teacher %s is not a Distillery model directory here: its row uses the stored beam outputs, "
          + "and the full-vocabulary KL is not computed", dir);
      return null;
    }
    try {
      return ModelBundle.load(dir);
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException("Cannot load the teacher for evaluation: " + e.getMessage() + ": " + dir, e);
    }
  }

  /** The teacher's row from the targets alone: its stored beam outputs and reference log-likelihoods. */
  private static Scores storedTeacherScores(List<Row> rows, TextTokenizer tok) {
    List<String> hyps = new ArrayList<>(), refs = new ArrayList<>();
    double ll = 0;
    long positions = 0;
    for (Row r : rows) {
      Row beam = r.getAs("beam");
      hyps.add(tok.decode(Targets.ints(beam.getList(0))));
      refs.add(r.getAs("target"));
    }
    for (Row r : rows) {
      Row ref = r.getAs("reference");
      ll += ref.getDouble(1);
      positions += ref.getList(0).size() + 1;
    }
    return new Scores("teacher (stored)", Double.NaN, Double.NaN, Bleu.corpus(hyps, refs).score(),
        Chrf.corpus(hyps, refs), Math.exp(-ll / Math.max(1, positions)), 0.0, 0.0, Double.NaN);
  }

  private static Scores scores(String name, LanguageModel model, List<Row> rows, DistilleryConfig config, int k,
      LanguageModel teacher, Progress progress) {
    List<int[]> prompts = new ArrayList<>();
    List<String> refs = new ArrayList<>();
    List<TokenizedExample> refSeqs = new ArrayList<>();
    for (Row r : rows) {
      TokenizedExample e = Targets.Expander.reference(r);
      refSeqs.add(e);
      prompts.add(e.prompt());
      refs.add(r.getAs("target"));
    }
    Decoder decoder = new Decoder(model, config.decode());
    List<String> greedy = decode(model, decoder.greedy(prompts));
    List<String> beam = decode(model, decoder.beam(prompts, config.decode().beamWidth()));
    double ce = model.targetCrossEntropy(refSeqs, 32)[0];
    double kl = teacherKl(model, rows, k);
    double[] live = againstTeacher(model, teacher, refSeqs);
    progress.line("evaluated %s on %d held-out examples", name, rows.size());
    return new Scores(name, Bleu.corpus(greedy, refs).score(), Chrf.corpus(greedy, refs),
        Bleu.corpus(beam, refs).score(), Chrf.corpus(beam, refs), Math.exp(ce), kl, live[0], live[1]);
  }

  /**
   * Along the references: the mean full-vocabulary KL(teacher ‖ model) per target position (NaN
   * without a teacher) and the fraction of target positions, the last excepted, where the model's
   * argmax is {@code </s>}.
   */
  static double[] againstTeacher(LanguageModel model, LanguageModel teacher, List<TokenizedExample> refs) {
    double kl = 0;
    long klPositions = 0, early = 0, positions = 0;
    for (int from = 0; from < refs.size(); from += 32) {
      List<TokenizedExample> batch = refs.subList(from, Math.min(refs.size(), from + 32));
      List<int[]> rows = batch.stream().map(TokenizedExample::tokens).toList();
      INDArray s = model.logProbs(rows).permute(0, 2, 1).dup('c'); // [rows, time, vocab]
      INDArray t = teacher == null ? null : teacher.logProbs(rows).permute(0, 2, 1).dup('c');
      for (int i = 0; i < batch.size(); i++) {
        int[] tokens = batch.get(i).tokens();
        for (int pos = batch.get(i).targetStart() - 1; pos < tokens.length - 1; pos++) {
          INDArray sv = s.get(org.nd4j.linalg.indexing.NDArrayIndex.point(i),
              org.nd4j.linalg.indexing.NDArrayIndex.point(pos), org.nd4j.linalg.indexing.NDArrayIndex.all());
          if (pos < tokens.length - 2) {
            positions++;
            if (sv.argMax().getInt(0) == dev.distillery.tokenizer.TextTokenizer.EOS) {
              early++;
            }
          }
          if (t != null) {
            INDArray tv = t.get(org.nd4j.linalg.indexing.NDArrayIndex.point(i),
                org.nd4j.linalg.indexing.NDArrayIndex.point(pos), org.nd4j.linalg.indexing.NDArrayIndex.all());
            kl += org.nd4j.linalg.ops.transforms.Transforms.exp(tv, true).muli(tv.sub(sv)).sumNumber().doubleValue();
            klPositions++;
          }
        }
      }
    }
    return new double[] {klPositions == 0 ? Double.NaN : kl / klPositions,
        positions == 0 ? Double.NaN : (double) early / positions};
  }

  /** Mean KL(teacher ‖ model) per reference position, on the k+1 buckets stored for the teacher. */
  static double teacherKl(LanguageModel model, List<Row> rows, int k) {
    Targets.Expander expander = new Targets.Expander(new LossPlan(new Objective.TokenKd(1.0)), k);
    BucketLoss kl = new BucketLoss(Divergence.KL, 1.0, 0.5);
    double sum = 0;
    long count = 0;
    int width = CompactLabels.width(k);
    for (Row r : rows) {
      DistillExample e = expander.expand(r).get(0);
      INDArray lp = model.logProbs(List.of(e.tokens())).permute(0, 2, 1).dup('c'); // [1, time, vocab]
      int vocab = (int) lp.size(2);
      int positions = e.targetTokens();
      float[] all = lp.data().asFloat();
      float[] logits = new float[positions * vocab];
      System.arraycopy(all, (e.targetStart() - 1) * vocab, logits, 0, positions * vocab);
      float[] labels = e.labels().clone();
      for (int p = 0; p < positions; p++) {
        labels[p * width + CompactLabels.W_CE] = 0;
        labels[p * width + CompactLabels.W_DIV] = 1;
      }
      for (double v : kl.rows(logits, labels, null, positions, vocab, k, null)) {
        sum += v;
        count++;
      }
    }
    return count == 0 ? Double.NaN : sum / count;
  }

  private static List<String> decode(LanguageModel model, List<Hypothesis> hyps) {
    return hyps.stream().map(h -> model.tokenizer().decode(h.tokens())).toList();
  }

  static String fmt(double v) {
    return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.2f", v);
  }

  static String fmt4(double v) {
    return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.4f", v);
  }
}
