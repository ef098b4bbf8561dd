package dev.distillery.eval;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Corpus-level chrF (Popović, 2015, "chrF: character n-gram F-score for automatic MT evaluation",
 * WMT) computed the way sacreBLEU 2.x computes it with its default settings (Post, 2018, "A Call
 * for Clarity in Reporting BLEU Scores", WMT), i.e. the score with signature {@code
 * nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no}:
 *
 * <ul>
 *   <li>character n-grams of orders 1 to 6, no word n-grams (chrF, not chrF++), case-sensitive;
 *   <li>all whitespace is removed from a segment before its character n-grams are taken; characters
 *       are Unicode code points;
 *   <li>per order, hypothesis, reference and clipped-match counts are summed over all segments
 *       (a segment whose reference has no n-gram of an order contributes no hypothesis n-grams of
 *       that order);
 *   <li>precision and recall are averaged over the "effective" orders only (those with both
 *       hypothesis and reference n-grams in the corpus), then combined into F-beta with beta = 2;
 *       no eps smoothing (sacreBLEU's {@code eps_smoothing=False} default). If no order is
 *       effective or nothing matches, the score is 0.
 * </ul>
 *
 * <p>Scores are on the 0..100 scale.
 */
public final class Chrf {

  /** Character n-gram order ({@code CHRF.CHAR_ORDER}). */
  static final int CHAR_ORDER = 6;

  /** Recall weight ({@code CHRF.BETA}). */
  static final int BETA = 2;

  /** The epsilon used by sacreBLEU's optional chrF++.py-style smoothing. */
  private static final double EPS = 1e-16;

  private Chrf() {}

  /**
   * Computes corpus chrF of detokenized hypotheses against one reference per segment.
   *
   * @param hypotheses one hypothesis per segment
   * @param references one reference per segment, aligned with {@code hypotheses}
   * @return chrF on the 0..100 scale; an empty corpus scores 0
   * @throws IllegalArgumentException if the lists differ in size or hold a null entry
   */
  public static double corpus(List<String> hypotheses, List<String> references) {
    return corpus(hypotheses, references, CHAR_ORDER, BETA, false);
  }

  /**
   * chrF with explicit order, beta and smoothing mode. Package-private: {@code epsSmoothing =
   * true} reproduces sacreBLEU's chrF++.py-style eps smoothing, used to check against sacreBLEU's
   * test cases that are stated in that mode.
   */
  static double corpus(
      List<String> hypotheses, List<String> references, int charOrder, int beta,
      boolean epsSmoothing) {
    Objects.requireNonNull(hypotheses, "Cannot compute chrF: list is null: hypotheses");
    Objects.requireNonNull(references, "Cannot compute chrF: list is null: references");
    if (hypotheses.size() != references.size()) {
      throw new IllegalArgumentException(
          "Cannot compute chrF: hypotheses and references differ in count: "
              + hypotheses.size() + " vs " + references.size());
    }
    if (charOrder < 1) {
      throw new IllegalArgumentException(
          "Cannot compute chrF: character n-gram order must be positive: " + charOrder);
    }
    if (beta < 0) {
      throw new IllegalArgumentException("Cannot compute chrF: beta must not be negative: " + beta);
    }
    long[] stats = new long[3 * charOrder];
    for (int i = 0; i < hypotheses.size(); i++) {
      String hyp = hypotheses.get(i);
      String ref = references.get(i);
      if (hyp == null) {
        throw new IllegalArgumentException("Cannot compute chrF: hypothesis is null at index: " + i);
      }
      if (ref == null) {
        throw new IllegalArgumentException("Cannot compute chrF: reference is null at index: " + i);
      }
      long[] segment = segmentStatistics(hyp, ref, charOrder);
      for (int k = 0; k < stats.length; k++) {
        stats[k] += segment[k];
      }
    }
    return fScore(stats, charOrder, beta, epsSmoothing);
  }

  /**
   * Statistics of one segment, laid out like sacreBLEU's: for each order n = 1..charOrder the
   * triple {@code [hypCount, refCount, matchCount]}, where hypCount is 0 if the reference has no
   * n-gram of that order.
   */
  static long[] segmentStatistics(String hypothesis, String reference, int charOrder) {
    int[] hyp = withoutWhitespace(hypothesis);
    int[] ref = withoutWhitespace(reference);
    long[] stats = new long[3 * charOrder];
    for (int n = 1; n <= charOrder; n++) {
      Map<String, Integer> hypCounts = charNgrams(hyp, n);
      Map<String, Integer> refCounts = charNgrams(ref, n);
      long hypCount = 0;
      long match = 0;
      for (Map.Entry<String, Integer> e : hypCounts.entrySet()) {
        hypCount += e.getValue();
        Integer r = refCounts.get(e.getKey());
        if (r != null) {
          match += Math.min(e.getValue(), r);
        }
      }
      int base = 3 * (n - 1);
      stats[base] = refCounts.isEmpty() ? 0 : hypCount;
      stats[base + 1] = Math.max(ref.length - n + 1, 0);
      stats[base + 2] = match;
    }
    return stats;
  }

  /** sacreBLEU's {@code CHRF._compute_f_score} over flattened [hyp, ref, match] triples. */
  static double fScore(long[] stats, int order, int beta, boolean epsSmoothing) {
    double factor = (double) beta * beta;
    double epsScore = 0.0;
    double avgPrec = 0.0;
    double avgRec = 0.0;
    int effectiveOrder = 0;
    for (int i = 0; i < order; i++) {
      long nHyp = stats[3 * i];
      long nRef = stats[3 * i + 1];
      long nMatch = stats[3 * i + 2];
      double prec = nHyp > 0 ? (double) nMatch / nHyp : EPS;
      double rec = nRef > 0 ? (double) nMatch / nRef : EPS;
      double denom = factor * prec + rec;
      epsScore += denom > 0 ? (1 + factor) * prec * rec / denom : EPS;
      if (nHyp > 0 && nRef > 0) {
        avgPrec += prec;
        avgRec += rec;
        effectiveOrder++;
      }
    }
    if (epsSmoothing) {
      return 100 * epsScore / order;
    }
    if (effectiveOrder == 0) {
      return 0.0;
    }
    avgPrec /= effectiveOrder;
    avgRec /= effectiveOrder;
    if (avgPrec + avgRec == 0.0) {
      return 0.0;
    }
    double score = (1 + factor) * avgPrec * avgRec;
    score /= factor * avgPrec + avgRec;
    return 100 * score;
  }

  /** The code points of {@code s} with all (Python-style) whitespace removed. */
  private static int[] withoutWhitespace(String s) {
    return s.codePoints().filter(cp -> !Bleu.isPythonWhitespace(cp)).toArray();
  }

  private static Map<String, Integer> charNgrams(int[] cps, int n) {
    Map<String, Integer> counts = new HashMap<>();
    for (int i = 0; i + n <= cps.length; i++) {
      counts.merge(new String(cps, i, n), 1, Integer::sum);
    }
    return counts;
  }
}
