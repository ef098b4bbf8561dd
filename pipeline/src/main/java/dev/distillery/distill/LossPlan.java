package dev.distillery.distill;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.Objective;
import java.io.Serializable;
import java.util.List;

/**
 * The training objective with what it learns on the way: the hybrid's learned gate, whose state moves
 * between averaging rounds. Which sequences each objective trains on and how their cross-entropy and
 * divergence terms are weighted is the objective's own ({@link Objective#roles},
 * {@link Objective#weights}); this record only supplies the training progress and the gate's state.
 */
public record LossPlan(Objective objective, LearnedGate learned) implements Serializable {
  public LossPlan(Objective objective) {
    this(objective, objective.learnsGate() ? new LearnedGate() : null);
  }

  public static LossPlan of(DistilleryConfig.Distill d) {
    return new LossPlan(d.objective());
  }

  /**
   * The learned gate's log-variances {@code s1} (token level) and {@code s2} (sentence level). Updated
   * on the driver between averaging rounds, from the student's current losses on fixed probe
   * sequences: {@code ∂/∂s_i (e^{−s_i}·L_i + s_i) = 1 − e^{−s_i}·L_i}, so {@code e^{−s_i}} tends
   * to {@code 1/L_i} and neither loss drowns the other. Travels to executors inside the plan, which
   * Spark serializes afresh with every round's tasks.
   */
  public static final class LearnedGate implements Serializable {
    private double s1;
    private double s2;

    public double s1() {
      return s1;
    }

    public double s2() {
      return s2;
    }

    public void set(double s1, double s2) {
      this.s1 = s1;
      this.s2 = s2;
    }

    /** One gradient step with learning rate {@code rate} given the current token- and sentence-level losses. */
    public void update(double tokenLoss, double sentenceLoss, double rate) {
      s1 -= rate * (1 - Math.exp(-s1) * tokenLoss);
      s2 -= rate * (1 - Math.exp(-s2) * sentenceLoss);
    }
  }

  /** The roles a targets row is expanded into, in order. */
  public List<Objective.Role> roles() {
    return objective.roles();
  }

  /** Whether the objective's loss on held-out targets can rank epochs ({@link Objective#comparableAcrossEpochs}). */
  public boolean comparableAcrossEpochs() {
    return objective.comparableAcrossEpochs();
  }

  /** The hybrid gate g at this point of training (fraction done in [0, 1]); 0 for other objectives. */
  public double gate(double progress) {
    return objective.gate(state(progress));
  }

  /** {@code {w_ce, w_div}} for a sequence of this role at this point of training. */
  public float[] weights(Objective.Role role, double progress) {
    return objective.weights(role, state(progress));
  }

  private Objective.GateState state(double progress) {
    return learned == null ? new Objective.GateState(progress, 0, 0)
        : new Objective.GateState(progress, learned.s1(), learned.s2());
  }
}
