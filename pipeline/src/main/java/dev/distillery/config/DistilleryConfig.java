package dev.distillery.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigRenderOptions;
import dev.distillery.util.Hashing;
import java.io.Serializable;
import java.util.List;
import java.util.Map;

/**
 * The whole, validated configuration of a run: immutable records built once from HOCON by
 * {@link ConfigLoader}. Every field has its default and a one-line description in
 * {@code reference.conf}.
 */
public record DistilleryConfig(
    Corpus corpus, Tokenizer tokenizer, Model model, Train train, Decode decode, Prepare prepare,
    Distill distill, Spark spark, String rendered)
    implements Serializable {

  /** Corpus reading and validation. */
  public record Corpus(String format, int maxChars, double maxRejectFraction, double validationFraction)
      implements Serializable {
    public Corpus {
      Checks.oneOf("corpus.format", format, "auto", "jsonl", "parquet");
      Checks.positive("corpus.max-chars", maxChars);
      Checks.fraction("corpus.max-reject-fraction", maxRejectFraction);
      Checks.fraction("corpus.validation-fraction", validationFraction);
    }
  }

  /** BPE tokenizer training. */
  public record Tokenizer(int vocabSize, int minPairCount) implements Serializable {
    public Tokenizer {
      Checks.atLeast("tokenizer.vocab-size", vocabSize, 16);
      Checks.positive("tokenizer.min-pair-count", minPairCount);
    }
  }

  /** Sequence model shape. */
  public record Model(
      String architecture, int embedding, int hidden, int layers, int heads, int maxTokens, double dropout)
      implements Serializable {
    /** A shape without dropout. */
    public Model(String architecture, int embedding, int hidden, int layers, int heads, int maxTokens) {
      this(architecture, embedding, hidden, layers, heads, maxTokens, 0);
    }

    public Model {
      Checks.oneOf("model.architecture", architecture, "lstm", "transformer");
      Checks.positive("model.embedding", embedding);
      Checks.positive("model.hidden", hidden);
      Checks.positive("model.layers", layers);
      Checks.positive("model.heads", heads);
      Checks.atLeast("model.max-tokens", maxTokens, 4);
      if (!(dropout >= 0 && dropout < 1)) {
        throw new ConfigException("Cannot configure model: model.dropout must be in [0, 1): " + dropout);
      }
      if (architecture.equals("transformer") && hidden % heads != 0) {
        throw new ConfigException(
            "Cannot configure model: model.heads must divide model.hidden: " + heads + " and " + hidden);
      }
    }
  }

  /** How the learning rate moves over training (after the linear warm-up). */
  public enum Schedule {
    /** The configured rate throughout. */
    CONSTANT,
    /** Half a cosine from the rate down to {@code train.final-learning-rate} times it, at the last step. */
    COSINE;

    static Schedule parse(String key, String value) {
      for (Schedule s : values()) {
        if (s.name().equalsIgnoreCase(value)) {
          return s;
        }
      }
      throw new ConfigException("Cannot configure train: " + key + " must be one of constant, cosine: " + value);
    }
  }

  /**
   * Distributed training with parameter averaging, and its recipe.
   *
   * @param warmupSteps minibatches (all workers together) over which the rate rises linearly from
   *     0 to {@code learningRate}
   * @param finalLearningRate the cosine schedule's last rate, as a fraction of {@code learningRate}
   * @param weightDecay AdamW's decoupled decay (Loshchilov and Hutter 2019) on weight matrices, per
   *     unit of learning rate: {@code w -= lr_t · weightDecay · w} each step; 0 = plain Adam
   * @param clipNorm clip the gradient's global L2 norm (all parameters, mean over the minibatch) to
   *     this; 0 = the architecture's per-layer clipping at 1.0
   * @param labelSmoothing ε of the softmax cross-entropy target {@code (1-ε)·onehot + ε/vocab}
   *     ({@code train} and teachers; distillation losses ignore it)
   * @param checkpointEvery {@code train}: write a checkpoint after this many steps (0 = none)
   * @param keepCheckpoints {@code train}: checkpoints kept on disk, the newest (older ones are deleted)
   * @param keepBest end with the parameters of the epoch with the lowest validation loss, not the last
   * @param init a model directory to start from (its parameters and its tokenizer, so the
   *     architecture must match {@code model}); empty = fresh weights and a tokenizer trained here
   */
  public record Train(
      int epochs, int batchPerWorker, int averagingFrequency, double learningRate, long seed,
      int progressEvery, int maxSteps, Schedule schedule, int warmupSteps, double finalLearningRate,
      double weightDecay, double clipNorm, double labelSmoothing, int checkpointEvery, int keepCheckpoints,
      boolean keepBest, String init)
      implements Serializable {
    /** The defaults of the recipe: constant rate, no warm-up, plain Adam, per-layer clipping, keep the best epoch. */
    public Train(int epochs, int batchPerWorker, int averagingFrequency, double learningRate, long seed,
        int progressEvery, int maxSteps) {
      this(epochs, batchPerWorker, averagingFrequency, learningRate, seed, progressEvery, maxSteps,
          Schedule.CONSTANT, 0, 0.1, 0, 0, 0, 0, 3, true, "");
    }

    public Train {
      Checks.positive("train.epochs", epochs);
      Checks.positive("train.batch-per-worker", batchPerWorker);
      Checks.positive("train.averaging-frequency", averagingFrequency);
      if (!(learningRate > 0 && learningRate < 1)) {
        throw new ConfigException("Cannot configure train: train.learning-rate must be in (0, 1): " + learningRate);
      }
      Checks.positive("train.progress-every", progressEvery);
      Checks.atLeast("train.max-steps", maxSteps, 0);
      java.util.Objects.requireNonNull(schedule, "train.schedule");
      Checks.atLeast("train.warmup-steps", warmupSteps, 0);
      Checks.fraction("train.final-learning-rate", finalLearningRate);
      Checks.atLeast("train.weight-decay", weightDecay, 0);
      Checks.atLeast("train.clip-norm", clipNorm, 0);
      if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
        throw new ConfigException("Cannot configure train: train.label-smoothing must be in [0, 1): " + labelSmoothing);
      }
      Checks.atLeast("train.checkpoint-every", checkpointEvery, 0);
      Checks.positive("train.keep-checkpoints", keepCheckpoints);
      java.util.Objects.requireNonNull(init, "train.init");
    }
  }

  /** Decoding (evaluate, and the teacher's outputs in prepare). */
  public record Decode(
      String strategy, int beamWidth, double lengthPenalty, int maxNewTokens, double temperature,
      double topP, int batchSize, long seed, int noRepeatNgram)
      implements Serializable {
    public Decode {
      Checks.oneOf("decode.strategy", strategy, "greedy", "beam", "sample");
      Checks.positive("decode.beam-width", beamWidth);
      Checks.atLeast("decode.length-penalty", lengthPenalty, 0);
      Checks.positive("decode.max-new-tokens", maxNewTokens);
      if (!(temperature > 0)) {
        throw new ConfigException("Cannot configure decode: decode.temperature must be > 0: " + temperature);
      }
      if (!(topP > 0 && topP <= 1)) {
        throw new ConfigException("Cannot configure decode: decode.top-p must be in (0, 1]: " + topP);
      }
      Checks.positive("decode.batch-size", batchSize);
      Checks.atLeast("decode.no-repeat-ngram", noRepeatNgram, 0);
    }
  }

  /**
   * Teacher targets (prepare). Beam width, length penalty and max length come from {@link Decode}.
   *
   * @param keepSpecials whether {@code </s>} and {@code <unk>} (the special tokens a student can emit) are
   *     among the stored top-k at every position ({@code TeacherScorer.keepSpecials})
   */
  public record Prepare(
      int shards, int topK, int samples, double sampleTemperature, double sampleTopP, long seed,
      String device, boolean overwrite, int splitSentencesOver, boolean keepSpecials)
      implements Serializable {
    public Prepare {
      Checks.positive("prepare.shards", shards);
      Checks.positive("prepare.top-k", topK);
      Checks.atLeast("prepare.samples", samples, 0);
      if (!(sampleTemperature > 0)) {
        throw new ConfigException("Cannot configure prepare: prepare.sample-temperature must be > 0: " + sampleTemperature);
      }
      if (!(sampleTopP > 0 && sampleTopP <= 1)) {
        throw new ConfigException("Cannot configure prepare: prepare.sample-top-p must be in (0, 1]: " + sampleTopP);
      }
      Checks.oneOf("prepare.device", device, "cpu", "gpu");
      Checks.atLeast("prepare.split-sentences-over", splitSentencesOver, 0);
    }
  }

  /**
   * Distillation (distill). The student's max-tokens is the teacher's.
   *
   * @param objective the loss and its own settings ({@code distill.loss}, {@code kd-weight}, {@code gate},
   *     {@code gate-value}, {@code prefix}), parsed once
   * @param student architecture, embedding, hidden, layers, heads of the student (maxTokens unused)
   * @param okd the online modules of {@code distill.loss = okd}
   * @param studentTokenizer the student's vocabulary: the teacher's, its own, or a file
   * @param maxUnknownRate the largest fraction of {@code <unk>} tokens a student tokenizer of its own may
   *     produce on the targets' texts
   * @param prefixLengthRatio an on-policy draw ({@code prefix = student}) stops after this many times the
   *     target tokens of the stored teacher sample it replaces (and at {@code decode.max-new-tokens})
   */
  public record Distill(
      Objective objective, double temperature, int topK, int checkpointEvery, int keepCheckpoints,
      int evalExamples, int epochEvalExamples, String init, Model student, Okd okd,
      StudentTokenizer studentTokenizer, double maxUnknownRate, double prefixLengthRatio)
      implements Serializable {
    public Distill {
      if (!(prefixLengthRatio > 0) || Double.isInfinite(prefixLengthRatio)) {
        throw new ConfigException("Cannot configure distill: distill.prefix-length-ratio must be a positive number: "
            + prefixLengthRatio);
      }
      java.util.Objects.requireNonNull(studentTokenizer, "distill.student.tokenizer");
      Checks.fraction("distill.student.max-unknown-rate", maxUnknownRate);
      if (!(studentTokenizer instanceof StudentTokenizer.Teacher)
          && (objective instanceof Objective.Online || (objective instanceof Objective.FDivergence f
              && f.prefix() == Objective.Prefix.STUDENT))) {
        throw new ConfigException("Cannot configure distill: distill.loss = " + objective.name() + (objective
            instanceof Objective.Online ? "" : " with distill.prefix = student") + " needs the live teacher to score "
            + "the student's tokens, so the student must use the teacher's vocabulary (distill.student.tokenizer = "
            + "teacher): " + studentTokenizer);
      }
      java.util.Objects.requireNonNull(objective, "distill.loss");
      if (!(temperature > 0)) {
        throw new ConfigException("Cannot configure distill: distill.temperature must be > 0: " + temperature);
      }
      boolean storedBuckets = objective.readsStoredBuckets();
      if (temperature != 1 && storedBuckets) {
        // The targets store the tail's mass r = Σ_tail p; softening needs Σ_tail p^(1/τ), which r does
        // not determine (it lies anywhere between r^(1/τ) and far above it), so the loss would be wrong.
        throw new ConfigException("Cannot configure distill: distill.temperature must be 1 for distill.loss = "
            + objective.name() + " (the targets store the tail's mass, not the tail of the softened distribution): "
            + temperature);
      }
      Checks.atLeast("distill.top-k", topK, 0);
      Checks.atLeast("distill.checkpoint-every", checkpointEvery, 0);
      Checks.positive("distill.keep-checkpoints", keepCheckpoints);
      Checks.atLeast("distill.eval-examples", evalExamples, 0);
      Checks.atLeast("distill.epoch-eval-examples", epochEvalExamples, 0);
      if (objective instanceof Objective.Online && !init.isEmpty()) {
        throw new ConfigException("Cannot configure distill: distill.init is not supported with distill.loss = okd "
            + "(the student trains inside the teacher's graph): " + init);
      }
    }

    /** Whether the student samples its own prefixes (on-policy: {@code distill.prefix = student}). */
    public boolean onPolicy() {
      return objective instanceof Objective.FDivergence f && f.prefix() == Objective.Prefix.STUDENT;
    }
  }

  /**
   * Online KD (Rao et al. 2024): LoRA modules {@code h ← h + scale·x·A·B} of rank {@code rank} on the
   * query and value projections of every attention layer of the frozen teacher, trained on
   * {@code alpha·KL(q_S ‖ p_T') + (1−alpha)·CE(y*; p_T')}.
   */
  public record Okd(int rank, double scale, double alpha) implements Serializable {
    public Okd {
      Checks.positive("distill.okd.rank", rank);
      if (!(scale > 0) || Double.isInfinite(scale)) {
        throw new ConfigException("Cannot configure distill: distill.okd.scale must be a positive number: " + scale);
      }
      Checks.fraction("distill.okd.alpha", alpha);
    }
  }

  /** Spark settings used when not under spark-submit. */
  public record Spark(String master, String appName, int partitions) implements Serializable {
    public Spark {
      Checks.atLeast("spark.partitions", partitions, 0);
    }
  }

  static DistilleryConfig from(Config root) {
    Config c = root.getConfig("distillery");
    return new DistilleryConfig(
        new Corpus(
            c.getString("corpus.format"), c.getInt("corpus.max-chars"),
            c.getDouble("corpus.max-reject-fraction"), c.getDouble("corpus.validation-fraction")),
        new Tokenizer(c.getInt("tokenizer.vocab-size"), c.getInt("tokenizer.min-pair-count")),
        new Model(
            c.getString("model.architecture"), c.getInt("model.embedding"), c.getInt("model.hidden"),
            c.getInt("model.layers"), c.getInt("model.heads"), c.getInt("model.max-tokens"),
            c.getDouble("model.dropout")),
        new Train(
            c.getInt("train.epochs"), c.getInt("train.batch-per-worker"),
            c.getInt("train.averaging-frequency"), c.getDouble("train.learning-rate"),
            c.getLong("train.seed"), c.getInt("train.progress-every"), c.getInt("train.max-steps"),
            Schedule.parse("train.schedule", c.getString("train.schedule")), c.getInt("train.warmup-steps"),
            c.getDouble("train.final-learning-rate"), c.getDouble("train.weight-decay"),
            c.getDouble("train.clip-norm"), c.getDouble("train.label-smoothing"),
            c.getInt("train.checkpoint-every"), c.getInt("train.keep-checkpoints"), c.getBoolean("train.keep-best"),
            c.getString("train.init")),
        new Decode(
            c.getString("decode.strategy"), c.getInt("decode.beam-width"),
            c.getDouble("decode.length-penalty"), c.getInt("decode.max-new-tokens"),
            c.getDouble("decode.temperature"), c.getDouble("decode.top-p"),
            c.getInt("decode.batch-size"), c.getLong("decode.seed"), c.getInt("decode.no-repeat-ngram")),
        new Prepare(
            c.getInt("prepare.shards"), c.getInt("prepare.top-k"), c.getInt("prepare.samples"),
            c.getDouble("prepare.sample-temperature"), c.getDouble("prepare.sample-top-p"),
            c.getLong("prepare.seed"), c.getString("prepare.device"), c.getBoolean("prepare.overwrite"),
            c.getInt("prepare.split-sentences-over"), c.getBoolean("prepare.keep-specials")),
        new Distill(
            Objective.parse(c.getString("distill.loss"), c.getDouble("distill.kd-weight"), c.getString("distill.gate"),
                c.getDouble("distill.gate-value"), c.getString("distill.prefix"), c.getDouble("distill.js-beta"),
                c.getDouble("distill.skew-alpha"), c.getDouble("distill.gjsd-beta")),
            c.getDouble("distill.temperature"),
            c.getInt("distill.top-k"), c.getInt("distill.checkpoint-every"),
            c.getInt("distill.keep-checkpoints"),
            c.getInt("distill.eval-examples"), c.getInt("distill.epoch-eval-examples"), c.getString("distill.init"),
            new Model(
                c.getString("distill.student.architecture"), c.getInt("distill.student.embedding"),
                c.getInt("distill.student.hidden"), c.getInt("distill.student.layers"),
                c.getInt("distill.student.heads"), c.getInt("model.max-tokens"),
                c.getDouble("distill.student.dropout")),
            new Okd(c.getInt("distill.okd.rank"), c.getDouble("distill.okd.scale"), c.getDouble("distill.okd.alpha")),
            StudentTokenizer.parse(c.getString("distill.student.tokenizer")),
            c.getDouble("distill.student.max-unknown-rate"), c.getDouble("distill.prefix-length-ratio")),
        new Spark(c.getString("spark.master"), c.getString("spark.app-name"), c.getInt("spark.partitions")),
        root.withOnlyPath("distillery").root().render(
            ConfigRenderOptions.concise().setFormatted(true).setJson(false)));
  }

  /**
   * Keys whose values differ between this configuration and {@code earlier} (as written by
   * {@link #toHocon}), with both values: {@code key -> [earlier, now]}, by key.
   */
  public java.util.SortedMap<String, java.util.List<String>> changedSince(String earlier) {
    Map<String, String> was = flatten(com.typesafe.config.ConfigFactory.parseString(earlier));
    Map<String, String> now = flatten(com.typesafe.config.ConfigFactory.parseString(rendered));
    java.util.SortedMap<String, java.util.List<String>> changed = new java.util.TreeMap<>();
    java.util.Set<String> keys = new java.util.TreeSet<>(was.keySet());
    keys.addAll(now.keySet());
    for (String key : keys) {
      if (!java.util.Objects.equals(was.get(key), now.get(key))) {
        changed.put(key, java.util.Arrays.asList(was.get(key), now.get(key)));
      }
    }
    return changed;
  }

  private static Map<String, String> flatten(Config root) {
    Map<String, String> out = new java.util.HashMap<>();
    Config c = root.hasPath("distillery") ? root.getConfig("distillery") : root;
    c.entrySet().forEach(e -> out.put(e.getKey(), String.valueOf(e.getValue().unwrapped())));
    return out;
  }

  /** The effective configuration as HOCON, every default filled in. */
  public String toHocon() {
    return rendered;
  }

  /** sha256 of the effective configuration: two runs with equal hashes were configured alike. */
  public String hash() {
    return Hashing.sha256(rendered);
  }
}
