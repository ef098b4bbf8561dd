package dev.distillery.decode;

import static dev.distillery.testing.DecodeAssertions.assertCloseLogProbs;
import static dev.distillery.testing.DecodeAssertions.assertSameOutputs;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.Batches;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.TokenizedExample;
import dev.distillery.testing.TinyModels;
import dev.distillery.tokenizer.BpeTokenizer;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

/**
 * The transformer's key/value-cache decoder against re-running the whole prefix: the same
 * log-probabilities (within 1e-5) at every step, for prompts of different lengths, rows reordered
 * and multiplied as beam search does, and the same outputs for greedy, beam and sampling.
 */
class KvCacheTest {
  static DistilleryConfig config;
  static LanguageModel model;
  static List<int[]> prompts;

  @BeforeAll
  static void trainABit() {
    config = TinyModels.config("model.architecture=transformer", "model.hidden=32", "model.heads=4",
        "model.layers=2", "decode.max-new-tokens=20", "decode.batch-size=3");
    BpeTokenizer tok = TinyModels.tokenizer(300);
    model = TinyModels.model(config, tok);
    List<TokenizedExample> data = TinyModels.examples(tok, 40, 120);
    // A few local steps so the distributions are not uniform (ties would make comparisons fragile).
    DataSet ds = Batches.nextTokenDataSet(data.subList(0, 16));
    for (int i = 0; i < 15; i++) {
      model.graph().fit(ds);
    }
    prompts = data.subList(20, 27).stream().map(TokenizedExample::prompt).toList();
  }


  @Test
  void transformersDecodeWithTheCache() {
    assertInstanceOf(KvCacheStepper.class, Stepper.of(model));
  }

  @Test
  void cachedStepsEqualRecomputingThePrefix() {
    Stepper cached = Stepper.of(model);
    Stepper recompute = Stepper.recompute(model);
    assertCloseLogProbs(cached.start(prompts), recompute.start(prompts));
    // Reorder rows as beam search does: row i continues row parents[i]; widen to 10 rows, narrow to one, widen again.
    int[][] parents = {{3, 3, 0, 6, 1, 2, 5}, {6, 5, 4, 3, 2, 1, 0, 0, 1, 2}, {9, 0, 4}, {0, 1, 2}, {2, 2, 2},
        {1}, {0, 0, 0, 0}, {3}};
    Random random = new Random(3);
    for (int[] p : parents) {
      int[] tokens = new int[p.length];
      for (int i = 0; i < tokens.length; i++) {
        tokens[i] = 5 + random.nextInt(model.vocabSize() - 5);
      }
      assertCloseLogProbs(cached.step(p, tokens), recompute.step(p, tokens));
    }
  }

  @Test
  void stepsPastTheInitialCapacityStayExact() {
    Stepper cached = Stepper.of(model);
    Stepper recompute = Stepper.recompute(model);
    List<int[]> two = prompts.subList(0, 2);
    assertCloseLogProbs(cached.start(two), recompute.start(two));
    int longest = Math.max(two.get(0).length, two.get(1).length);
    // The cache starts with room for twice the longest prompt; go past it.
    for (int s = 0; s < 2 * longest + 5; s++) {
      int[] tokens = {7 + s % 50, 9 + s % 40};
      assertCloseLogProbs(cached.step(new int[] {0, 1}, tokens), recompute.step(new int[] {0, 1}, tokens));
    }
  }

  @Test
  void greedyBeamAndSamplingGiveTheRecomputedOutputs() {
    Decoder cached = new Decoder(model, config.decode());
    Decoder recompute = cached.recomputing();
    assertSameOutputs(cached.greedy(prompts), recompute.greedy(prompts));
    assertSameOutputs(cached.beam(prompts, 4), recompute.beam(prompts, 4));
    assertSameOutputs(cached.sample(prompts, new Random(11)), recompute.sample(prompts, new Random(11)));
  }

}
