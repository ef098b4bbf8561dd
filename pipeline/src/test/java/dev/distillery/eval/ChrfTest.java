package dev.distillery.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class ChrfTest {

  /** Tolerance used by sacreBLEU's own test/test_chrf.py. */
  private static final double SACREBLEU_EPSILON = 1e-4;

  private static final double EPSILON = 1e-9;

  // Sentence-level examples of mjpost/sacrebleu test/test_chrf.py (test_sentence_level_chrf).
  private static final String[][] CZECH = {
    {"Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
        "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře."},
    {"Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
        "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři."},
    {"Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
        "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli."},
  };

  private static double chrf(String hyp, String ref) {
    return Chrf.corpus(List.of(hyp), List.of(ref));
  }

  @Test
  void identicalCorpusScoresHundred() {
    // test/test_chrf.py: "Niemand hat die Absicht, eine Mauer zu errichten" -> 100.0
    String s = "Niemand hat die Absicht, eine Mauer zu errichten";
    assertEquals(100.0, chrf(s, s), EPSILON);
    List<String> text = List.of("The cat sat on the mat.", "x");
    assertEquals(100.0, Chrf.corpus(text, text), EPSILON);
  }

  @Test
  void disjointCorpusScoresZero() {
    // test/test_chrf.py: (["abcdefg"], ["hijklmnop"], 0.0), (["a"], ["b"], 0.0)
    assertEquals(0.0, chrf("abcdefg", "hijklmnop"), 0.0);
    assertEquals(0.0, chrf("a", "b"), 0.0);
  }

  @Test
  void emptyHypothesisScoresZero() {
    // test/test_chrf.py (effective-order mode): ([""], ["reference"], 0.0), ([""], ["c"], 0.0)
    assertEquals(0.0, chrf("", "reference"), 0.0);
    assertEquals(0.0, chrf("", "c"), 0.0);
    assertEquals(0.0, Chrf.corpus(List.of(), List.of()), 0.0);
  }

  @Test
  void matchesSacrebleuEffectiveOrderCases() {
    // test/test_chrf.py, test_cases_effective_order (sacreBLEU's default eps_smoothing=False). They
    // are stated with beta=3, but in each of them precision equals recall, so F is the same for
    // beta=2, the default used here.
    assertEquals(100.0, chrf("a", "a"), SACREBLEU_EPSILON);
    assertEquals(100.0, chrf("a b c", "a b c"), SACREBLEU_EPSILON);
    assertEquals(25.0, chrf("aa", "ab"), SACREBLEU_EPSILON);
    assertEquals(50.0, Chrf.corpus(List.of("a", "b"), List.of("a", "c")), SACREBLEU_EPSILON);
  }

  @Test
  void whitespaceIsRemovedFromCharacterNgrams() {
    // test/test_chrf.py: (["a b c"], ["abc"], 100.0)
    assertEquals(100.0, chrf("a b c", "abc"), SACREBLEU_EPSILON);
    assertEquals(chrf("The cat sat on the mat.", "The cat is on the mat."),
        chrf(" The\tcat\u00a0 sat on  the mat. ", "The cat is on the mat."), EPSILON);
  }

  @Test
  void matchesSacrebleuEpsSmoothingCasesWithBetaThree() {
    // test/test_chrf.py, test_cases (char_order=6, word_order=0, beta=3, eps_smoothing=True).
    assertEquals(8.3333, Chrf.corpus(List.of("aa"), List.of("ab"), 6, 3, true), SACREBLEU_EPSILON);
    assertEquals(8.3333, Chrf.corpus(List.of("a", "b"), List.of("a", "c"), 6, 3, true),
        SACREBLEU_EPSILON);
    assertEquals(16.6667, Chrf.corpus(List.of("a"), List.of("a"), 6, 3, true), SACREBLEU_EPSILON);
    assertEquals(50.0, Chrf.corpus(List.of("a b c"), List.of("abc"), 6, 3, true), SACREBLEU_EPSILON);
    assertEquals(0.0, Chrf.corpus(List.of(""), List.of("ref"), 6, 3, true), SACREBLEU_EPSILON);
    assertEquals(63.361730, Chrf.corpus(
        List.of(" risk assessment must be made of those who are qualified and expertise in the sector"
            + " - these are the scientists ."),
        List.of("risk assessment has to be undertaken by those who are qualified and expert in that"
            + " area - that is the scientists ."), 6, 3, true), SACREBLEU_EPSILON);
    assertEquals(64.1302698, Chrf.corpus(
        List.of(" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "),
        List.of("Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."),
        6, 3, true), SACREBLEU_EPSILON);
  }

  @Test
  void matchesSacrebleuSentenceLevelCasesWithEpsSmoothing() {
    // test/test_chrf.py, test_sentence_level_chrf: default chrF (beta=2) with eps_smoothing=True.
    double[] expected = {39.14078509, 31.22557079, 57.15704367};
    for (int i = 0; i < CZECH.length; i++) {
      assertEquals(expected[i], Chrf.corpus(List.of(CZECH[i][0]), List.of(CZECH[i][1]), 6, 2, true),
          SACREBLEU_EPSILON);
    }
  }

  @Test
  void defaultScoresMatchSacrebleu() {
    // sacreBLEU 2.6.0, CHRF().corpus_score(...) with defaults, on the test_chrf.py sentences.
    double[] expected = {39.14081690316369, 31.225641469352972, 57.157427512824064};
    for (int i = 0; i < CZECH.length; i++) {
      assertEquals(expected[i], chrf(CZECH[i][0], CZECH[i][1]), EPSILON);
    }
    assertEquals(67.17273492330233, chrf("The cat sat on the mat.", "The cat is on the mat."), EPSILON);
  }

  @Test
  void corpusScorePoolsStatisticsInsteadOfAveragingSentences() {
    // sacreBLEU 2.6.0 on the three test_chrf.py sentences as one corpus: 43.03622941164886, which
    // is not the mean of the sentence scores (42.51).
    List<String> hyps = List.of(CZECH[0][0], CZECH[1][0], CZECH[2][0]);
    List<String> refs = List.of(CZECH[0][1], CZECH[1][1], CZECH[2][1]);
    assertEquals(43.03622941164886, Chrf.corpus(hyps, refs), EPSILON);
    assertEquals(55.429392854736435, Chrf.corpus(
        List.of("The cat sat on the mat.", "A dog barked."),
        List.of("The cat is on the mat.", "The dog barked loudly.")), EPSILON);
  }

  @Test
  void hypothesisNgramsAreNotCountedWhereTheReferenceHasNone() {
    // Second segment's reference "c" has no bigrams, so the hypothesis bigram "cd" is not counted:
    // bigram P = R = 1, unigram P = 3/4, R = 1 -> F2 = 5 * 0.875 / 4.5 (sacreBLEU 2.6.0:
    // 97.22222222222221).
    assertEquals(97.22222222222221, Chrf.corpus(List.of("ab", "cd"), List.of("ab", "c")), EPSILON);
  }

  @Test
  void recallWeighsMoreThanPrecision() {
    // beta = 2: a hypothesis that covers the reference plus extra scores higher than one that is
    // a strict part of it with the same number of differing characters.
    double extra = chrf("abcdefgh", "abcd");
    double missing = chrf("abcd", "abcdefgh");
    assertTrue(missing < extra, missing + " < " + extra);
  }

  @Test
  void countsUnicodeCodePointsAsCharacters() {
    // sacreBLEU 2.6.0 (Python strings are code points): 38.888888888888886
    assertEquals(38.888888888888886, chrf("a\uD83D\uDE00b", "a\uD83D\uDE00c"), EPSILON);
  }

  @Test
  void moreMatchesGiveHigherScore() {
    String ref = "the quick brown fox jumps over the lazy dog";
    double some = chrf("the quick red cat walks under the lazy bird", ref);
    double more = chrf("the quick brown fox walks over the lazy bird", ref);
    double all = chrf(ref, ref);
    assertTrue(some < more, some + " < " + more);
    assertTrue(more < all, more + " < " + all);
  }

  @Test
  void isCaseSensitive() {
    assertEquals(0.0, chrf("ABC", "abc"), 0.0);
  }

  @Test
  void countMismatchIsRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Chrf.corpus(List.of("a", "b", "c"), List.of("a", "b", "c", "d")));
    assertEquals("Cannot compute chrF: hypotheses and references differ in count: 3 vs 4", e.getMessage());
  }

  @Test
  void nullSegmentIsRejectedWithItsIndex() {
    List<String> hyps = java.util.Arrays.asList("a", null);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Chrf.corpus(hyps, List.of("a", "b")));
    assertEquals("Cannot compute chrF: hypothesis is null at index: 1", e.getMessage());
  }
}
