package dev.distillery.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class ScoresTest {
  private static final List<String> REFERENCES = List.of("In the beginning God created the heaven", "and the earth.");

  @Test
  void lengthRatioIsOutputCharactersOverReferenceCharactersAcrossTheCorpus() {
    int chars = REFERENCES.get(0).length() + REFERENCES.get(1).length();
    assertEquals(1.0, EvaluatePipeline.Scores.of(REFERENCES, REFERENCES).lengthRatio(), 1e-12);
    assertEquals(0.0, EvaluatePipeline.Scores.of(List.of("", ""), REFERENCES).lengthRatio(), 1e-12);
    List<String> halves = List.of("In the beginning", "and");
    assertEquals((16 + 3) / (double) chars, EvaluatePipeline.Scores.of(halves, REFERENCES).lengthRatio(), 1e-12);
  }

  @Test
  void aSystemThatRepeatsItselfPastTheReferenceHasARatioAboveOneAndLosesChrf() {
    List<String> looping = REFERENCES.stream().map(r -> r + " " + r + " " + r).toList();
    EvaluatePipeline.Scores exact = EvaluatePipeline.Scores.of(REFERENCES, REFERENCES);
    EvaluatePipeline.Scores loop = EvaluatePipeline.Scores.of(looping, REFERENCES);
    int chars = REFERENCES.get(0).length() + REFERENCES.get(1).length();
    assertEquals((3 * chars + 4) / (double) chars, loop.lengthRatio(), 1e-12); // two joining spaces per output
    assertEquals(100.0, exact.chrf(), 1e-9);
    org.junit.jupiter.api.Assertions.assertTrue(loop.chrf() < exact.chrf(), "chrF " + loop.chrf());
  }
}
