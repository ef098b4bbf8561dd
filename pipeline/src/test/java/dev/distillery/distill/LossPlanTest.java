package dev.distillery.distill;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.config.Objective.Role;
import java.util.List;
import org.junit.jupiter.api.Test;

class LossPlanTest {
  private static LossPlan plan(String loss, double kdWeight, String gate, double gateValue) {
    return new LossPlan(dev.distillery.config.Objective.parse(loss, kdWeight, gate, gateValue, "teacher"));
  }

  @Test
  void eachLossTrainsOnTheSequencesItsPaperUses() {
    assertEquals(List.of(Role.REFERENCE), plan("ce", 0.5, "fixed", 0.5).roles());
    assertEquals(List.of(Role.TOKEN), plan("kl", 0.5, "fixed", 0.5).roles());
    assertEquals(List.of(Role.SENTENCE), plan("seqkd", 0.5, "fixed", 0.5).roles());
    assertEquals(List.of(Role.TOKEN, Role.SENTENCE), plan("hybrid", 0.5, "fixed", 0.5).roles());
    for (String f : new String[] {"rkl", "js", "tvd"}) {
      assertEquals(List.of(Role.DIVERGENCE), plan(f, 0.5, "fixed", 0.5).roles());
    }
  }

  @Test
  void learnedGateWeightsEachLossByItsInverseAndExistsOnlyForHybrid() {
    assertEquals(null, plan("ce", 0.5, "learned", 0.5).learned(), "ce has no gate to learn");
    LossPlan hybrid = plan("hybrid", 0.5, "learned", 0.5);
    assertEquals(0.5, hybrid.gate(0.3), 1e-12); // s1 = s2 = 0
    // Steps on e^{-s1}*L_tok + e^{-s2}*L_sent + s1 + s2 with L_tok = 1, L_sent = 4 move e^{-s_i} toward 1/L_i.
    for (int i = 0; i < 200; i++) {
      hybrid.learned().update(1.0, 4.0, 0.1);
    }
    assertEquals(1.0, Math.exp(-hybrid.learned().s1()), 1e-6);
    assertEquals(0.25, Math.exp(-hybrid.learned().s2()), 1e-6);
    assertEquals(0.8, hybrid.gate(0.9), 1e-6); // 1 / (1 + 0.25)
    assertArrayEquals(new float[] {0f, 1f}, hybrid.weights(Role.TOKEN, 0.9), 1e-5f);
    assertArrayEquals(new float[] {0.25f, 0f}, hybrid.weights(Role.SENTENCE, 0.9), 1e-5f);
  }

  @Test
  void tokenLevelKdMixesCrossEntropyByLambda() {
    assertArrayEquals(new float[] {0.75f, 0.25f}, plan("kl", 0.25, "fixed", 0.5).weights(Role.TOKEN, 0.3));
  }

  @Test
  void hybridGateWeightsTokenAndSentenceParts() {
    LossPlan fixed = plan("hybrid", 0.5, "fixed", 0.7);
    assertArrayEquals(new float[] {0f, 0.7f}, fixed.weights(Role.TOKEN, 0.9), 1e-6f);
    assertArrayEquals(new float[] {0.3f, 0f}, fixed.weights(Role.SENTENCE, 0.9), 1e-6f);
    LossPlan scheduled = plan("hybrid", 0.5, "scheduled", 0.7);
    assertEquals(1.0, scheduled.gate(0), 1e-12);
    assertEquals(0.25, scheduled.gate(0.75), 1e-12);
  }

  @Test
  void onlyObjectivesWhoseLossKeepsItsMeaningRankEpochs() {
    assertTrue(plan("ce", 0.5, "fixed", 0.5).comparableAcrossEpochs());
    assertTrue(plan("kl", 0.5, "fixed", 0.5).comparableAcrossEpochs());
    assertTrue(plan("hybrid", 0.5, "fixed", 0.5).comparableAcrossEpochs(), "a fixed gate keeps the mixture");
    assertFalse(plan("hybrid", 0.5, "scheduled", 0.5).comparableAcrossEpochs(), "a scheduled gate moves it");
    assertFalse(plan("hybrid", 0.5, "learned", 0.5).comparableAcrossEpochs(), "so does a learned one");
    assertFalse(plan("okd", 0.5, "fixed", 0.5).comparableAcrossEpochs(), "okd's loss lives in the pair graph");
    assertTrue(plan("rkl", 0.5, "fixed", 0.5).comparableAcrossEpochs());
  }

  @Test
  void uldMixesLikeKlAndOkdTrainsOnReferences() {
    assertEquals(List.of(Role.TOKEN), plan("uld", 0.4, "fixed", 0.5).roles());
    assertArrayEquals(new float[] {0.6f, 0.4f}, plan("uld", 0.4, "fixed", 0.5).weights(Role.TOKEN, 0.5), 1e-6f);
    assertEquals(List.of(Role.REFERENCE), plan("okd", 0.5, "fixed", 0.5).roles());
    assertArrayEquals(new float[] {1f, 0f}, plan("okd", 0.5, "fixed", 0.5).weights(Role.REFERENCE, 0.5));
    assertEquals(0.0, plan("kl", 0.5, "fixed", 0.5).gate(0.5), "no gate outside hybrid");
  }
}
