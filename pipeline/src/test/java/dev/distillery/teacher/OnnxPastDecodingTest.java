package dev.distillery.teacher;

import static dev.distillery.testing.DecodeAssertions.assertCloseLogProbs;
import static dev.distillery.testing.DecodeAssertions.assertSameOutputs;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.decode.Decoder;
import dev.distillery.decode.Stepper;
import dev.distillery.model.TokenizedExample;
import dev.distillery.testing.TinyModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Incremental decoding of an {@code optimum} text-generation-with-past export (the fixture's
 * {@code with-past/} folder: the same PyTorch model as {@code model.onnx}, with {@code position_ids}
 * and {@code past_key_values.N.key/value} inputs): one position per new token gives PyTorch's
 * greedy continuation and the recompute path's log-probabilities within 1e-5, for left-padded
 * prompts of different lengths and rows reordered as beam search does.
 */
class OnnxPastDecodingTest {
  private static JsonNode expected;
  private static OnnxTeacher withPast;
  private static OnnxCausalModel model;
  private static List<int[]> prompts;

  @BeforeAll
  static void load() throws Exception {
    Path dir = OnnxTeacherTest.fixtureDir();
    expected = new ObjectMapper().readTree(dir.resolve("expected.json").toFile());
    withPast = new OnnxTeacher(dir.resolve("with-past").resolve(OnnxCausalModel.MODEL_FILE));
    model = new OnnxCausalModel(dir.resolve("with-past"), -1, 64);
    prompts = new ArrayList<>();
    for (JsonNode p : expected.get("prompts")) {
      int[] source = model.tokenizer().encode(p.get("text").asText());
      prompts.add(TokenizedExample.of("p", source, new int[0]).prompt());
    }
  }

  @AfterAll
  static void close() {
    withPast.close();
    model.close();
  }

  @Test
  void incrementalGreedyGivesThePyTorchContinuationForLeftPaddedPrompts() {
    assertTrue(withPast.hasPast());
    List<int[]> ids = new ArrayList<>();
    for (JsonNode p : expected.get("prompts")) {
      ids.add(OnnxTeacherTest.ints(p.get("ids")));
    }
    OnnxTeacher.Decoding decoding = withPast.decoding();
    float[][] lp = decoding.start(ids); // three lengths: the shorter prompts are left-padded
    int steps = expected.get("greedy_steps").asInt();
    int[][] continuation = new int[ids.size()][steps];
    int[] identity = {0, 1, 2};
    for (int s = 0; s < steps; s++) {
      int[] next = new int[ids.size()];
      for (int r = 0; r < ids.size(); r++) {
        next[r] = Decoder.topIndices(lp[r], 1)[0];
        continuation[r][s] = next[r];
      }
      lp = decoding.step(identity, next);
    }
    int r = 0;
    for (JsonNode p : expected.get("prompts")) {
      assertArrayEquals(OnnxTeacherTest.ints(p.get("greedy_ids")), continuation[r++], p.get("text").asText());
    }
  }

  @Test
  void anExportWithoutPastIsDecodedByRecomputing() throws Exception {
    Path dir = OnnxTeacherTest.fixtureDir();
    try (OnnxCausalModel noPast = new OnnxCausalModel(dir, -1, 64)) {
      assertFalse(noPast.stepper().isPresent());
    }
    try (OnnxTeacher teacher = new OnnxTeacher(dir.resolve(OnnxCausalModel.MODEL_FILE))) {
      assertFalse(teacher.hasPast());
      IllegalStateException e = assertThrows(IllegalStateException.class, teacher::decoding);
      assertTrue(e.getMessage().startsWith("Cannot decode incrementally: the model has no past key values"),
          e.getMessage());
    }
  }

  @Test
  void cachedStepsEqualRecomputingThePrefix() {
    Stepper cached = Stepper.of(model);
    Stepper recompute = Stepper.recompute(model);
    assertCloseLogProbs(cached.start(prompts), recompute.start(prompts));
    // Row i continues row parents[i]: widen to 7 rows, narrow to one, widen again.
    int[][] parents = {{2, 2, 0, 1, 1, 0, 2}, {6, 5, 4, 3, 2, 1, 0}, {3}, {0, 0, 0, 0}, {3, 1}};
    Random random = new Random(5);
    for (int[] p : parents) {
      int[] tokens = new int[p.length];
      for (int i = 0; i < tokens.length; i++) {
        tokens[i] = 5 + random.nextInt(model.vocabSize() - 5);
      }
      assertCloseLogProbs(cached.step(p, tokens), recompute.step(p, tokens));
    }
  }

  @Test
  void greedyBeamAndSamplingGiveTheRecomputedOutputs() {
    DistilleryConfig config = TinyModels.config("decode.max-new-tokens=12", "decode.batch-size=2");
    Decoder cached = new Decoder(model, config.decode());
    Decoder recompute = cached.recomputing();
    assertSameOutputs(cached.greedy(prompts), recompute.greedy(prompts));
    assertSameOutputs(cached.beam(prompts, 3), recompute.beam(prompts, 3));
    assertSameOutputs(cached.sample(prompts, new Random(11)), recompute.sample(prompts, new Random(11)));
  }


}
