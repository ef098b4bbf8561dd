package dev.distillery.decode;

/**
 * A decoded target.
 *
 * @param tokens generated ids, without {@code </s>}
 * @param logLikelihood sum of the model's natural-log probabilities (temperature 1) of the tokens
 *     and of {@code </s>} when it was generated
 * @param finished whether the model ended it with {@code </s>} (false: cut at max-new-tokens)
 */
public record Hypothesis(int[] tokens, double logLikelihood, boolean finished) {}
