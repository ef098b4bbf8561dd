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

  /** Cross-entropy on the references alone: the baseline every KD loss is compared with. */
  record CrossEntropy() implements Objective {
    @Override
    public String name() {
      return "ce";
    }
  }

  /** Token-level KD on the references, {@code (1−λ)·CE + λ·KL(p‖q)} (Kim and Rush 2016). */
  record TokenKd(double kdWeight) implements Objective {
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
  record Uld(double kdWeight) implements Objective {
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
    public String name() {
      return kind.name().toLowerCase(Locale.ROOT);
    }
  }

  /** Online KD (Rao et al. 2024): LoRA modules on the frozen teacher train with the student ({@code distill.okd}). */
  record Online() implements Objective {
    @Override
    public String name() {
      return "okd";
    }
  }

  /** The hybrid's gate {@code g}. */
  sealed interface Gate extends Serializable {
    /** {@code g} fixed at {@code distill.gate-value}. */
    record Fixed(double value) implements Gate {
      public Fixed {
        Checks.fraction("distill.gate-value", value);
      }
    }

    /** {@code g} from 1 (token level) to 0 (sentence level) over training. */
    record Scheduled() implements Gate {}

    /** Uncertainty weighting: the two losses weighted {@code e^{−s1}}, {@code e^{−s2}}, trained alongside. */
    record Learned() implements Gate {}
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
    if (from == Prefix.STUDENT && List.of("ce", "kl", "seqkd", "hybrid", "uld", "okd").contains(loss)) {
      throw new ConfigException("Cannot configure distill: distill.prefix = student needs a divergence on "
          + "sampled prefixes (distill.loss = rkl, js, tvd, skl, srkl or gjsd): " + loss);
    }
    return switch (loss) {
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
  }
}
