package dev.distillery.teacher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.errors.DataException;
import dev.distillery.tokenizer.HfTokenizer;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checks {@link OnnxTeacher} and {@link HfTokenizer} against the reference outputs that
 * {@code src/test/resources/onnx/make_fixture.py} computed with the same model in PyTorch.
 */
class OnnxTeacherTest {
  private static final double TOLERANCE = 1e-4;

  private static Path dir;
  private static JsonNode expected;
  private static OnnxTeacher teacher;
  private static HfTokenizer tokenizer;

  @BeforeAll
  static void load() throws Exception {
    dir = fixtureDir();
    expected = new ObjectMapper().readTree(dir.resolve("expected.json").toFile());
    teacher = new OnnxTeacher(dir.resolve("model.onnx"));
    tokenizer = new HfTokenizer(dir.resolve("tokenizer.json"));
  }

  @AfterAll
  static void close() {
    if (teacher != null) {
      teacher.close();
    }
    if (tokenizer != null) {
      tokenizer.close();
    }
  }

  /** The fixture folder: on the test classpath (target/test-classes/onnx) or in the source tree. */
  static Path fixtureDir() throws URISyntaxException {
    URL url = OnnxTeacherTest.class.getResource("/onnx/model.onnx");
    if (url != null && "file".equals(url.getProtocol())) {
      return Path.of(url.toURI()).getParent();
    }
    for (Path candidate : List.of(Path.of("src/test/resources/onnx"), Path.of("pipeline/src/test/resources/onnx"))) {
      if (Files.isRegularFile(candidate.resolve("model.onnx"))) {
        return candidate;
      }
    }
    throw new IllegalStateException("Cannot find test fixture: no onnx/model.onnx on the classpath or in src/test/resources");
  }

  static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }

  private static List<int[]> promptIds() {
    List<int[]> rows = new ArrayList<>();
    for (JsonNode prompt : expected.get("prompts")) {
      rows.add(ints(prompt.get("ids")));
    }
    return rows;
  }

  /** Token ids sorted by descending log-probability (ties by id), the first k. */
  private static int[] topK(float[] logProbs, int k) {
    Integer[] order = new Integer[logProbs.length];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> logProbs[a] != logProbs[b] ? Float.compare(logProbs[b], logProbs[a]) : a - b);
    int[] out = new int[k];
    for (int i = 0; i < k; i++) {
      out[i] = order[i];
    }
    return out;
  }

  private static void assertMatchesReference(JsonNode prompt, float[][] logProbs) {
    JsonNode topIds = prompt.get("top_ids");
    JsonNode topLogProbs = prompt.get("top_logprobs");
    assertEquals(topIds.size(), logProbs.length, "positions of " + prompt.get("text"));
    int k = expected.get("top_k").asInt();
    for (int t = 0; t < logProbs.length; t++) {
      int[] want = ints(topIds.get(t));
      int[] got = topK(logProbs[t], k);
      assertArrayEquals(want, got, "top-" + k + " ids at position " + t + " of " + prompt.get("text"));
      for (int j = 0; j < k; j++) {
        double w = topLogProbs.get(t).get(j).asDouble();
        assertEquals(w, logProbs[t][want[j]], TOLERANCE,
            "log-prob of id " + want[j] + " at position " + t + " of " + prompt.get("text"));
      }
      double total = 0;
      for (float lp : logProbs[t]) {
        total += Math.exp(lp);
      }
      assertEquals(1.0, total, 1e-5, "probabilities sum to one at position " + t);
    }
  }

  @Test
  void vocabSizesAgree() {
    int vocab = expected.get("vocab_size").asInt();
    assertEquals(vocab, teacher.vocabSize());
    assertEquals(vocab, tokenizer.vocabSize());
    assertEquals("cpu", teacher.device());
  }

  @Test
  void logProbsMatchPyTorchForEachPromptAlone() {
    for (JsonNode prompt : expected.get("prompts")) {
      float[][][] out = teacher.logProbs(List.of(ints(prompt.get("ids"))));
      assertEquals(1, out.length);
      assertEquals(expected.get("vocab_size").asInt(), out[0][0].length);
      assertMatchesReference(prompt, out[0]);
    }
  }

  @Test
  void logProbsMatchPyTorchInOneRightPaddedBatch() {
    List<int[]> rows = promptIds();
    int[] lengths = rows.stream().mapToInt(r -> r.length).distinct().toArray();
    assertTrue(lengths.length > 1, "the fixture prompts should have different lengths to exercise padding");
    float[][][] out = teacher.logProbs(rows);
    assertEquals(rows.size(), out.length);
    for (int r = 0; r < rows.size(); r++) {
      assertEquals(rows.get(r).length, out[r].length, "row " + r + " has one position per input token");
      assertMatchesReference(expected.get("prompts").get(r), out[r]);
    }
  }

  @Test
  void greedyDecodingGivesTheReferenceContinuation() {
    int steps = expected.get("greedy_steps").asInt();
    for (JsonNode prompt : expected.get("prompts")) {
      int[] ids = ints(prompt.get("ids"));
      int[] continuation = new int[steps];
      for (int s = 0; s < steps; s++) {
        float[][] lp = teacher.logProbs(List.of(ids))[0];
        int next = topK(lp[lp.length - 1], 1)[0];
        continuation[s] = next;
        ids = Arrays.copyOf(ids, ids.length + 1);
        ids[ids.length - 1] = next;
      }
      assertArrayEquals(ints(prompt.get("greedy_ids")), continuation, "continuation of " + prompt.get("text"));
      assertEquals(prompt.get("greedy_text").asText(), tokenizer.decode(continuation));
    }
  }

  @Test
  void tokenizerEncodesPromptsToTheScriptIds() {
    for (JsonNode prompt : expected.get("prompts")) {
      assertArrayEquals(ints(prompt.get("ids")), tokenizer.encode(prompt.get("text").asText()),
          "ids of " + prompt.get("text"));
    }
    // the third prompt holds a word outside the vocabulary: it maps to <unk> (id 1)
    int[] third = tokenizer.encode(expected.get("prompts").get(2).get("text").asText());
    assertTrue(Arrays.stream(third).anyMatch(id -> id == 1), "out-of-vocabulary word gives <unk>");
    JsonNode first = expected.get("prompts").get(0);
    assertEquals(first.get("text").asText(), tokenizer.decode(ints(first.get("ids"))));
  }

  @Test
  void tokenizerHashIsTheFileSha256() throws Exception {
    byte[] bytes = Files.readAllBytes(dir.resolve("tokenizer.json"));
    String want = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    assertEquals(want, tokenizer.sha256());
  }

  @Test
  void missingModelFileIsAClearError(@TempDir Path tmp) {
    Path missing = tmp.resolve("no-such-model.onnx");
    DataException e = assertThrows(DataException.class, () -> new OnnxTeacher(missing));
    assertEquals("Cannot load teacher model: no such file: " + missing.toAbsolutePath(), e.getMessage());
  }

  @Test
  void notAnOnnxModelIsAClearError() {
    Path notOnnx = dir.resolve("tokenizer.json");
    DataException e = assertThrows(DataException.class, () -> new OnnxTeacher(notOnnx));
    assertTrue(e.getMessage().startsWith("Cannot load teacher model: ONNX Runtime rejected it"), e.getMessage());
    assertTrue(e.getMessage().endsWith(": " + notOnnx), e.getMessage());
  }

  @Test
  void missingTokenizerFileIsAClearError(@TempDir Path tmp) {
    DataException e = assertThrows(DataException.class, () -> new HfTokenizer(tmp.resolve("x.json")));
    assertTrue(e.getMessage().startsWith("Cannot load teacher tokenizer: no such file: "), e.getMessage());
  }

  @Test
  void outOfRangeTokenIdIsRejected() {
    int vocab = teacher.vocabSize();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> teacher.logProbs(List.of(new int[] {2, vocab})));
    assertEquals("Cannot score rows with the teacher: token id outside [0, " + vocab + ") in row 0: " + vocab,
        e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> teacher.logProbs(List.of(new int[0])));
    assertEquals(0, teacher.logProbs(List.of()).length);
  }

  @Test
  void unavailableGpuFallsBackToCpu() {
    // the CPU build of ONNX Runtime has no CUDA provider: the teacher must still load, on the CPU
    try (OnnxTeacher onGpu = new OnnxTeacher(dir.resolve("model.onnx"), 0, 1)) {
      assertTrue(onGpu.device().equals("cpu") || onGpu.device().equals("cuda:0"), onGpu.device());
      float[][][] out = onGpu.logProbs(promptIds().subList(0, 1));
      assertMatchesReference(expected.get("prompts").get(0), out[0]);
    }
  }
}
