package dev.distillery.distill;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.Objective;
import dev.distillery.loss.DistillExample;
import dev.distillery.storage.Location;
import java.io.IOException;
import java.util.List;
import java.util.function.Consumer;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.graph.ComputationGraph;

/** The driver's side of the hybrid's learned gate ({@link LossPlan.LearnedGate}): one update per averaging round. */
final class LearnedGateDriver {
  private static final ObjectMapper JSON = new ObjectMapper();

  private LearnedGateDriver() {}

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
      Location metrics, boolean resume) throws IOException {
    if (resume) {
      List<String> lines = metrics.readLines();
      if (!lines.isEmpty()) {
        var s = JSON.readTree(lines.get(lines.size() - 1)).path("gateLogVariances");
        gate.set(s.path(0).asDouble(0), s.path(1).asDouble(0));
      }
    }
    List<DistillExample> tokens = train.filter(e -> e.role() == Objective.Role.TOKEN).take(GATE_PROBES);
    List<DistillExample> sentences = train.filter(e -> e.role() == Objective.Role.SENTENCE).take(GATE_PROBES);
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
}
