package dev.distillery.prepare;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.distillery.decode.Decoder;
import dev.distillery.tokenizer.TextTokenizer;
import org.junit.jupiter.api.Test;

/** prepare.keep-specials: the specials a student can emit keep a slot among the stored top-k. */
class TeacherScorerTest {
  private static final int EOS = TextTokenizer.EOS;
  private static final int UNK = TextTokenizer.UNK;

  /** Log-probabilities over 12 ids, id v at -v (so the ranking is 0, 1, 2, ... ) but for the overrides. */
  private static float[] dist(int... overrides) {
    float[] d = new float[12];
    for (int v = 0; v < d.length; v++) {
      d[v] = -v;
    }
    for (int i = 0; i < overrides.length; i += 2) {
      d[overrides[i]] = overrides[i + 1];
    }
    return d;
  }

  @Test
  void specialsRankedBelowTheTopKTakeTheLastSlotsInTheirOwnOrder() {
    // <unk> (id 1) at -30 ranks below </s> (id 3) at -20; both below the top-4 tokens 0, 2, 4, 5.
    float[] d = dist(UNK, -30, EOS, -20);
    int[] top = Decoder.topIndices(d, 4);
    assertArrayEquals(new int[] {0, 2, 4, 5}, top);

    assertArrayEquals(new int[] {0, 2, EOS, UNK}, TeacherScorer.keepSpecials(d, top));
  }

  @Test
  void aSpecialAlreadyInTheTopKKeepsItsRankAndOnlyTheOtherTakesASlot() {
    float[] d = dist(UNK, -30);
    int[] top = Decoder.topIndices(d, 4);
    assertArrayEquals(new int[] {0, 2, EOS, 4}, top);

    assertArrayEquals(new int[] {0, 2, EOS, UNK}, TeacherScorer.keepSpecials(d, top));
  }

  @Test
  void aTopKHoldingBothSpecialsIsReturnedAsIs() {
    float[] d = dist();
    int[] top = Decoder.topIndices(d, 5);

    assertSame(top, TeacherScorer.keepSpecials(d, top));
  }

  @Test
  void aSingleSlotGoesToEndOfSequence() {
    float[] d = dist(UNK, -30, EOS, -40);
    int[] top = Decoder.topIndices(d, 1);

    assertArrayEquals(new int[] {EOS}, TeacherScorer.keepSpecials(d, top));
  }
}
