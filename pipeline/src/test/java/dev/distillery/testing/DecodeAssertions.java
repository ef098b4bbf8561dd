package dev.distillery.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.decode.Hypothesis;
import java.util.List;

/** What the incremental decoders (key/value cache, ONNX past) must equal in the recompute path. */
public final class DecodeAssertions {
  private DecodeAssertions() {}

  /**
   * Next-token log-probabilities {@code [rows][vocab]} within 1e-5 at every finite entry; −∞ entries
   * (ids a model never emits) must be −∞ in both.
   */
  public static void assertCloseLogProbs(float[][] actual, float[][] expected) {
    assertEquals(expected.length, actual.length);
    double worst = 0;
    for (int i = 0; i < actual.length; i++) {
      for (int v = 0; v < actual[i].length; v++) {
        if (Float.isInfinite(expected[i][v]) || Float.isInfinite(actual[i][v])) {
          assertEquals(expected[i][v], actual[i][v], "row " + i + " id " + v);
        } else {
          worst = Math.max(worst, Math.abs(actual[i][v] - expected[i][v]));
        }
      }
    }
    assertTrue(worst < 1e-5, "largest log-prob difference " + worst);
  }

  /** The same tokens, log-likelihood (within 1e-4) and finished flag in every row. */
  public static void assertSameOutputs(List<Hypothesis> actual, List<Hypothesis> expected) {
    assertEquals(expected.size(), actual.size());
    for (int i = 0; i < actual.size(); i++) {
      assertArrayEquals(expected.get(i).tokens(), actual.get(i).tokens(), "row " + i);
      assertEquals(expected.get(i).logLikelihood(), actual.get(i).logLikelihood(), 1e-4, "row " + i);
      assertEquals(expected.get(i).finished(), actual.get(i).finished(), "row " + i);
    }
  }
}
