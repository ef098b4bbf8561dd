package dev.distillery.loss;

/**
 * Divergences between the teacher's k+1 buckets {@code P = (p_1..p_k, r)} and the student's
 * {@code Q = (q(v_1)..q(v_k), 1 − Σ q(v_i))}, with their gradients with respect to {@code Q}. On
 * buckets every f-divergence is a lower bound of the full-vocabulary one and exact when the tail is
 * empty (by the data-processing inequality: merging the tail tokens into one bucket can only lose
 * divergence). Pure functions on arrays, checked against direct double-precision computations and
 * finite differences in {@code BucketLossTest}.
 *
 * <ul>
 *   <li>{@link #KL}: forward KL {@code Σ P log(P/Q)} — token-level KD (Kim &amp; Rush 2016).
 *   <li>{@link #RKL}: reverse KL {@code Σ Q log(Q/P)} (Wen et al. 2023, f-DISTILL).
 *   <li>{@link #JS}: {@code ½ Σ P log(P/M) + ½ Σ Q log(Q/M)}, {@code M = βQ + (1−β)P} (f-DISTILL;
 *       β = 0.5 is the symmetric Jensen–Shannon divergence).
 *   <li>{@link #TVD}: {@code ½ Σ |P − Q|}, total variation (f-DISTILL's two ¼ halves on one prefix).
 *   <li>{@link #SKL}: skew KL {@code KL(P ‖ αP + (1−α)Q)} (DistiLLM, Ko et al. 2024); α = 0 is KL.
 *   <li>{@link #SRKL}: skew reverse KL {@code KL(Q ‖ αQ + (1−α)P)} (DistiLLM); α = 0 is RKL.
 *   <li>{@link #GJSD}: generalized JSD {@code β·KL(P ‖ M) + (1−β)·KL(Q ‖ M)}, {@code M = βP + (1−β)Q},
 *       with forward KL at β = 0 and reverse KL at β = 1 (the ends as TRL's GKD defines them).
 *   <li>{@link #ULD}: {@code Σ |P_b − Q_b|}, universal logit distillation (Boizard et al. 2024): the
 *       Wasserstein-1 distance between the two distributions sorted, here on the teacher's and the
 *       student's own top-k (sorted, largest first) and their tails, which needs no shared
 *       vocabulary; by the triangle inequality the tail term bounds the rest from below.
 * </ul>
 *
 * <p>The parameter of {@link #value} is β for JS and GJSD, α for SKL and SRKL; the others ignore it.
 */
public enum Divergence {
  KL, RKL, JS, TVD, SKL, SRKL, GJSD, ULD;

  /** Probabilities this small are treated as this small, so logs and ratios stay finite. */
  static final double EPS = 1e-10;

  /**
   * @param p teacher buckets, summing to 1
   * @param q student buckets, summing to 1
   * @param grad receives {@code ∂D/∂q_b} (may be null)
   * @param beta the divergence's parameter (β of JS and GJSD, α of SKL and SRKL)
   * @return the divergence in nats
   */
  public double value(double[] p, double[] q, double[] grad, double beta) {
    if (this == GJSD && (beta == 0 || beta == 1)) {
      return (beta == 0 ? KL : RKL).value(p, q, grad, beta);
    }
    double d = 0;
    for (int b = 0; b < p.length; b++) {
      double pb = Math.max(p[b], EPS);
      double qb = Math.max(q[b], EPS);
      double g;
      switch (this) {
        case KL -> {
          d += p[b] <= 0 ? 0 : p[b] * Math.log(pb / qb);
          g = -p[b] / qb;
        }
        case RKL -> {
          d += qb * Math.log(qb / pb);
          g = Math.log(qb / pb) + 1;
        }
        case JS -> {
          double m = beta * qb + (1 - beta) * pb;
          d += 0.5 * (p[b] <= 0 ? 0 : p[b] * Math.log(pb / m)) + 0.5 * qb * Math.log(qb / m);
          g = 0.5 * (-p[b] * beta / m) + 0.5 * (Math.log(qb / m) + 1 - qb * beta / m);
        }
        case TVD -> {
          d += 0.5 * Math.abs(p[b] - q[b]);
          g = 0.5 * Math.signum(q[b] - p[b]);
        }
        case SKL -> {
          double m = beta * pb + (1 - beta) * qb;
          d += p[b] <= 0 ? 0 : p[b] * Math.log(pb / m);
          g = -p[b] * (1 - beta) / m;
        }
        case SRKL -> {
          double m = beta * qb + (1 - beta) * pb;
          d += qb * Math.log(qb / m);
          g = Math.log(qb / m) + 1 - qb * beta / m;
        }
        case GJSD -> {
          double m = beta * pb + (1 - beta) * qb;
          d += beta * (p[b] <= 0 ? 0 : p[b] * Math.log(pb / m)) + (1 - beta) * qb * Math.log(qb / m);
          g = beta * (-p[b] * (1 - beta) / m) + (1 - beta) * (Math.log(qb / m) + 1 - qb * (1 - beta) / m);
        }
        case ULD -> {
          d += Math.abs(p[b] - q[b]);
          g = Math.signum(q[b] - p[b]);
        }
        default -> throw new IllegalStateException("Cannot compute divergence: unknown: " + this);
      }
      if (grad != null) {
        grad[b] = g;
      }
    }
    return d;
  }

  /** The divergence an objective's bucket loss measures: forward KL unless it is one of f-DISTILL's others. */
  public static Divergence of(dev.distillery.config.Objective objective) {
    if (objective instanceof dev.distillery.config.Objective.FDivergence f) {
      return switch (f.kind()) {
        case RKL -> RKL;
        case JS -> JS;
        case TVD -> TVD;
        case SKL -> SKL;
        case SRKL -> SRKL;
        case GJSD -> GJSD;
      };
    }
    return objective instanceof dev.distillery.config.Objective.Uld ? ULD : KL;
  }
}
