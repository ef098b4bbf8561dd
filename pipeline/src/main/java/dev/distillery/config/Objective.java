package dev.distillery.config;

import java.io.Serializable;
import java.util.List;
import java.util.Locale;

/**
 * What {@code distill} trains the student on, parsed once from {@code distill.loss} and the keys
 * that loss reads. Each variant carries only its own settings, so a combination no paper defines
 * (a gate on {@code kl}, student prefixes for {@code seqkd}) cannot be built.
 */
public sealed interface Objective extends Serializable {
  /** The {@code distill.loss} values, in the order help and errors list them. */
  List<String> NAMES = List.of("ce", "kl", "seqkd", "hybrid", "rkl", "js", "tvd", "skl", "srkl", "gjsd", "uld", "okd");

  /** The {@code distill.loss} value of this objective. */
  String name();

  /**
   * Whether its loss reads the teacher's stored top-k buckets (and so needs {@code distill.temperature}
   * 1: the targets keep the tail's mass, not the tail of a softened distribution). Each variant that
   * does says so itself, so a new one is one record here.
   */
  default boolean readsStoredBuckets() {
    return false;
  }

  /** Which sequence of a targets row a training example is, and so which loss terms it feeds. */
  enum Role {
    /** The reference y*, cross-entropy only (ce, okd). */
    REFERENCE,
    /** The reference y* with the teacher's distributions (kl, uld, the token-level half of hybrid). */
    TOKEN,
    /** The teacher's beam output, cross-entropy only (seqkd, the sentence-level half of hybrid). */
    SENTENCE,
    /** A teacher (or student) output with the teacher's distributions along it (the divergences). */
    DIVERGENCE
  }

  /** The roles a targets row is expanded into, in order. */
  List<Role> roles();

  /**
   * {@code {w_ce, w_div}} for a sequence of this role: cross-entropy on the reference and beam roles,
   * the divergence alone on teacher prefixes; an objective that mixes the two says how.
   *
   * @param gate the hybrid's learned-gate log-variances {@code s1, s2} and the training progress (read
   *     only by {@link Hybrid})
   */
  default float[] weights(Role role, GateState gate) {
    return role == Role.DIVERGENCE ? new float[] {0, 1} : new float[] {1, 0};
  }

  /**
   * Whether the loss means the same thing at every point of training, so that its value on held-out
   * targets can rank epochs.
   */
  default boolean comparableAcrossEpochs() {
    return true;
  }

  /** The hybrid gate {@code g} at this point of training; 0 for objectives without one. */
  default double gate(GateState gate) {
    return 0;
  }

  /** Whether training learns gate weights alongside the student (the hybrid's learned gate). */
  default boolean learnsGate() {
    return false;
  }

  /**
   * What a gate reads at one point of training: the fraction done in [0, 1] and, for a learned gate,
   * its log-variances {@code s1} (token level) and {@code s2} (sentence level).
   */
  record GateState(double progress, double s1, double s2) {}

  /** Cross-entropy on the references alone: the baseline every KD loss is compared with. */
  record CrossEntropy() implements Objective {
    @Override
    public List<Role> roles() {
      return List.of(Role.REFERENCE);
    }

    @Override
    public String name() {
      return "ce";
    }
  }

  /** A loss on the references that mixes cross-entropy with a term against the teacher, {@code (1−λ)·CE + λ·term}. */
  sealed interface TokenLevel extends Objective {
    /** λ, {@code distill.kd-weight}. */
    double kdWeight();

    @Override
    default List<Role> roles() {
      return List.of(Role.TOKEN);
    }

    @Override
    default float[] weights(Role role, GateState gate) {
      return role == Role.TOKEN ? new float[] {(float) (1 - kdWeight()), (float) kdWeight()}
          : Objective.super.weights(role, gate);
    }
  }

  /** Token-level KD on the references, {@code (1−λ)·CE + λ·KL(p‖q)} (Kim and Rush 2016). */
  record TokenKd(double kdWeight) implements TokenLevel {
    @Override
    public boolean readsStoredBuckets() {
      return true;
    }

    public TokenKd {
      Checks.fraction("distill.kd-weight", kdWeight);
    }

    @Override
    public String name() {
      return "kl";
    }
  }

  /**
   * Universal logit distillation on the references (Boizard et al. 2024): {@code (1−λ)·CE + λ·ULD},
   * ULD the L1 distance between the sorted top-k distributions of teacher and student, which needs
   * no shared vocabulary (distillation across tokenizers).
   */
  record Uld(double kdWeight) implements TokenLevel {
    @Override
    public boolean readsStoredBuckets() {
      return true;
    }

    public Uld {
      Checks.fraction("distill.kd-weight", kdWeight);
    }

    @Override
    public String name() {
      return "uld";
    }
  }

  /** Sentence-level KD: cross-entropy on the teacher's beam outputs (Kim and Rush 2016). */
  record SeqKd() implements Objective {
    @Override
    public List<Role> roles() {
      return List.of(Role.SENTENCE);
    }

    @Override
    public String name() {
      return "seqkd";
    }
  }

  /** Wei et al. 2024: {@code g·KL on references + (1−g)·CE on beam outputs}, with the gate {@code g}. */
  record Hybrid(Gate gate) implements Objective {
    @Override
    public boolean readsStoredBuckets() {
      return true;
    }

    @Override
    public List<Role> roles() {
      return List.of(Role.TOKEN, Role.SENTENCE);
    }

    /** The token-level half weighted by {@code g} (or {@code e^{−s1}}), the sentence-level by {@code 1−g} (or {@code e^{−s2}}). */
    @Override
    public float[] weights(Role role, GateState state) {
      double[] terms = gate.terms(state);
      return switch (role) {
        case TOKEN -> new float[] {0, (float) terms[0]};
        case SENTENCE -> new float[] {(float) terms[1], 0};
        default -> Objective.super.weights(role, state);
      };
    }

    /** Not for a scheduled or learned gate: the weights move during training. */
    @Override
    public boolean comparableAcrossEpochs() {
      return gate instanceof Gate.Fixed;
    }

    @Override
    public double gate(GateState state) {
      return gate.value(state);
    }

    @Override
    public boolean learnsGate() {
      return gate instanceof Gate.Learned;
    }

    @Override
    public String name() {
      return "hybrid";
    }
  }

  /**
   * A divergence other than forward KL on prefixes, the teacher's or the student's: f-DISTILL's
   * (Wen et al. 2023), DistiLLM's skew KLs (Ko et al. 2024) and GKD's generalized JSD (Agarwal et al. 2024).
   *
   * @param weight the divergence's parameter: β of {@code js} ({@code distill.js-beta}) and of
   *     {@code gjsd} ({@code distill.gjsd-beta}), α of {@code skl} and {@code srkl}
   *     ({@code distill.skew-alpha}); 0 for {@code rkl} and {@code tvd}
   */
  record FDivergence(Kind kind, Prefix prefix, double weight) implements Objective {
    @Override
    public boolean readsStoredBuckets() {
      return true;
    }

    public FDivergence {
      Checks.fraction("the divergence weight", weight);
    }

    @Override
    public List<Role> roles() {
      return List.of(Role.DIVERGENCE);
    }

    @Override
    public String name() {
      return kind.name().toLowerCase(Locale.ROOT);
    }
  }

  /** Online KD (Rao et al. 2024): LoRA modules on the frozen teacher train with the student ({@code distill.okd}). */
  record Online() implements Objective {
    @Override
    public List<Role> roles() {
      return List.of(Role.REFERENCE); // the teacher is live: no stored distribution is read
    }

    /** Its loss lives in the teacher-and-student graph, whose modules move. */
    @Override
    public boolean comparableAcrossEpochs() {
      return false;
    }

    @Override
    public String name() {
      return "okd";
    }
  }

  /** The hybrid's gate {@code g}. */
  sealed interface Gate extends Serializable {
    /** {@code g} at this point of training. */
    double value(GateState state);

    /** The weights of the token- and sentence-level terms: {@code {g, 1−g}} unless the gate is learned. */
    default double[] terms(GateState state) {
      double g = value(state);
      return new double[] {g, 1 - g};
    }

    /** {@code g} fixed at {@code distill.gate-value}. */
    record Fixed(double value) implements Gate {
      public Fixed {
        Checks.fraction("distill.gate-value", value);
      }

      @Override
      public double value(GateState state) {
        return value;
      }
    }

    /** {@code g} from 1 (token level) to 0 (sentence level) over training. */
    record Scheduled() implements Gate {
      @Override
      public double value(GateState state) {
        return 1.0 - state.progress();
      }
    }

    /**
     * Uncertainty weighting: the two losses weighted {@code e^{−s1}}, {@code e^{−s2}}, trained alongside;
     * {@code g = e^{−s1}/(e^{−s1}+e^{−s2})}.
     */
    record Learned() implements Gate {
      @Override
      public double value(GateState state) {
        return Math.exp(-state.s1()) / (Math.exp(-state.s1()) + Math.exp(-state.s2()));
      }

      @Override
      public double[] terms(GateState state) {
        return new double[] {Math.exp(-state.s1()), Math.exp(-state.s2())};
      }
    }
  }

  /** The divergences beside forward KL. */
  enum Kind { RKL, JS, TVD, SKL, SRKL, GJSD }

  /** Whose outputs the divergence is measured along. */
  enum Prefix { TEACHER, STUDENT }

  /**
   * @param loss {@code distill.loss}
   * @param gate {@code distill.gate}: fixed, scheduled or learned (read by hybrid)
   * @param prefix {@code distill.prefix}: teacher or student (read by the divergences)
   */
  static Objective parse(String loss, double kdWeight, String gate, double gateValue, String prefix) {
    return parse(loss, kdWeight, gate, gateValue, prefix, 0.5, 0.1, 0.5);
  }

  /** @param jsBeta, skewAlpha, gjsdBeta the parameters of js, skl/srkl and gjsd */
  static Objective parse(String loss, double kdWeight, String gate, double gateValue, String prefix,
      double jsBeta, double skewAlpha, double gjsdBeta) {
    Checks.fraction("distill.js-beta", jsBeta);
    Checks.fraction("distill.skew-alpha", skewAlpha);
    Checks.fraction("distill.gjsd-beta", gjsdBeta);
    Checks.oneOf("distill.loss", loss, NAMES.toArray(String[]::new));
    Checks.oneOf("distill.gate", gate, "fixed", "scheduled", "learned");
    Checks.fraction("distill.gate-value", gateValue);
    Checks.fraction("distill.kd-weight", kdWeight);
    Checks.oneOf("distill.prefix", prefix, "teacher", "student");
    Prefix from = Prefix.valueOf(prefix.toUpperCase(Locale.ROOT));
    Objective objective = switch (loss) {
      case "ce" -> new CrossEntropy();
      case "kl" -> new TokenKd(kdWeight);
      case "uld" -> new Uld(kdWeight);
      case "seqkd" -> new SeqKd();
      case "hybrid" -> new Hybrid(switch (gate) {
        case "scheduled" -> new Gate.Scheduled();
        case "learned" -> new Gate.Learned();
        default -> new Gate.Fixed(gateValue);
      });
      case "okd" -> new Online();
      default -> {
        Kind kind = Kind.valueOf(loss.toUpperCase(Locale.ROOT));
        yield new FDivergence(kind, from, switch (kind) {
          case JS -> jsBeta;
          case SKL, SRKL -> skewAlpha;
          case GJSD -> gjsdBeta;
          case RKL, TVD -> 0;
        });
      }
    };
    if (from == Prefix.STUDENT && !(objective instanceof FDivergence)) {
      throw new ConfigException("Cannot configure distill: distill.prefix = student needs a divergence on "
          + "sampled prefixes (distill.loss = " + divergenceNames() + "): " + loss);
    }
    return objective;
  }

  /** The divergences' {@code distill.loss} names, for messages. */
  private static String divergenceNames() {
    List<String> names = new java.util.ArrayList<>();
    for (Kind kind : Kind.values()) {
      names.add(kind.name().toLowerCase(Locale.ROOT));
    }
    return String.join(", ", names.subList(0, names.size() - 1)) + " or " + names.get(names.size() - 1);
  }
}
