package dev.distillery.distill;

import dev.distillery.config.ConfigException;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.Objective;
import dev.distillery.config.StudentTokenizer;
import dev.distillery.corpus.Tokenization;
import dev.distillery.loss.BucketLoss;
import dev.distillery.loss.DistillExample;
import dev.distillery.loss.Divergence;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.model.OutputHead;
import dev.distillery.model.TokenizedExample;
import dev.distillery.okd.OkdRun;
import dev.distillery.prepare.Manifest;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.spark.ExecutorMemory;
import dev.distillery.storage.Location;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.tokenizer.TokenBridge;
import dev.distillery.train.Checkpoint;
import dev.distillery.train.SparkTrainer;
import dev.distillery.util.Progress;
import dev.distillery.util.Provenance;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * {@code distill}: a student trained from prepare's targets with the configured loss (see
 * {@link LossPlan}) through Spark parameter averaging, checkpointed and resumable, then evaluated
 * beside the teacher (and a baseline student when given): BLEU and chrF of greedy and beam outputs,
 * reference perplexity, and the teacher–student divergence on held-out positions.
 *
 * <p>Output: {@code model/} (a model directory with provenance), {@code metrics.jsonl} (one line per
 * progress step: step, loss, gate, tokens/s), {@code checkpoints/}, {@code summary.json} and
 * {@code report.html} (loss curve and the comparison table).
 *
 * <p>This class wires the run; the pieces with a job of their own live beside it: {@link Targets}
 * (opening and verifying the targets, rows into sequences), {@link StudentVocabulary} (a student
 * tokenizer of its own), {@link LossPlan} (the objective with its learned gate's state), {@link
 * TrainingHooks} (what the training loop does per objective: encoder, work between rounds, metrics
 * fields), {@link RunLogs} (the logs across a resume), {@link StudentEvaluation} (the scores) and
 * {@link StudentReport} (console table, {@code summary.json}, {@code report.html}).
 */
public final class DistillPipeline {
  private DistillPipeline() {}

  public record Summary(Location student, List<SystemScores> table, List<Double> validationLoss, long steps, double seconds,
      double tokensPerSecond) {}

  /** Where {@code distill.loss = okd} saves the teacher with its trained LoRA modules (a {@code LoraAdapter}). */
  public static final String ADAPTED_TEACHER = "teacher-lora";

  /** One line per progress step: the trainer's fields plus the objective's ({@link TrainingHooks}). */
  public static final String METRICS = "metrics.jsonl";

  /** One line per epoch: the student's scores on the first held-out examples. */
  public static final String EVALUATION = "evaluation.jsonl";

  public static Summary run(SparkSession spark, DistilleryConfig config, Path targets, Path output, boolean resume,
      Path baseline, Progress progress) throws IOException {
    return run(spark, config, Location.of(targets), Location.of(output), resume,
        baseline == null ? null : Location.of(baseline), progress);
  }

  /** Distills a student from {@code targets} into {@code output}; every location on any file system. */
  public static Summary run(SparkSession spark, DistilleryConfig config, Location targets, Location output,
      boolean resume, Location baseline, Progress progress) throws IOException {
    DistilleryConfig.Distill d = config.distill();
    Location modelDir = output.resolve("model");
    Location checkpoints = output.resolve("checkpoints");
    if (!resume && (modelDir.exists() || !Checkpoint.complete(checkpoints).isEmpty())) {
      throw new ConfigException("Cannot distill: output already holds a student or checkpoints "
          + "(pass --resume to continue it, or choose another directory): " + output);
    }
    dev.distillery.storage.StagedOutput.requireWritable("distill", output);
    if (resume) {
      dev.distillery.train.ResumeCheck.check("distill", checkpoints, config, progress);
    }
    LanguageModel init = d.init().isEmpty() ? null : ModelBundle.load(Location.of(d.init()));
    boolean ownVocabulary = !(d.studentTokenizer() instanceof StudentTokenizer.Teacher);
    Manifest manifest = Targets.open(targets, d.topK(), init == null || ownVocabulary ? null : init.tokenizer());
    spark.sparkContext().setJobDescription("Verify " + targets + " against its manifest");
    dev.distillery.prepare.TargetsCheck.verify(spark, targets, manifest, "distill");
    int k = d.topK() == 0 ? manifest.topK() : d.topK();
    TextTokenizer teacherTokenizer = TextTokenizer.load(targets.resolve(PreparePipeline.TOKENIZER));
    LossPlan plan = LossPlan.of(d);
    progress.line("distill %s from %s: %d examples, teacher top-%d of %d stored, loss %s", output, targets,
        manifest.rows(), k, manifest.topK(), d.objective().name());
    spark.sparkContext().setJobDescription("Read targets " + targets);
    Dataset<Row> rows = spark.read().parquet(targets.toString());
    TokenBridge bridge = ownVocabulary ? StudentVocabulary.bridge(rows, config, teacherTokenizer, init,
        checkpoints.resolve(StudentVocabulary.SAVED), resume, progress) : null;
    TextTokenizer tokenizer = bridge == null ? teacherTokenizer : bridge.student();

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

    double fraction = config.corpus().validationFraction();
    Targets.Expander expander = new Targets.Expander(plan, k, bridge);
    JavaRDD<DistillExample> train = rows.toJavaRDD()
        .filter(r -> !Tokenization.isValidation(r.getAs("id"), fraction))
        .flatMap(r -> expander.expand(r).iterator());
    List<Row> held = rows.toJavaRDD().filter(r -> Tokenization.isValidation(r.getAs("id"), fraction)).collect();
    held = new ArrayList<>(held);
    held.sort(java.util.Comparator.comparing(r -> r.<String>getAs("id")));
    List<TokenizedExample> validation = held.stream().map(expander::studentReference).toList();
    TokenBridge.Alignment alignment = bridge == null ? null : StudentVocabulary.alignment(held, bridge, k, progress);

    LanguageModel liveTeacher = StudentEvaluation.liveTeacher(manifest, progress);
    output.mkdirs();
    Location metrics = output.resolve(METRICS);
    Location evaluation = output.resolve(EVALUATION);
    RunLogs.trimToCheckpoint(checkpoints, resume, metrics, evaluation, progress);
    TrainingHooks hooks = TrainingHooks.of(plan, k, config, manifest, student, online, train, metrics, resume, progress);
    SparkTrainer.Options options = new SparkTrainer.Options(checkpoints, d.checkpointEvery(), d.keepCheckpoints(),
        resume, hooks.metrics(), config.hash(), hooks.afterRound(),
        StudentEvaluation.evaluateEachEpoch(evaluation, held, config, k, liveTeacher, bridge, progress));
    if (plan.comparableAcrossEpochs()) {
      options = options.withHeldOut(DistillBatches.heldOutLoss(held, expander, plan, k, d.objective().name()));
    }
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    if (d.checkpointEvery() > 0) {
      dev.distillery.train.ResumeCheck.record(checkpoints, config);
    }
    SparkTrainer.Result result = okd
        ? SparkTrainer.train(jsc, online.pair(), online::student, train, validation, config.train(),
            config.spark().partitions(), progress, hooks.encoder(), options)
        : SparkTrainer.train(jsc, student, train, validation, config.train(), config.spark().partitions(), progress,
            hooks.encoder(), options);

    Map<String, Object> provenance = Provenance.base();
    provenance.put("job", "distill");
    provenance.put("targets", targets.uri());
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
    List<SystemScores> table = StudentEvaluation.compare(evalRows, "student (" + d.objective().name() + ")",
        result.model(), adapted, baseline, liveTeacher, manifest, teacherTokenizer, config, k, bridge, progress);
    Summary summary = new Summary(modelDir, table, result.validationLoss(), result.steps(), result.seconds(),
        result.tokensPerSecond());
    StudentReport.write(output, d.objective().name(), evalRows.size(), table, result, bridge, alignment,
        progress);
    progress.line("distill done: student in %s, report %s", modelDir, output.resolve(StudentReport.REPORT));
    return summary;
  }

}
