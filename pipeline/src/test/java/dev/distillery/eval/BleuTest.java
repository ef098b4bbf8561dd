package dev.distillery.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class BleuTest {

  private static final double EPSILON = 1e-8;

  // README example from sacreBLEU's test suite: mjpost/sacrebleu, test/test_bleu.py (_hyps, _refs).
  private static final List<String> README_HYPS =
      List.of("The dog bit the man.", "It wasn't surprising.", "The man had just bitten him.");
  private static final List<String> README_REFS_1 =
      List.of("The dog bit the man.", "It was not unexpected.", "The man bit him first.");
  private static final List<String> README_REFS_2 =
      List.of("The dog had bit the man.", "No one was surprised.", "The man had bitten the dog.");

  @Test
  void identicalCorpusScoresHundred() {
    List<String> text = List.of("The cat sat on the mat.", "It was not unexpected, really!");
    Bleu.Score s = Bleu.corpus(text, text);
    assertEquals(100.0, s.score(), EPSILON);
    assertArrayEquals(new double[] {100, 100, 100, 100}, s.precisions(), EPSILON);
    assertEquals(1.0, s.brevityPenalty(), 0.0);
    assertEquals(s.hypLength(), s.refLength());
    assertEquals(14, s.hypLength());
  }

  @Test
  void disjointCorpusScoresExactlyZero() {
    // sacreBLEU issue #141 example, test/test_sentence_bleu.py (test_cases_zero_bleu): 0.0 even
    // with exp smoothing, because no n-gram of any order matches.
    Bleu.Score s = Bleu.corpus(List.of("this is a cat"), List.of("okay thanks"));
    assertEquals(0.0, s.score(), 0.0);
    assertArrayEquals(new double[4], s.precisions(), 0.0);
  }

  @Test
  void emptyHypothesesScoreZeroAndAreNotDropped() {
    // test/test_bleu.py: (('', '', ''), _refs, {}, 0.0)
    Bleu.Score s = Bleu.corpus(List.of("", "", ""), README_REFS_1);
    assertEquals(0.0, s.score(), 0.0);
    assertEquals(0, s.hypLength());
    assertEquals(17, s.refLength());
    assertEquals(0.0, s.brevityPenalty(), 0.0);
  }

  @Test
  void emptyCorpusScoresZero() {
    Bleu.Score s = Bleu.corpus(List.of(), List.of());
    assertEquals(0.0, s.score(), 0.0);
    assertEquals(0, s.hypLength());
  }

  @Test
  void matchesSacrebleuSentenceExampleFromIssue98() {
    // test/test_sentence_bleu.py: REF/SYS from issue #98, ('exp', None, False, '13a', 8.493),
    // tolerance 1e-3 there. With >= 4 hypothesis tokens effective order changes nothing, so the
    // one-segment corpus score equals that sentence score.
    Bleu.Score s = Bleu.corpus(
        List.of("Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;"),
        List.of("producţia de zahăr brut se exprimă în zahăr alb;"));
    assertEquals(8.493, s.score(), 1e-3);
    assertEquals(14, s.hypLength());
    assertEquals(10, s.refLength());
  }

  @Test
  void matchesSacrebleuReadmeCorpusExampleWithTwoReferences() {
    // test/test_bleu.py: (_hyps, _refs, {}, 48.530827) and (_hyps, _refs, {'tokenize': '13a'}, ...)
    Bleu.Score s = Bleu.corpus(README_HYPS, List.of(README_REFS_1, README_REFS_2), 4);
    assertEquals(48.530827, s.score(), EPSILON);
  }

  @Test
  void matchesSacrebleuMaxNgramOrderTable() {
    // test/test_bleu.py: test_bleu_max_order, compared on two decimals as there.
    String[] expected = {"77.65", "60.50", "53.93", "48.53", "46.14", "43.28"};
    for (int order = 1; order <= 6; order++) {
      Bleu.Score s = Bleu.corpus(README_HYPS, List.of(README_REFS_1, README_REFS_2), order);
      assertEquals(expected[order - 1], String.format(java.util.Locale.ROOT, "%.2f", s.score()),
          "max order " + order);
    }
  }

  @Test
  void matchesSacrebleuNgramStatistics() {
    // test/test_bleu.py: test_case_statistics, counts [4, 2, 1, 0], totals [6, 5, 4, 3].
    long[] stats = Bleu.segmentStatistics(
        "am I am a character sequence", List.of("I am a symbol string sequence a a"), 4);
    assertArrayEquals(new long[] {6, 8, 4, 2, 1, 0, 6, 5, 4, 3}, stats);
  }

  @Test
  void matchesSacrebleuScoringFromStatistics() {
    // test/test_bleu.py: test_case_scoring, ([9, 7, 5, 3], [10, 8, 6, 4], 11, 11) -> 0.8375922397
    // (all orders match, so exp smoothing does not apply).
    Bleu.Score s = Bleu.fromStatistics(new long[] {9, 7, 5, 3}, new long[] {10, 8, 6, 4}, 11, 11);
    assertEquals(83.75922397, s.score(), 1e-6);
  }

  @Test
  void expSmoothingHalvesTheFirstUnmatchedOrder() {
    // "this is a fest" vs "this is a test" (test/test_bleu.py raw case): counts [3, 2, 1, 0],
    // totals [4, 3, 2, 1]; exp smoothing gives p4 = 1 / (2 * 1), so BLEU = (3/4 * 2/3 * 1/2 *
    // 1/2)^(1/4) = 0.125^(1/4) (sacreBLEU 2.6.0 BLEU().corpus_score: 59.460355750136046).
    Bleu.Score s = Bleu.corpus(List.of("this is a fest"), List.of("this is a test"));
    assertEquals(100 * Math.pow(0.125, 0.25), s.score(), EPSILON);
    assertArrayEquals(new double[] {75, 200.0 / 3, 50, 50}, s.precisions(), EPSILON);
  }

  @Test
  void expSmoothingDoublesForEachFurtherUnmatchedOrder() {
    Bleu.Score s = Bleu.fromStatistics(new long[] {3, 0, 0, 0}, new long[] {4, 3, 2, 1}, 4, 4);
    assertArrayEquals(new double[] {75, 100.0 / (2 * 3), 100.0 / (4 * 2), 100.0 / (8 * 1)},
        s.precisions(), EPSILON);
  }

  @Test
  void hypothesisWithoutHigherOrderNgramsScoresZeroLikeSacrebleu() {
    // No 3- or 4-grams in the hypothesis: sacreBLEU leaves those precisions at 0 and the score
    // collapses to 0 (sacreBLEU 2.6.0: 0.0, precisions [100, 100, 0, 0], BP exp(1 - 6/2)).
    Bleu.Score s = Bleu.corpus(List.of("the cat"), List.of("the cat sat on the mat"));
    assertEquals(0.0, s.score(), 0.0);
    assertArrayEquals(new double[] {100, 100, 0, 0}, s.precisions(), EPSILON);
    assertEquals(Math.exp(1 - 6.0 / 2), s.brevityPenalty(), EPSILON);
  }

  @Test
  void singleReferenceCorpusMatchesSacrebleu() {
    // Values from sacreBLEU 2.6.0: BLEU().corpus_score(_hyps, [_refs[0]]) on the README example.
    Bleu.Score s = Bleu.corpus(README_HYPS, README_REFS_1);
    assertEquals(45.06750632106114, s.score(), EPSILON);
    assertArrayEquals(new double[] {1200.0 / 17, 600.0 / 14, 400.0 / 11, 300.0 / 8},
        s.precisions(), EPSILON);
    assertEquals(17, s.hypLength());
    assertEquals(17, s.refLength());
  }

  @Test
  void brevityPenaltyAppliesWhenHypothesesAreShorter() {
    // sacreBLEU 2.6.0: 36.65671146483689, BP 0.9131007162822624, hyp_len 11, ref_len 12.
    Bleu.Score s = Bleu.corpus(
        List.of("The cat sat on the mat.", "A dog barked."),
        List.of("The cat is on the mat.", "The dog barked loudly."));
    assertEquals(11, s.hypLength());
    assertEquals(12, s.refLength());
    assertEquals(Math.exp(1 - 12.0 / 11), s.brevityPenalty(), EPSILON);
    assertEquals(36.65671146483689, s.score(), EPSILON);
  }

  @Test
  void longerHypothesisHasNoBrevityPenalty() {
    Bleu.Score s = Bleu.corpus(List.of("the cat sat on the mat today"), List.of("the cat sat on the mat"));
    assertEquals(1.0, s.brevityPenalty(), 0.0);
  }

  @Test
  void moreMatchesGiveHigherScore() {
    String ref = "the quick brown fox jumps over the lazy dog";
    double none = Bleu.corpus(List.of("a slow red cat walks under an active bird"), List.of(ref)).score();
    double some = Bleu.corpus(List.of("the quick red cat walks under the lazy bird"), List.of(ref)).score();
    double more = Bleu.corpus(List.of("the quick brown fox walks over the lazy bird"), List.of(ref)).score();
    double all = Bleu.corpus(List.of(ref), List.of(ref)).score();
    assertTrue(none < some, none + " < " + some);
    assertTrue(some < more, some + " < " + more);
    assertTrue(more < all, more + " < " + all);
  }

  @Test
  void isCaseSensitive() {
    assertTrue(Bleu.corpus(List.of("THE CAT SAT ON THE MAT"), List.of("the cat sat on the mat")).score()
        < 1e-6);
  }

  @Test
  void countMismatchIsRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Bleu.corpus(List.of("a", "b", "c"), List.of("a", "b", "c", "d")));
    assertEquals("Cannot compute BLEU: hypotheses and references differ in count: 3 vs 4", e.getMessage());
  }

  @Test
  void nullSegmentIsRejectedWithItsIndex() {
    List<String> refs = java.util.Arrays.asList("a", null);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Bleu.corpus(List.of("a", "b"), refs));
    assertEquals("Cannot compute BLEU: reference is null at index: 1", e.getMessage());
  }

  @Test
  void scoreCopiesItsPrecisions() {
    double[] p = {1, 2, 3, 4};
    Bleu.Score s = new Bleu.Score(1, p, 1, 1, 1);
    p[0] = 99;
    s.precisions()[1] = 99;
    assertArrayEquals(new double[] {1, 2, 3, 4}, s.precisions(), 0.0);
    assertEquals(s, new Bleu.Score(1, new double[] {1, 2, 3, 4}, 1, 1, 1));
  }

  @Test
  void tokenizer13aSplitsPunctuationButNotDecimalsInsideNumbers() {
    // Expected tokens as produced by sacreBLEU 2.6.0's Tokenizer13a.
    assertEquals(List.of("It", "costs", "$", "3.50", ",", "e", ".", "g", ".", "1,000", "items", "."),
        Bleu.tokenize13a("It costs $3.50, e.g. 1,000 items."));
    assertEquals(List.of("x", ",", "y", "3", ",", "y", "x", ",", "3", ".", "5", "5", "."),
        Bleu.tokenize13a("x,y 3,y x,3 .5 5."));
  }

  @Test
  void tokenizer13aSplitsDashOnlyAfterDigitAndPadsSymbols() {
    assertEquals(
        List.of("The", "1990", "-", "2000", "period", "(", "approx", ".", ")", "was", "\"", "well-known",
            "\"", "."),
        Bleu.tokenize13a("The 1990-2000 period (approx.) was \"well-known\"."));
  }

  @Test
  void tokenizer13aUnescapesEntitiesAndHandlesSkippedAndHyphenatedLineBreaks() {
    assertEquals(List.of("\"", "Hi", "\"", "&", "bye", "<", "b", ">"),
        Bleu.tokenize13a("&quot;Hi&quot; &amp; bye &lt;b&gt;"));
    assertEquals(List.of("cooperate", "now", "then"), Bleu.tokenize13a("co-\noperate<skipped> now\nthen"));
  }

  @Test
  void tokenizer13aSplitsOnUnicodeWhitespaceLikePython() {
    assertEquals(List.of("a", "b", "c", "d", "e"), Bleu.tokenize13a("a\u00a0b\u3000c\u202fd\u0085e"));
    assertEquals(List.of("a\u200bb"), Bleu.tokenize13a("a\u200bb")); // zero-width space is not whitespace
    assertEquals(List.of(), Bleu.tokenize13a("  \t "));
  }
}
