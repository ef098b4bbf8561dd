package dev.distillery.loss;

/**
 * The label layout of one position, {@code 4 + 2k} floats, so that labels stay O(k) and never
 * vocabulary-sized: DL4J sees them as {@code [batch, 4 + 2k, time]}.
 *
 * <pre>
 *   0          gold token id (the next token of the sequence being trained on)
 *   1          weight of the cross-entropy on the gold token
 *   2          weight of the divergence between teacher and student buckets
 *   3          tail mass r = 1 − Σ top-k teacher probabilities
 *   4 .. 3+k   teacher top-k token ids
 *   4+k .. 3+2k   their natural-log probabilities (temperature 1)
 * </pre>
 */
public final class CompactLabels {
  public static final int GOLD = 0;
  public static final int W_CE = 1;
  public static final int W_DIV = 2;
  public static final int TAIL = 3;
  public static final int IDS = 4;

  private CompactLabels() {}

  public static int width(int k) {
    return IDS + 2 * k;
  }

  /** k from a label width. */
  public static int k(long width) {
    if (width < IDS || (width - IDS) % 2 != 0) {
      throw new IllegalArgumentException("Cannot read compact labels: width must be 4 + 2k: " + width);
    }
    return (int) ((width - IDS) / 2);
  }
}
