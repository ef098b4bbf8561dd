package dev.distillery.distill;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.Objective;
import dev.distillery.loss.DistillExample;
import java.io.Serializable;
import java.util.List;

/**
 * Which sequences each loss trains on and how its parts are weighted (the papers are cited per loss):
 *
 * <ul>
 *   <li>{@code ce}: references, cross-entropy — the reference-only baseline.
 *   <li>{@code kl}: references, {@code (1−λ)·CE + λ·KL(p‖q)} (Kim &amp; Rush 2016, token-level KD).
 *   <li>{@code uld}: references, {@code (1−λ)·CE + λ·ULD} (Boizard et al. 2024: sorted top-k, no shared vocabulary).
 *   <li>{@code seqkd}: the teacher's beam outputs, cross-entropy (sentence-level KD).
 *   <li>{@code hybrid}: {@code g·KL on references + (1−g)·CE on beam outputs} (Wei et al. 2024), g
 *       fixed, scheduled from 1 (token level) to 0 (sentence level) over training, or learned: the
 *       two losses weighted {@code e^{−s1}} and {@code e^{−s2}} with {@code s1, s2} trained on
 *       {@code e^{−s1}·L_tok + e^{−s2}·L_sent + s1 + s2} (uncertainty weighting; a free gate on the
 *       plain mixture would collapse onto the smaller loss), {@code g = e^{−s1}/(e^{−s1}+e^{−s2})}.
 *   <li>{@code rkl}, {@code js}, {@code tvd}: the divergence on teacher prefixes — the stored samples,
 *       or the beam output when no samples were stored (Wen et al. 2023, f-DISTILL, offline).
 *   <li>{@code okd}: references; the live teacher's LoRA modules and the student train together
 *       (Rao et al. 2024; see {@code dev.distillery.okd.OnlineKd}), so no stored distribution is read.
 * </ul>
 */
public record LossPlan(Objective objective, LearnedGate learned) implements Serializable {
  public LossPlan(Objective objective) {
    this(objective, objective instanceof Objective.Hybrid h && h.gate() instanceof Objective.Gate.Learned
        ? new LearnedGate() : null);
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

    public double gate() {
      return Math.exp(-s1) / (Math.exp(-s1) + Math.exp(-s2));
    }
  }

  /** The roles a targets row is expanded into, in order. */
  public List<DistillExample.Role> roles() {
    if (objective instanceof Objective.TokenKd || objective instanceof Objective.Uld) {
      return List.of(DistillExample.Role.TOKEN);
    } else if (objective instanceof Objective.SeqKd) {
      return List.of(DistillExample.Role.SENTENCE);
    } else if (objective instanceof Objective.Hybrid) {
      return List.of(DistillExample.Role.TOKEN, DistillExample.Role.SENTENCE);
    } else if (objective instanceof Objective.FDivergence) {
      return List.of(DistillExample.Role.DIVERGENCE);
    }
    return List.of(DistillExample.Role.REFERENCE); // ce, and okd (whose teacher is live)
  }

  /**
   * Whether the objective's loss means the same thing at every point of training, so that its value on
   * held-out targets can rank epochs: not for a scheduled or learned hybrid gate (the weights move) nor
   * okd (its loss lives in the teacher-and-student graph).
   */
  public boolean comparableAcrossEpochs() {
    if (objective instanceof Objective.Online) {
      return false;
    }
    return !(objective instanceof Objective.Hybrid h) || h.gate() instanceof Objective.Gate.Fixed;
  }

  /** The hybrid gate g at this point of training (fraction done in [0, 1]); 0 for other objectives. */
  public double gate(double progress) {
    if (!(objective instanceof Objective.Hybrid h)) {
      return 0;
    }
    if (h.gate() instanceof Objective.Gate.Fixed f) {
      return f.value();
    }
    return h.gate() instanceof Objective.Gate.Scheduled ? 1.0 - progress : learned.gate();
  }

  /** {@code {w_ce, w_div}} for a sequence of this role at this point of training. */
  public float[] weights(DistillExample.Role role, double progress) {
    boolean hybrid = objective instanceof Objective.Hybrid;
    double g = gate(progress);
    double kdWeight = objective instanceof Objective.TokenKd t ? t.kdWeight()
        : objective instanceof Objective.Uld u ? u.kdWeight() : 0;
    return switch (role) {
      case REFERENCE -> new float[] {1, 0};
      case TOKEN -> hybrid
          ? new float[] {0, (float) (learned != null ? Math.exp(-learned.s1()) : g)}
          : new float[] {(float) (1 - kdWeight), (float) kdWeight};
      case SENTENCE -> new float[] {hybrid ? (float) (learned != null ? Math.exp(-learned.s2()) : 1 - g) : 1, 0};
      case DIVERGENCE -> new float[] {0, 1};
    };
  }
}
