package dev.distillery.decode;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.TokenizedExample;
import dev.distillery.testing.TinyModels;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.tokenizer.TextTokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DecoderTest {
  static DistilleryConfig config;
  static LanguageModel model;
  static List<int[]> prompts;

  @BeforeAll
  static void trainABit() {
    config = TinyModels.config("decode.max-new-tokens=10", "decode.batch-size=3");
    BpeTokenizer tok = TinyModels.tokenizer(300);
    model = TinyModels.model(config, tok);
    List<TokenizedExample> data = TinyModels.examples(tok, 40, 120);
    // A few local steps so the distributions are not uniform (ties would make comparisons fragile).
    DataSet ds = dev.distillery.model.Batches.nextTokenDataSet(data.subList(0, 16));
    for (int i = 0; i < 10; i++) {
      model.graph().fit(ds);
    }
    prompts = data.subList(20, 27).stream().map(TokenizedExample::prompt).toList();
  }

  @Test
  void recurrentSteppingMatchesRecomputingThePrefix() {
    Stepper recurrent = new RecurrentStepper(model);
    Stepper recompute = new RecomputeStepper(model);
    float[][] a = recurrent.start(prompts);
    float[][] b = recompute.start(prompts);
    assertClose(a, b);
    // Reorder rows as beam search does: row i continues row parents[i].
    int[] parents = {3, 3, 0, 6, 1, 2, 5};
    int[] tokens = {10, 11, 12, 13, 14, 15, 16};
    assertClose(recurrent.step(parents, tokens), recompute.step(parents, tokens));
    int[] parents2 = {6, 5, 4, 3, 2, 1, 0};
    assertClose(recurrent.step(parents2, tokens), recompute.step(parents2, tokens));
  }

  @Test
  void beamOfWidthOneEqualsGreedy() {
    Decoder decoder = new Decoder(model, config.decode());
    List<Hypothesis> greedy = decoder.greedy(prompts);
    List<Hypothesis> beam = decoder.beam(prompts, 1);
    for (int i = 0; i < prompts.size(); i++) {
      assertArrayEquals(greedy.get(i).tokens(), beam.get(i).tokens(), "prompt " + i);
    }
  }

  @Test
  void reportedLogLikelihoodEqualsTeacherForcedScore() {
    Decoder decoder = new Decoder(model, config.decode());
    List<Hypothesis> hyps = decoder.beam(prompts, 3);
    for (int i = 0; i < prompts.size(); i++) {
      Hypothesis h = hyps.get(i);
      int[] p = prompts.get(i);
      int[] seq = Arrays.copyOf(p, p.length + h.tokens().length + (h.finished() ? 1 : 0));
      System.arraycopy(h.tokens(), 0, seq, p.length, h.tokens().length);
      if (h.finished()) {
        seq[seq.length - 1] = TextTokenizer.EOS;
      }
      INDArray lp = model.logProbs(List.of(seq));
      double expected = 0;
      for (int s = p.length - 1; s < seq.length - 1; s++) {
        expected += lp.getDouble(0, seq[s + 1], s);
      }
      assertEquals(expected, h.logLikelihood(), 1e-3, "prompt " + i);
    }
  }

  @Test
  void beamFindsAtLeastAsLikelyOutputAsGreedyWithoutLengthPenalty() {
    DistilleryConfig noPenalty = TinyModels.config("decode.max-new-tokens=10", "decode.length-penalty=0");
    Decoder decoder = new Decoder(model, noPenalty.decode());
    List<Hypothesis> greedy = decoder.greedy(prompts);
    List<Hypothesis> beam = decoder.beam(prompts, 4);
    for (int i = 0; i < prompts.size(); i++) {
      if (greedy.get(i).finished() && beam.get(i).finished()) {
        assertTrue(beam.get(i).logLikelihood() >= greedy.get(i).logLikelihood() - 1e-4, "prompt " + i);
      }
    }
  }

  @Test
  void samplingWithTinyTopPIsGreedy() {
    DistilleryConfig c = TinyModels.config("decode.max-new-tokens=10", "decode.top-p=0.0001");
    Decoder decoder = new Decoder(model, c.decode());
    List<Hypothesis> greedy = decoder.greedy(prompts);
    List<Hypothesis> sampled = decoder.sample(prompts, new Random(1));
    for (int i = 0; i < prompts.size(); i++) {
      assertArrayEquals(greedy.get(i).tokens(), sampled.get(i).tokens());
    }
  }

  @Test
  void samplingIsReproducibleForASeedAndVariesAcrossSeeds() {
    DistilleryConfig c = TinyModels.config("decode.max-new-tokens=10", "decode.temperature=1.5", "decode.top-p=1.0");
    Decoder decoder = new Decoder(model, c.decode());
    List<Hypothesis> a = decoder.sample(prompts, new Random(1));
    List<Hypothesis> b = decoder.sample(prompts, new Random(1));
    List<Hypothesis> other = decoder.sample(prompts, new Random(2));
    boolean anyDifferent = false;
    for (int i = 0; i < prompts.size(); i++) {
      assertArrayEquals(a.get(i).tokens(), b.get(i).tokens());
      anyDifferent |= !Arrays.equals(a.get(i).tokens(), other.get(i).tokens());
    }
    assertTrue(anyDifferent);
  }

  @Test
  void aRowsLengthCapCutsItsOwnDrawAndLeavesTheOthersAlone() {
    DistilleryConfig c = TinyModels.config("decode.max-new-tokens=10", "decode.temperature=1.5", "decode.top-p=1.0");
    Decoder decoder = new Decoder(model, c.decode());
    List<Hypothesis> free = decoder.sample(prompts, seeds(7));
    int[] caps = new int[prompts.size()];
    Arrays.fill(caps, 10);
    caps[0] = 1;
    caps[3] = 4;
    List<Hypothesis> capped = decoder.sample(prompts, seeds(7), caps);
    for (int i = 0; i < prompts.size(); i++) {
      int[] whole = free.get(i).tokens();
      Hypothesis h = capped.get(i);
      if (whole.length >= caps[i] && caps[i] < 10) {
        assertArrayEquals(Arrays.copyOf(whole, caps[i]), h.tokens(), "prompt " + i);
        assertTrue(!h.finished() || whole.length == caps[i], "prompt " + i + " cut, so unfinished");
      } else {
        assertArrayEquals(whole, h.tokens(), "prompt " + i);
        assertEquals(free.get(i).finished(), h.finished(), "prompt " + i);
      }
    }
  }

  private static List<Random> seeds(long seed) {
    return java.util.stream.LongStream.range(0, prompts.size()).mapToObj(i -> new Random(seed * 100 + i)).toList();
  }

  @Test
  void outputsNeverContainSpecialTokensOtherThanUnknown() {
    Decoder decoder = new Decoder(model, config.decode());
    for (Hypothesis h : decoder.beam(prompts, 3)) {
      for (int t : h.tokens()) {
        assertTrue(t > TextTokenizer.SEP || t == TextTokenizer.UNK, "special token " + t);
      }
      assertTrue(h.tokens().length <= 10);
    }
  }

  private static void assertClose(float[][] a, float[][] b) {
    assertEquals(a.length, b.length);
    for (int i = 0; i < a.length; i++) {
      for (int v = 0; v < a[i].length; v++) {
        assertEquals(b[i][v], a[i][v], 2e-4, "row " + i + " token " + v);
      }
    }
  }

  @Test
  void nucleusDrawsOnlyTheSmallestTopSetReachingTopPInProportionToItsProbabilities() {
    // Ten tokens, the mass on ids 5..9 (0.40, 0.25, 0.20, 0.10, 0.05), the special ids next to none.
    // At top-p 0.8 the nucleus is {5, 6, 7} (0.85), renormalized.
    double[] probs = {0, 0, 0, 0, 0, 0.40, 0.25, 0.20, 0.10, 0.05};
    float[] lp = new float[probs.length];
    for (int i = 0; i < lp.length; i++) {
      lp[i] = probs[i] == 0 ? -30f : (float) Math.log(probs[i]);
    }
    // PAD, BOS and SEP are never drawn, even when most likely.
    lp[TextTokenizer.PAD] = lp[TextTokenizer.BOS] = lp[TextTokenizer.SEP] = 0f;
    int[] counts = new int[probs.length];
    Random random = new Random(7);
    int draws = 40_000;
    for (int n = 0; n < draws; n++) {
      counts[Decoder.nucleus(lp, 1.0, 0.8, random)]++;
    }
    for (int id : new int[] {0, 1, 2, 3, 4, 8, 9}) {
      assertEquals(0, counts[id], "token " + id + " lies outside the nucleus");
    }
    for (int id = 5; id <= 7; id++) {
      assertEquals(probs[id] / 0.85, counts[id] / (double) draws, 0.01, "token " + id);
    }
    // At top-p 1 every token is drawn in proportion; at temperature 2 in proportion to sqrt(p).
    int[] all = new int[probs.length];
    int[] warm = new int[probs.length];
    for (int n = 0; n < draws; n++) {
      all[Decoder.nucleus(lp, 1.0, 1.0, random)]++;
      warm[Decoder.nucleus(lp, 2.0, 1.0, random)]++;
    }
    assertEquals(0.05, all[9] / (double) draws, 0.005);
    double z = 0;
    for (int id = 5; id < probs.length; id++) {
      z += Math.sqrt(probs[id]);
    }
    assertEquals(Math.sqrt(0.05) / z, warm[9] / (double) draws, 0.01);
  }
}
