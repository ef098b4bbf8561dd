package dev.distillery.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Span alignment on two hand-made tokenizations of one text, "la casa": the teacher spells it
 * {@code ▁la ▁ca sa}, the student {@code ▁la ▁c asa}.
 */
class TokenBridgeTest {
  /** A Distillery BPE from a hand-written alphabet and merges, in rank order. */
  static BpeTokenizer bpe(String alphabet, String[][] merges) {
    StringBuilder vocab = new StringBuilder("[\"<pad>\",\"<unk>\",\"<s>\",\"</s>\",\"<sep>\"");
    alphabet.codePoints().sorted().forEach(cp -> vocab.append(",\"").appendCodePoint(cp).append('"'));
    StringBuilder m = new StringBuilder();
    for (String[] merge : merges) {
      vocab.append(",\"").append(merge[0]).append(merge[1]).append('"');
      m.append(m.length() == 0 ? "" : ",").append("[\"").append(merge[0]).append("\",\"").append(merge[1]).append("\"]");
    }
    return BpeTokenizer.fromJson("{\"format\":\"distillery-bpe\",\"version\":1,\"vocab\":" + vocab + "],\"merges\":["
        + m + "]}");
  }

  static final BpeTokenizer TEACHER = bpe("\u2581acls", new String[][] {
      {"\u2581", "l"}, {"\u2581l", "a"}, {"\u2581", "c"}, {"\u2581c", "a"}, {"s", "a"}});
  static final BpeTokenizer STUDENT = bpe("\u2581acls", new String[][] {
      {"\u2581", "l"}, {"\u2581l", "a"}, {"\u2581", "c"}, {"a", "s"}, {"as", "a"}});

  static int id(BpeTokenizer tok, String token) {
    for (int i = 0; i < tok.vocabSize(); i++) {
      if (tok.token(i).equals(token)) {
        return i;
      }
    }
    throw new IllegalArgumentException(token);
  }

  @Test
  void theTwoTokenizationsOfOneTextHaveTheirOwnSpansAndAlignWhereTheirEndsMeet() {
    int[] t = TEACHER.encode("la casa");
    int[] s = STUDENT.encode("la casa");
    assertArrayEquals(new int[] {id(TEACHER, "\u2581la"), id(TEACHER, "\u2581ca"), id(TEACHER, "sa")}, t);
    assertArrayEquals(new int[] {id(STUDENT, "\u2581la"), id(STUDENT, "\u2581c"), id(STUDENT, "asa")}, s);
    assertEquals("la casa", TokenBridge.text(TEACHER, t));
    // The text before each position, in UTF-8 bytes: "", "la", "la ca" / "la c", "la casa".
    assertArrayEquals(new int[] {0, 2, 5, 7}, TokenBridge.ends(TEACHER, t));
    assertArrayEquals(new int[] {0, 2, 4, 7}, TokenBridge.ends(STUDENT, s));
    // Student positions 0, 1 and 3 (end of sequence) read the same text as teacher positions 0, 1, 3.
    assertArrayEquals(new int[] {0, 1, -1, 3}, TokenBridge.align(TokenBridge.ends(TEACHER, t), TokenBridge.ends(STUDENT, s)));
  }

  @Test
  void spansCountBytesSoThatAccentedTextAlignsLikeAnyOther() {
    BpeTokenizer a = bpe("\u2581aeñ", new String[][] {{"\u2581", "a"}, {"ñ", "e"}});
    int[] ids = a.encode("añe a");
    // "a", "ñe" (ñ is two bytes in UTF-8), "a".
    assertArrayEquals(new int[] {0, 1, 4, 6}, TokenBridge.ends(a, ids));
  }

  @Test
  void atAlignedPositionsTeacherTokensMapToStudentTokensAndMappedPlusTailMassIsOne() {
    TokenBridge bridge = TokenBridge.of(TEACHER, STUDENT);
    assertEquals(TextTokenizer.EOS, bridge.map(TextTokenizer.EOS));
    assertEquals(id(STUDENT, "\u2581la"), bridge.map(id(TEACHER, "\u2581la")));
    assertEquals(-1, bridge.map(id(TEACHER, "\u2581ca")), "the student has no single token for ' ca'");
    int[] t = TEACHER.encode("la casa");
    // Per teacher position: its top-3 (teacher ids) and their log-probabilities, and the tail.
    int[][] top = {
        {id(TEACHER, "\u2581la"), id(TEACHER, "\u2581c"), id(TEACHER, "a")},
        {id(TEACHER, "\u2581ca"), id(TEACHER, "\u2581c"), id(TEACHER, "sa")},
        {id(TEACHER, "sa"), id(TEACHER, "s"), id(TEACHER, "a")},
        {TextTokenizer.EOS, id(TEACHER, "\u2581la"), id(TEACHER, "s")}};
    float[][] lps = {
        {(float) Math.log(0.6), (float) Math.log(0.2), (float) Math.log(0.1)},
        {(float) Math.log(0.5), (float) Math.log(0.2), (float) Math.log(0.1)},
        {(float) Math.log(0.7), (float) Math.log(0.1), (float) Math.log(0.1)},
        {(float) Math.log(0.9), (float) Math.log(0.05), (float) Math.log(0.01)}};
    float[] tails = {0.1f, 0.2f, 0.1f, 0.04f};
    TokenBridge.Relabeled r = bridge.relabel(t, top, lps, tails, 3, false);
    assertArrayEquals(STUDENT.encode("la casa"), r.ids());
    assertEquals(4, r.positions());
    assertEquals(3, r.aligned());
    for (int j : new int[] {0, 1, 3}) {
      double mass = r.tails()[j];
      for (int e = 0; e < 3; e++) {
        mass += r.topIds()[j][e] < 0 ? 0 : Math.exp(r.topLps()[j][e]);
      }
      assertEquals(1.0, mass, 1e-6, "position " + j);
    }
    // Position 1: ' ca' and 'sa' have no student token, so 0.5 + 0.1 joins the tail beside 0.2.
    assertEquals(id(STUDENT, "\u2581c"), r.topIds()[1][0]);
    assertEquals(0.2, Math.exp(r.topLps()[1][0]), 1e-6);
    assertArrayEquals(new int[] {id(STUDENT, "\u2581c"), -1, -1}, r.topIds()[1]);
    assertEquals(0.8, r.tails()[1], 1e-6);
    // Position 3 (end of sequence): </s> stays </s>.
    assertEquals(TextTokenizer.EOS, r.topIds()[3][0]);
    // Position 2 aligns with nothing: every slot empty, no teacher mass claimed.
    assertArrayEquals(new int[] {-1, -1, -1}, r.topIds()[2]);
    assertEquals(1f, r.tails()[2]);
    assertEquals(0.9 + 0.2 + 0.96, r.mappedMass(), 1e-5);
    assertEquals(0.9 + 0.8 + 0.96, r.storedMass(), 1e-5);
  }

  @Test
  void forUldAlignedPositionsKeepTheTeachersOwnSortedTopK() {
    TokenBridge bridge = TokenBridge.of(TEACHER, STUDENT);
    int[] t = TEACHER.encode("la casa");
    int[][] top = new int[4][];
    float[][] lps = new float[4][];
    for (int p = 0; p < 4; p++) {
      top[p] = new int[] {id(TEACHER, "\u2581ca"), id(TEACHER, "sa")};
      lps[p] = new float[] {(float) Math.log(0.5), (float) Math.log(0.3)};
    }
    TokenBridge.Relabeled r = bridge.relabel(t, top, lps, new float[] {0.2f, 0.2f, 0.2f, 0.2f}, 2, true);
    assertArrayEquals(top[1], r.topIds()[1]);
    assertEquals(0.2, r.tails()[1], 1e-6);
    assertArrayEquals(new int[] {-1, -1}, r.topIds()[2]);
  }

  @Test
  void theUnknownRateCountsTokensTheStudentCannotSpell() {
    assertEquals(0.0, TokenBridge.unknownRate(STUDENT, List.of("la casa")));
    // "sol" has an 'o' outside the alphabet: ▁ s o l with ▁s unmerged is 4 tokens, one of them <unk>.
    double rate = TokenBridge.unknownRate(STUDENT, List.of("sol"));
    assertTrue(rate > 0 && rate < 1, "rate " + rate);
    // After an <unk> nothing aligns: its text is unknown.
    assertEquals(-1, TokenBridge.ends(STUDENT, STUDENT.encode("sol"))[3]);
  }
}
