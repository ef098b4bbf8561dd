package dev.distillery.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Corpus-level BLEU (Papineni et al., 2002) computed the way sacreBLEU 2.x computes it with its
 * default settings (Post, 2018, "A Call for Clarity in Reporting BLEU Scores", WMT):
 *
 * <ul>
 *   <li>detokenized input, tokenized here with the {@code 13a} tokenizer (mteval-v13a, see {@link
 *       #tokenize13a(String)}); hypotheses and references have trailing whitespace stripped first;
 *   <li>case-sensitive; n-gram orders 1 to 4, clipped counts summed over the whole corpus;
 *   <li>smoothing {@code exp} (the NIST / mteval-v13a method, Chen &amp; Cherry 2014 method 3): the
 *       k-th order that has no match gets precision {@code 1 / (2^k * total)}; if no n-gram of any
 *       order matches, the score is 0;
 *   <li>brevity penalty {@code exp(1 - r/c)} when the hypothesis length {@code c} is below the
 *       reference length {@code r} (one reference per segment, so the "closest" effective
 *       reference length is that reference's length).
 * </ul>
 *
 * <p>Scores are on the 0..100 scale, as sacreBLEU prints them. This is the score sacreBLEU reports
 * with the signature {@code nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp}.
 */
public final class Bleu {

  /** Maximum n-gram order (sacreBLEU's {@code MAX_NGRAM_ORDER}). */
  static final int MAX_NGRAM_ORDER = 4;

  /** sacreBLEU floors log(0) to this value ({@code sacrebleu.utils.my_log}). */
  private static final double LOG_ZERO = -9999999999.0;

  // mteval-v13a punctuation padding, applied in this order (sacreBLEU's TokenizerRegexp).
  /** Pads ASCII symbols: { | } ~ [ \ ] ^ _ ` space ! " # $ % &amp; ( ) * + : ; &lt; = &gt; ? @ /. */
  private static final Pattern SYMBOLS = Pattern.compile("([{-~\\[-`\\x20-\\&(-+:-@/])");
  /** Splits a period or comma off unless it is preceded by a digit. */
  private static final Pattern PERIOD_COMMA_NOT_AFTER_DIGIT = Pattern.compile("([^0-9])([.,])");
  /** Splits a period or comma off unless it is followed by a digit. */
  private static final Pattern PERIOD_COMMA_NOT_BEFORE_DIGIT = Pattern.compile("([.,])([^0-9])");
  /** Splits a dash that follows a digit. */
  private static final Pattern DASH_AFTER_DIGIT = Pattern.compile("([0-9])(-)");

  private Bleu() {}

  /**
   * A corpus BLEU score with its components, as sacreBLEU's {@code BLEUScore} reports them.
   *
   * @param score BLEU on the 0..100 scale
   * @param precisions the (smoothed) n-gram precisions for orders 1..4, each on the 0..100 scale
   * @param brevityPenalty the brevity penalty in [0, 1]
   * @param hypLength total number of hypothesis tokens
   * @param refLength total (effective) number of reference tokens
   */
  public record Score(
      double score, double[] precisions, double brevityPenalty, long hypLength, long refLength) {

    /**
     * Validates and defensively copies {@code precisions}.
     *
     * @param score BLEU on the 0..100 scale
     * @param precisions the n-gram precisions, order 1 first, each on the 0..100 scale
     * @param brevityPenalty the brevity penalty in [0, 1]
     * @param hypLength total number of hypothesis tokens
     * @param refLength total number of reference tokens
     */
    public Score {
      Objects.requireNonNull(precisions, "Cannot create BLEU score: precisions are missing: null");
      precisions = precisions.clone();
    }

    /**
     * Returns the n-gram precisions.
     *
     * @return a copy of the n-gram precisions (0..100), order 1 first
     */
    @Override
    public double[] precisions() {
      return precisions.clone();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Score s
          && Double.compare(score, s.score) == 0
          && Arrays.equals(precisions, s.precisions)
          && Double.compare(brevityPenalty, s.brevityPenalty) == 0
          && hypLength == s.hypLength
          && refLength == s.refLength;
    }

    @Override
    public int hashCode() {
      return Objects.hash(score, Arrays.hashCode(precisions), brevityPenalty, hypLength, refLength);
    }

    @Override
    public String toString() {
      return "Score[score=" + score + ", precisions=" + Arrays.toString(precisions)
          + ", brevityPenalty=" + brevityPenalty + ", hypLength=" + hypLength
          + ", refLength=" + refLength + "]";
    }
  }

  /**
   * Computes corpus BLEU of detokenized hypotheses against one detokenized reference per segment.
   *
   * @param hypotheses one hypothesis per segment
   * @param references one reference per segment, aligned with {@code hypotheses}
   * @return the corpus score; an empty corpus scores 0
   * @throws IllegalArgumentException if the lists differ in size or hold a null entry
   */
  public static Score corpus(List<String> hypotheses, List<String> references) {
    Objects.requireNonNull(hypotheses, "Cannot compute BLEU: list is null: hypotheses");
    Objects.requireNonNull(references, "Cannot compute BLEU: list is null: references");
    return corpus(hypotheses, List.of(references), MAX_NGRAM_ORDER);
  }

  /**
   * Corpus BLEU against several reference streams (each aligned with {@code hypotheses}), with a
   * configurable maximum order; reference n-gram counts are max-merged and the closest reference
   * length is used, as in sacreBLEU. Package-private: used to check against sacreBLEU's
   * multi-reference test cases.
   */
  static Score corpus(List<String> hypotheses, List<List<String>> referenceStreams, int maxOrder) {
    if (maxOrder < 1) {
      throw new IllegalArgumentException(
          "Cannot compute BLEU: maximum n-gram order must be positive: " + maxOrder);
    }
    for (List<String> stream : referenceStreams) {
      if (stream.size() != hypotheses.size()) {
        throw new IllegalArgumentException(
            "Cannot compute BLEU: hypotheses and references differ in count: "
                + hypotheses.size() + " vs " + stream.size());
      }
    }
    long[] correct = new long[maxOrder];
    long[] total = new long[maxOrder];
    long hypLength = 0;
    long refLength = 0;
    for (int i = 0; i < hypotheses.size(); i++) {
      String hyp = hypotheses.get(i);
      if (hyp == null) {
        throw new IllegalArgumentException("Cannot compute BLEU: hypothesis is null at index: " + i);
      }
      List<String> refs = new ArrayList<>(referenceStreams.size());
      for (List<String> stream : referenceStreams) {
        String ref = stream.get(i);
        if (ref == null) {
          throw new IllegalArgumentException("Cannot compute BLEU: reference is null at index: " + i);
        }
        refs.add(ref);
      }
      long[] stats = segmentStatistics(hyp, refs, maxOrder);
      hypLength += stats[0];
      refLength += stats[1];
      for (int n = 0; n < maxOrder; n++) {
        correct[n] += stats[2 + n];
        total[n] += stats[2 + maxOrder + n];
      }
    }
    return fromStatistics(correct, total, hypLength, refLength);
  }

  /**
   * Sufficient statistics of one segment, laid out like sacreBLEU's: {@code [hypLen, refLen,
   * correct_1..correct_N, total_1..total_N]}.
   */
  static long[] segmentStatistics(String hypothesis, List<String> references, int maxOrder) {
    List<String> hypTokens = tokenize13a(rstrip(hypothesis));
    List<Map<String, Integer>> refCounts = new ArrayList<>(maxOrder);
    for (int n = 0; n < maxOrder; n++) {
      refCounts.add(new HashMap<>());
    }
    List<Integer> refLengths = new ArrayList<>(references.size());
    for (String ref : references) {
      List<String> refTokens = tokenize13a(rstrip(ref));
      refLengths.add(refTokens.size());
      List<Map<String, Integer>> counts = ngramCounts(refTokens, maxOrder);
      for (int n = 0; n < maxOrder; n++) {
        Map<String, Integer> merged = refCounts.get(n);
        counts.get(n).forEach((ngram, count) -> merged.merge(ngram, count, Math::max));
      }
    }
    long[] stats = new long[2 + 2 * maxOrder];
    stats[0] = hypTokens.size();
    stats[1] = closestReferenceLength(hypTokens.size(), refLengths);
    List<Map<String, Integer>> hypCounts = ngramCounts(hypTokens, maxOrder);
    for (int n = 0; n < maxOrder; n++) {
      Map<String, Integer> refs = refCounts.get(n);
      for (Map.Entry<String, Integer> e : hypCounts.get(n).entrySet()) {
        int count = e.getValue();
        stats[2 + maxOrder + n] += count;
        Integer refCount = refs.get(e.getKey());
        if (refCount != null) {
          stats[2 + n] += Math.min(count, refCount);
        }
      }
    }
    return stats;
  }

  /**
   * BLEU from corpus statistics with {@code exp} smoothing, following sacreBLEU's {@code
   * BLEU.compute_bleu} without effective order.
   *
   * @param correct clipped matches per order (order 1 first)
   * @param total hypothesis n-grams per order
   */
  static Score fromStatistics(long[] correct, long[] total, long hypLength, long refLength) {
    if (correct.length != total.length || correct.length == 0) {
      throw new IllegalArgumentException(
          "Cannot compute BLEU: match and total counts must have the same positive length: "
              + correct.length + " vs " + total.length);
    }
    int order = correct.length;
    double bp = 1.0;
    if (hypLength < refLength) {
      bp = hypLength > 0 ? Math.exp(1.0 - (double) refLength / (double) hypLength) : 0.0;
    }
    double[] precisions = new double[order];
    boolean anyMatch = false;
    for (long c : correct) {
      anyMatch |= c != 0;
    }
    if (!anyMatch) {
      return new Score(0.0, precisions, bp, hypLength, refLength);
    }
    double smooth = 1.0;
    for (int n = 0; n < order; n++) {
      if (total[n] == 0) {
        break; // remaining precisions stay 0, which drives the score to 0
      }
      if (correct[n] == 0) {
        smooth *= 2;
        precisions[n] = 100.0 / (smooth * total[n]);
      } else {
        precisions[n] = 100.0 * correct[n] / total[n];
      }
    }
    double logSum = 0.0;
    for (double p : precisions) {
      logSum += p == 0.0 ? LOG_ZERO : Math.log(p);
    }
    double score = bp * Math.exp(logSum / order);
    return new Score(score, precisions, bp, hypLength, refLength);
  }

  /**
   * Tokenizes a line with sacreBLEU's {@code 13a} tokenizer (equivalent to mteval-v13a.pl as used
   * by WMT): removes {@code <skipped>}, joins {@code -\n} hyphenations, turns newlines into spaces,
   * unescapes {@code &quot; &amp; &lt; &gt;}, pads ASCII symbols with spaces, splits periods and
   * commas off except inside numbers (so {@code 3.50} and {@code 1,000} stay whole), splits a dash
   * after a digit, and finally splits on whitespace (Python's {@code str.split()} notion of
   * whitespace).
   *
   * @param line one detokenized segment
   * @return its tokens, in order; empty for a blank line
   */
  public static List<String> tokenize13a(String line) {
    Objects.requireNonNull(line, "Cannot tokenize with 13a: line is null: null");
    String s = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ");
    if (s.indexOf('&') >= 0) {
      s = s.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    s = " " + s + " ";
    s = SYMBOLS.matcher(s).replaceAll(" $1 ");
    s = PERIOD_COMMA_NOT_AFTER_DIGIT.matcher(s).replaceAll("$1 $2 ");
    s = PERIOD_COMMA_NOT_BEFORE_DIGIT.matcher(s).replaceAll(" $1 $2");
    s = DASH_AFTER_DIGIT.matcher(s).replaceAll("$1 $2 ");
    return splitOnWhitespace(s);
  }

  private static int closestReferenceLength(int hypLength, List<Integer> refLengths) {
    int closestDiff = -1;
    int closestLength = -1;
    for (int refLength : refLengths) {
      int diff = Math.abs(hypLength - refLength);
      if (closestDiff == -1 || diff < closestDiff) {
        closestDiff = diff;
        closestLength = refLength;
      } else if (diff == closestDiff && refLength < closestLength) {
        closestLength = refLength;
      }
    }
    return Math.max(closestLength, 0);
  }

  /** Counts n-grams of orders 1..maxOrder; index n-1 holds order n, keyed by space-joined tokens. */
  private static List<Map<String, Integer>> ngramCounts(List<String> tokens, int maxOrder) {
    List<Map<String, Integer>> counts = new ArrayList<>(maxOrder);
    for (int n = 1; n <= maxOrder; n++) {
      Map<String, Integer> map = new HashMap<>();
      for (int i = 0; i + n <= tokens.size(); i++) {
        map.merge(String.join(" ", tokens.subList(i, i + n)), 1, Integer::sum);
      }
      counts.add(map);
    }
    return counts;
  }

  /** Python's {@code str.split()}: splits on runs of whitespace, dropping empty pieces. */
  static List<String> splitOnWhitespace(String s) {
    List<String> out = new ArrayList<>();
    int start = -1;
    int i = 0;
    while (i < s.length()) {
      int cp = s.codePointAt(i);
      if (isPythonWhitespace(cp)) {
        if (start >= 0) {
          out.add(s.substring(start, i));
          start = -1;
        }
      } else if (start < 0) {
        start = i;
      }
      i += Character.charCount(cp);
    }
    if (start >= 0) {
      out.add(s.substring(start));
    }
    return out;
  }

  /** Python's {@code str.rstrip()} without arguments. */
  static String rstrip(String s) {
    int end = s.length();
    while (end > 0) {
      int cp = s.codePointBefore(end);
      if (!isPythonWhitespace(cp)) {
        break;
      }
      end -= Character.charCount(cp);
    }
    return s.substring(0, end);
  }

  /**
   * Python's {@code str.isspace()} for one code point: Java's whitespace plus the no-break spaces
   * (U+00A0, U+2007, U+202F) and NEL (U+0085), which Python also splits on.
   */
  static boolean isPythonWhitespace(int cp) {
    return Character.isWhitespace(cp) || cp == 0x85 || cp == 0xA0 || cp == 0x2007 || cp == 0x202F;
  }
}
