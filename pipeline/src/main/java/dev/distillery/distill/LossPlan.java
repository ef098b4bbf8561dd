package dev.distillery.distill;

import dev.distillery.config.DistilleryConfig;
import java.io.Serializable;
import java.util.List;

/**
 * Which sequences each loss trains on and how its parts are weighted (docs METHODS):
 *
 * <ul>
 *   <li>{@code ce}: references, cross-entropy — the reference-only baseline.
 *   <li>{@code kl}: references, {@code (1−λ)·CE + λ·KL(p‖q)} (Kim &amp; Rush 2016, token-level KD).
 *   <li>{@code seqkd}: the teacher's beam outputs, cross-entropy (sentence-level KD).
 *   <li>{@code hybrid}: {@code g·KL on references + (1−g)·CE on beam outputs} (Wei et al. 2024), g
 *       fixed or scheduled from 1 (token level) to 0 (sentence level) over training.
 *   <li>{@code rkl}, {@code js}, {@code tvd}: the divergence on teacher prefixes — the stored samples,
 *       or the beam output when no samples were stored (Wen et al. 2023, f-DISTILL, offline).
 * </ul>
 */
public record LossPlan(String loss, double kdWeight, String gate, double gateValue) implements Serializable {
  public static LossPlan of(DistilleryConfig.Distill d) {
    return new LossPlan(d.loss(), d.kdWeight(), d.gate(), d.gateValue());
  }

  /** The roles a targets row is expanded into, in order. */
  public List<DistillExample.Role> roles() {
    return switch (loss) {
      case "ce" -> List.of(DistillExample.Role.REFERENCE);
      case "kl" -> List.of(DistillExample.Role.TOKEN);
      case "seqkd" -> List.of(DistillExample.Role.SENTENCE);
      case "hybrid" -> List.of(DistillExample.Role.TOKEN, DistillExample.Role.SENTENCE);
      default -> List.of(DistillExample.Role.DIVERGENCE);
    };
  }

  /** The hybrid gate g at this point of training (fraction done in [0, 1]). */
  public double gate(double progress) {
    return gate.equals("scheduled") ? 1.0 - progress : gateValue;
  }

  /** {@code {w_ce, w_div}} for a sequence of this role at this point of training. */
  public float[] weights(DistillExample.Role role, double progress) {
    boolean hybrid = loss.equals("hybrid");
    double g = gate(progress);
    return switch (role) {
      case REFERENCE -> new float[] {1, 0};
      case TOKEN -> hybrid ? new float[] {0, (float) g} : new float[] {(float) (1 - kdWeight), (float) kdWeight};
      case SENTENCE -> new float[] {hybrid ? (float) (1 - g) : 1, 0};
      case DIVERGENCE -> new float[] {0, 1};
    };
  }
}
