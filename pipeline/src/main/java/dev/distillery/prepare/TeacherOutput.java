package dev.distillery.prepare;

import java.io.Serializable;

/**
 * One target sequence and the teacher's top-k distributions along it.
 *
 * @param ids target token ids without {@code </s>}, length {@code n}
 * @param logprob the teacher's natural-log likelihood of {@code ids} (and of {@code </s>} when finished)
 * @param topkIds {@code [n + 1][k]} token ids per position, most probable first
 * @param topkLogprobs {@code [n + 1][k]} their natural-log probabilities (temperature 1)
 * @param tailMass {@code [n + 1]} probability outside the top k: {@code 1 − Σ exp(topkLogprobs)}
 */
public record TeacherOutput(
    int[] ids, double logprob, boolean finished, int[][] topkIds, float[][] topkLogprobs, float[] tailMass)
    implements Serializable {
  public int positions() {
    return tailMass.length;
  }
}
