package dev.distillery.loss;

import dev.distillery.config.Objective.Role;
import dev.distillery.model.Sequence;

/**
 * One student training sequence {@code <s> source <sep> y </s>} with the teacher's compact labels at
 * each of its {@code n + 1} target positions (weights are filled in per minibatch from the objective, {@link dev.distillery.config.Objective#weights}).
 *
 * @param role which part of the loss this sequence feeds ({@link Role})
 * @param labels {@code [n + 1][4 + 2k]} flattened row-major, {@link CompactLabels} layout
 * @param lastHasGold false when {@code y} was cut at max-new-tokens: no cross-entropy on the last position
 */
public record DistillExample(String id, int[] tokens, int targetStart, Role role, float[] labels, boolean lastHasGold)
    implements Sequence {

  @Override
  public int targetTokens() {
    return tokens.length - targetStart;
  }
}
