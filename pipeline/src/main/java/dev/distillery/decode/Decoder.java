package dev.distillery.decode;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.CausalModel;
import dev.distillery.tokenizer.TextTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Batched greedy, beam and nucleus-sampling decoding of targets from prompts
 * {@code <s> source <sep>}. Batches of {@code decode.batch-size} prompts are decoded together.
 */
public final class Decoder {
  private final CausalModel model;
  private final DistilleryConfig.Decode config;
  private final java.util.function.Function<CausalModel, Stepper> steppers;

  public Decoder(CausalModel model, DistilleryConfig.Decode config) {
    this(model, config, Stepper::of);
  }

  private Decoder(CausalModel model, DistilleryConfig.Decode config,
      java.util.function.Function<CausalModel, Stepper> steppers) {
    this.model = model;
    this.config = config;
    this.steppers = steppers;
  }

  /**
   * The same decoder re-running the whole prefix at every step (no recurrent state or key/value
   * cache): the reference the incremental paths are tested and benchmarked against.
   */
  public Decoder recomputing() {
    return new Decoder(model, config, Stepper::recompute);
  }

  /** Decodes with the configured strategy. */
  public List<Hypothesis> decode(List<int[]> prompts) {
    return switch (config.strategy()) {
      case "greedy" -> greedy(prompts);
      case "beam" -> beam(prompts, config.beamWidth());
      case "sample" -> sample(prompts, new Random(config.seed()));
      default -> throw new IllegalStateException("Cannot decode: unknown strategy: " + config.strategy());
    };
  }

  public List<Hypothesis> greedy(List<int[]> prompts) {
    return byLength(prompts, null, null, this::sampleOrArgmax);
  }

  /** Nucleus sampling at the configured temperature and top-p. */
  public List<Hypothesis> sample(List<int[]> prompts, Random random) {
    List<Random> perRow = new ArrayList<>(prompts.size());
    for (int i = 0; i < prompts.size(); i++) {
      perRow.add(new Random(random.nextLong()));
    }
    return byLength(prompts, perRow, null, this::sampleOrArgmax);
  }

  /**
   * Nucleus sampling with one random source per prompt: a row's sample then depends only on its own
   * seed, not on which other prompts share its batch.
   */
  public List<Hypothesis> sample(List<int[]> prompts, List<Random> perRow) {
    return sample(prompts, perRow, null);
  }

  /**
   * As {@link #sample(List, List)}, with row {@code i} stopping (unfinished) after {@code maxNew[i]}
   * new tokens when that is below {@code decode.max-new-tokens}; null: no caps of its own.
   */
  public List<Hypothesis> sample(List<int[]> prompts, List<Random> perRow, int[] maxNew) {
    if (perRow.size() != prompts.size() || maxNew != null && maxNew.length != prompts.size()) {
      throw new IllegalArgumentException("Cannot sample: need one random source and length cap per prompt: "
          + perRow.size() + " and " + (maxNew == null ? "none" : maxNew.length) + " vs " + prompts.size());
    }
    return byLength(prompts, perRow, maxNew, this::sampleOrArgmax);
  }

  /** A decoding of prompts sorted by length, with their random sources and length caps (either may be null). */
  private interface SortedDecode {
    List<Hypothesis> apply(List<int[]> prompts, List<Random> randoms, int[] maxNew);
  }

  /**
   * Decodes prompts sorted by length and returns results in the caller's order: batches of equal-
   * length prompts let the recurrent stepper feed each batch in one call. Every row's result depends
   * only on its own prompt (and its own random source), so the order cannot change outputs.
   */
  private List<Hypothesis> byLength(List<int[]> prompts, List<Random> randoms, int[] maxNew,
      SortedDecode decode) {
    Integer[] order = new Integer[prompts.size()];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, java.util.Comparator.comparingInt(i -> prompts.get(i).length));
    List<int[]> sorted = new ArrayList<>(order.length);
    List<Random> sortedRandoms = randoms == null ? null : new ArrayList<>(order.length);
    int[] sortedMaxNew = maxNew == null ? null : new int[order.length];
    for (int j = 0; j < order.length; j++) {
      sorted.add(prompts.get(order[j]));
      if (randoms != null) {
        sortedRandoms.add(randoms.get(order[j]));
      }
      if (maxNew != null) {
        sortedMaxNew[j] = maxNew[order[j]];
      }
    }
    List<Hypothesis> decoded = decode.apply(sorted, sortedRandoms, sortedMaxNew);
    Hypothesis[] out = new Hypothesis[order.length];
    for (int j = 0; j < order.length; j++) {
      out[order[j]] = decoded.get(j);
    }
    return Arrays.asList(out);
  }

  private List<Hypothesis> sampleOrArgmax(List<int[]> prompts, List<Random> randoms, int[] maxNew) {
    List<Hypothesis> out = new ArrayList<>(prompts.size());
    for (int from = 0; from < prompts.size(); from += config.batchSize()) {
      List<int[]> chunk = prompts.subList(from, Math.min(prompts.size(), from + config.batchSize()));
      int offset = from;
      int n = chunk.size();
      Stepper stepper = steppers.apply(model);
      float[][] lp = stepper.start(chunk);
      int[][] tokens = new int[n][config.maxNewTokens()];
      int[] length = new int[n];
      double[] ll = new double[n];
      boolean[] done = new boolean[n];
      boolean[] capped = new boolean[n];
      int[] parents = identity(n);
      for (int step = 0; step < config.maxNewTokens(); step++) {
        int[] next = new int[n];
        boolean all = true;
        for (int i = 0; i < n; i++) {
          if (done[i] || capped[i]) {
            next[i] = TextTokenizer.PAD;
            continue;
          }
          banRepeats(lp[i], tokens[i], length[i], config.noRepeatNgram());
          int tok = randoms == null ? argmax(lp[i]) : nucleus(lp[i], randoms.get(offset + i));
          ll[i] += lp[i][tok];
          next[i] = tok;
          if (tok == TextTokenizer.EOS) {
            done[i] = true;
          } else {
            tokens[i][length[i]++] = tok;
            // At its own cap a row stops unfinished; it steps on (as PAD) with the others.
            capped[i] = maxNew != null && length[i] >= maxNew[offset + i];
            all &= capped[i];
          }
        }
        if (all || step == config.maxNewTokens() - 1) {
          break;
        }
        lp = stepper.step(parents, next);
      }
      for (int i = 0; i < n; i++) {
        out.add(new Hypothesis(Arrays.copyOf(tokens[i], length[i]), ll[i], done[i]));
      }
    }
    return out;
  }

  /**
   * Beam search with the GNMT length penalty: a finished hypothesis scores
   * {@code logLikelihood / ((5 + length) / 6)^alpha}. Each prompt stops when it has {@code width}
   * finished hypotheses or reaches max-new-tokens; the best finished (or, failing that, live)
   * hypothesis is returned.
   */
  public List<Hypothesis> beam(List<int[]> prompts, int width) {
    return byLength(prompts, null, null, (sorted, unusedRandoms, unusedCaps) -> {
      List<Hypothesis> out = new ArrayList<>(sorted.size());
      for (List<int[]> chunk : chunks(sorted, config.batchSize())) {
        out.addAll(beamChunk(chunk, width));
      }
      return out;
    });
  }

  private record Beam(int row, int[] tokens, double logLikelihood) {}

  private List<Hypothesis> beamChunk(List<int[]> prompts, int width) {
    int n = prompts.size();
    Stepper stepper = steppers.apply(model);
    float[][] lp = stepper.start(prompts);
    // live.get(p) holds prompt p's live beams; before the first step each prompt has one empty beam.
    List<List<Beam>> live = new ArrayList<>(n);
    List<List<Hypothesis>> finished = new ArrayList<>(n);
    for (int p = 0; p < n; p++) {
      live.add(List.of(new Beam(p, new int[0], 0)));
      finished.add(new ArrayList<>());
    }
    for (int step = 0; step < config.maxNewTokens(); step++) {
      List<Integer> parents = new ArrayList<>();
      List<Integer> tokens = new ArrayList<>();
      List<List<Beam>> nextLive = new ArrayList<>(n);
      boolean any = false;
      for (int p = 0; p < n; p++) {
        List<Beam> beams = live.get(p);
        List<Beam> kept = new ArrayList<>(width);
        if (!beams.isEmpty() && finished.get(p).size() < width) {
          for (Beam b : beams) {
            banRepeats(lp[b.row()], b.tokens(), b.tokens().length, config.noRepeatNgram());
          }
          List<Beam> candidates = expand(beams, lp, 2 * width);
          for (int rank = 0; rank < candidates.size(); rank++) {
            Beam cand = candidates.get(rank);
            int tok = cand.tokens()[cand.tokens().length - 1];
            if (tok == TextTokenizer.EOS) {
              // An ending counts only if it ranks among the best `width` continuations; otherwise a
              // merely second-best </s> would end the search early (and width 1 would not be greedy).
              if (rank < width) {
                int[] t = Arrays.copyOf(cand.tokens(), cand.tokens().length - 1);
                finished.get(p).add(new Hypothesis(t, cand.logLikelihood(), true));
                if (finished.get(p).size() >= width) {
                  break;
                }
              }
            } else if (kept.size() < width) {
              kept.add(cand);
            }
          }
        }
        if (finished.get(p).size() >= width || step == config.maxNewTokens() - 1) {
          if (finished.get(p).isEmpty()) {
            for (Beam b : kept) {
              finished.get(p).add(new Hypothesis(b.tokens(), b.logLikelihood(), false));
            }
          }
          kept = List.of();
        }
        List<Beam> rows = new ArrayList<>(kept.size());
        for (Beam b : kept) {
          rows.add(new Beam(parents.size(), b.tokens(), b.logLikelihood()));
          parents.add(b.row());
          tokens.add(b.tokens()[b.tokens().length - 1]);
          any = true;
        }
        nextLive.add(rows);
      }
      live = nextLive;
      if (!any) {
        break;
      }
      lp = stepper.step(
          parents.stream().mapToInt(Integer::intValue).toArray(),
          tokens.stream().mapToInt(Integer::intValue).toArray());
    }
    List<Hypothesis> out = new ArrayList<>(n);
    for (int p = 0; p < n; p++) {
      Hypothesis best = null;
      for (Hypothesis h : finished.get(p)) {
        if (best == null || normalized(h) > normalized(best)) {
          best = h;
        }
      }
      out.add(best == null ? new Hypothesis(new int[0], Double.NEGATIVE_INFINITY, false) : best);
    }
    return out;
  }

  /**
   * Sets to -infinity the log-probability of every token that would repeat an n-gram already in
   * {@code generated[0..length)} (no-repeat-ngram blocking; n = 0 disables it). Small models loop
   * ("the children of the children of ..."); blocking repeats is the usual remedy.
   */
  static void banRepeats(float[] logprobs, int[] generated, int length, int n) {
    if (n <= 0 || length < n - 1) {
      return;
    }
    for (int i = 0; i + n - 1 < length; i++) {
      boolean same = true;
      for (int j = 0; j < n - 1 && same; j++) {
        same = generated[i + j] == generated[length - (n - 1) + j];
      }
      if (same) {
        logprobs[generated[i + n - 1]] = Float.NEGATIVE_INFINITY;
      }
    }
  }

  /** The {@code keep} best one-token extensions of the beams, by raw log-likelihood. */
  private static List<Beam> expand(List<Beam> beams, float[][] lp, int keep) {
    List<Beam> best = new ArrayList<>(keep + 1);
    for (Beam b : beams) {
      float[] row = lp[b.row()];
      for (int tok : topIndices(row, keep)) {
        if (neverEmitted(tok)) {
          continue;
        }
        if (row[tok] == Float.NEGATIVE_INFINITY) {
          continue;
        }
        double score = b.logLikelihood() + row[tok];
        int[] t = Arrays.copyOf(b.tokens(), b.tokens().length + 1);
        t[t.length - 1] = tok;
        best.add(new Beam(b.row(), t, score));
      }
    }
    best.sort((x, y) -> Double.compare(y.logLikelihood(), x.logLikelihood()));
    return best.size() > keep ? best.subList(0, keep) : best;
  }

  private double normalized(Hypothesis h) {
    double lengthPenalty = Math.pow((5.0 + h.tokens().length + 1) / 6.0, config.lengthPenalty());
    return h.logLikelihood() / lengthPenalty;
  }

  /** Indices of the k largest entries of {@code row}, largest first. */
  public static int[] topIndices(float[] row, int k) {
    k = Math.min(k, row.length);
    int[] idx = new int[k];
    float[] val = new float[k];
    int size = 0;
    for (int v = 0; v < row.length; v++) {
      float x = row[v];
      if (size < k) {
        int j = size++;
        while (j > 0 && val[j - 1] < x) {
          val[j] = val[j - 1];
          idx[j] = idx[j - 1];
          j--;
        }
        val[j] = x;
        idx[j] = v;
      } else if (x > val[k - 1]) {
        int j = k - 1;
        while (j > 0 && val[j - 1] < x) {
          val[j] = val[j - 1];
          idx[j] = idx[j - 1];
          j--;
        }
        val[j] = x;
        idx[j] = v;
      }
    }
    return idx;
  }

  /** PAD, BOS and SEP: structure tokens no decoding strategy may emit. */
  private static boolean neverEmitted(int token) {
    return token == TextTokenizer.PAD || token == TextTokenizer.BOS || token == TextTokenizer.SEP;
  }

  private static int argmax(float[] row) {
    int best = TextTokenizer.EOS;
    for (int v = 0; v < row.length; v++) {
      if (!neverEmitted(v) && row[v] > row[best]) {
        best = v;
      }
    }
    return best;
  }

  private int nucleus(float[] lp, Random random) {
    return nucleus(lp, config.temperature(), config.topP(), random);
  }

  /** Probability buckets of {@link #nucleus}: binary exponents 0 (p = 1) down to −127 (subnormal or 0). */
  private static final int EXPONENTS = 128;

  /**
   * Draws a token from the nucleus (Holtzman et al. 2020): the smallest set of most likely tokens
   * whose mass reaches {@code topP}, renormalized, at {@code temperature}; PAD, BOS and SEP are never
   * drawn. In O(vocab): tokens are bucketed by the binary exponent of their probability relative to
   * the most likely one; every bucket above the one where the cumulative mass crosses {@code topP}
   * lies wholly inside, and only that boundary bucket is sorted. (With a sort of the whole vocabulary
   * per drawn token, an on-policy rkl epoch of the science targets took 214 s; with the buckets, 190 s.)
   * The draw walks the nucleus in id order.
   *
   * @param lp log-probabilities {@code [vocab]}
   */
  static int nucleus(float[] lp, double temperature, double topP, Random random) {
    int v = lp.length;
    double[] p = new double[v];
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < v; i++) {
      if (!neverEmitted(i)) {
        max = Math.max(max, lp[i] / temperature);
      }
    }
    double z = 0;
    int[] bucket = new int[v];
    double[] mass = new double[EXPONENTS];
    for (int i = 0; i < v; i++) {
      boolean banned = neverEmitted(i);
      p[i] = banned ? 0 : Math.exp(lp[i] / temperature - max);
      z += p[i];
      // p in [0, 1]: getExponent gives 0 for 1, −1 for [0.5, 1), ..., −127 for subnormals and 0.
      bucket[i] = banned ? -1 : -Math.getExponent((float) p[i]);
      if (!banned) {
        mass[bucket[i]] += p[i];
      }
    }
    double target = topP * z;
    double cum = 0;
    int edge = 0;
    while (edge < EXPONENTS - 1 && cum + mass[edge] < target) {
      cum += mass[edge++];
    }
    // The boundary bucket by falling probability, ties by id: (float bits of p, id) keys sort as
    // (p, id) do, since the bits of non-negative floats order as the floats.
    int size = 0;
    for (int i = 0; i < v; i++) {
      size += bucket[i] == edge ? 1 : 0;
    }
    long[] keys = new long[size];
    for (int i = 0, j = 0; i < v; i++) {
      if (bucket[i] == edge) {
        keys[j++] = key(p[i], i);
      }
    }
    Arrays.sort(keys);
    long lowest = Long.MAX_VALUE;
    for (int j = size - 1; j >= 0 && (cum < target || lowest == Long.MAX_VALUE); j--) { // at least one token
      lowest = keys[j];
      cum += p[(int) keys[j]];
    }
    double u = random.nextDouble() * cum;
    int drawn = -1;
    for (int i = 0; i < v; i++) {
      if (bucket[i] >= 0 && (bucket[i] < edge || bucket[i] == edge && key(p[i], i) >= lowest)) {
        drawn = i;
        u -= p[i];
        if (u <= 0) {
          break;
        }
      }
    }
    return drawn >= 0 ? drawn : TextTokenizer.EOS;
  }

  private static long key(double p, int id) {
    return ((long) Float.floatToIntBits((float) p) << 32) | id;
  }

  private static int[] identity(int n) {
    int[] a = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = i;
    }
    return a;
  }

  private static <T> List<List<T>> chunks(List<T> items, int size) {
    List<List<T>> out = new ArrayList<>();
    for (int i = 0; i < items.size(); i += size) {
      out.add(items.subList(i, Math.min(items.size(), i + size)));
    }
    return out;
  }
}
