package dev.distillery.distill;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.Objective;
import dev.distillery.loss.DistillExample;
import dev.distillery.model.LanguageModel;
import dev.distillery.okd.OkdRun;
import dev.distillery.okd.OnlineKd;
import dev.distillery.prepare.Manifest;
import dev.distillery.storage.Location;
import dev.distillery.train.SparkTrainer;
import dev.distillery.util.Progress;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.util.LongAccumulator;
import org.deeplearning4j.nn.graph.ComputationGraph;

/**
 * What the training loop does differently for each objective, decided once: how a minibatch becomes
 * a DL4J DataSet, what the driver does after each averaging round, and which fields each line of
 * {@code metrics.jsonl} carries besides the trainer's own.
 *
 * <ul>
 *   <li>every objective: the stored sequences its {@link Objective#roles} name, weighted by
 *       {@link Objective#weights} ({@link DistillBatches});
 *   <li>a learned hybrid gate: one update of its log-variances per round ({@link LearnedGateDriver});
 *       metrics {@code gate}, {@code gateLogVariances};
 *   <li>{@code okd}: the pair graph's minibatches, the frozen teacher checked after each round ({@link
 *       OkdRun}); metrics {@code teacherLoss}, {@code studentKl}, {@code teacherCe}, {@code baseRestored};
 *   <li>{@code prefix = student}: prefixes sampled from the student of the previous round and scored by
 *       the live teacher ({@link StudentPrefixes}); metrics {@code prefixesSampled}.
 * </ul>
 *
 * @param encoder turns a minibatch of expanded targets rows into a DataSet on the executors
 * @param afterRound runs on the driver after each averaging round with the averaged graph
 * @param metrics called with each progress line before it is appended to {@code metrics.jsonl}
 */
record TrainingHooks(SparkTrainer.BatchEncoder<DistillExample> encoder, Consumer<ComputationGraph> afterRound,
    Consumer<Map<String, Object>> metrics) {
  private static final ObjectMapper JSON = dev.distillery.util.Json.MAPPER;

  /**
   * @param plan the objective and its learned gate's state
   * @param student the freshly built student (on-policy prefixes are sampled from its averaged copies)
   * @param online the online-KD run when the objective is {@code okd}, else null
   * @param train the expanded training sequences (the learned gate and OKD draw their probes from them)
   * @param metricsFile {@code metrics.jsonl}; on resume the learned gate continues from its last line
   */
  static TrainingHooks of(LossPlan plan, int k, DistilleryConfig config, Manifest manifest, LanguageModel student,
      OkdRun online, JavaRDD<DistillExample> train, Location metricsFile, boolean resume, Progress progress)
      throws IOException {
    Objective objective = plan.objective();
    SparkTrainer.BatchEncoder<DistillExample> encoder = DistillBatches.encoder(plan, k);
    Consumer<ComputationGraph> afterRound = graph -> { };
    if (plan.learned() != null) {
      afterRound = LearnedGateDriver.learnGate(plan.learned(), train, k, metricsFile, resume);
    }
    if (online != null) {
      encoder = (batch, done) -> OnlineKd.dataSet(batch);
      afterRound = online.afterRound(train);
    }
    LongAccumulator sampled = null;
    if (config.distill().onPolicy()) {
      // On-policy: each round samples from the student as averaged after the previous round.
      sampled = train.context().longAccumulator("on-policy prefixes");
      StudentPrefixes.Snapshot snapshot = new StudentPrefixes.Snapshot(student);
      encoder = new StudentPrefixes(plan, k, manifest.teacher(), config, snapshot, sampled);
      afterRound = afterRound.andThen(snapshot::update);
      progress.line("prefixes: sampled from the student every round, scored by the live teacher %s",
          manifest.teacher());
    }
    LongAccumulator prefixes = sampled;
    Consumer<Map<String, Object>> fields = m -> {
      m.put("lossName", objective.name());
      if (prefixes != null) {
        m.put("prefixesSampled", prefixes.value());
      }
      if (objective instanceof Objective.Hybrid) {
        m.put("gate", plan.gate((Double) m.get("progress")));
      }
      if (plan.learned() != null) {
        m.put("gateLogVariances", List.of(plan.learned().s1(), plan.learned().s2()));
      }
      if (online != null) {
        online.metrics(m);
      }
    };
    return new TrainingHooks(encoder, afterRound, m -> {
      fields.accept(m);
      try {
        metricsFile.appendLine(JSON.writeValueAsString(m));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }
}
