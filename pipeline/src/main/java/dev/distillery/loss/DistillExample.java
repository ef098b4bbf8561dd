package dev.distillery.loss;

import dev.distillery.model.Sequence;

/**
 * One student training sequence {@code <s> source <sep> y </s>} with the teacher's compact labels at
 * each of its {@code n + 1} target positions (weights are filled in per minibatch by {@link LossPlan}).
 *
 * @param role which part of the loss this sequence feeds
 * @param labels {@code [n + 1][4 + 2k]} flattened row-major, {@link CompactLabels} layout
 * @param lastHasGold false when {@code y} was cut at max-new-tokens: no cross-entropy on the last position
 */
public record DistillExample(String id, int[] tokens, int targetStart, Role role, float[] labels, boolean lastHasGold)
    implements Sequence {

  /** What a sequence is trained for. */
  public enum Role {
    /** The reference y*, cross-entropy only (ce). */
    REFERENCE,
    /** The reference y* with the teacher's distributions (kl, the token-level half of hybrid). */
    TOKEN,
    /** The teacher's beam output, cross-entropy only (seqkd, the sentence-level half of hybrid). */
    SENTENCE,
    /** A teacher output with its distributions (rkl, js, tvd on teacher prefixes). */
    DIVERGENCE
  }

  @Override
  public int targetTokens() {
    return tokens.length - targetStart;
  }
}
