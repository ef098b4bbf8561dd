package dev.distillery.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTokenizerTest {

  private static final int VOCAB = 600;
  private static List<String> sample;      // source and target texts of the sample resource
  private static BpeTokenizer trained;

  @BeforeAll
  static void loadSampleAndTrain() throws IOException {
    sample = new ArrayList<>();
    ObjectMapper mapper = new ObjectMapper();
    try (InputStream in = BpeTokenizerTest.class.getResourceAsStream("/tokenizer-sample.jsonl")) {
      assertTrue(in != null, "test resource tokenizer-sample.jsonl is missing");
      for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (line.isBlank()) {
          continue;
        }
        JsonNode row = mapper.readTree(line);
        sample.add(row.get("source").asText());
        sample.add(row.get("target").asText());
      }
    }
    assertTrue(sample.size() >= 200, "sample should hold at least 100 sentence pairs");
    trained = BpeTokenizer.train(sample, VOCAB, 2);
  }

  private static int codePointCount(String s) {
    return s.codePointCount(0, s.length());
  }

  private static boolean containsUnk(int[] ids) {
    return Arrays.stream(ids).anyMatch(id -> id == TextTokenizer.UNK);
  }

  @Test
  void decodeOfEncodeRestoresEveryTrainingSentenceAfterNormalization() {
    for (String text : sample) {
      int[] ids = trained.encode(text);
      assertFalse(containsUnk(ids), "training text must not produce UNK: " + text);
      assertEquals(BpeTokenizer.normalize(text), trained.decode(ids));
    }
  }

  @Test
  void decodeOfEncodeRestoresUnseenSentencesBuiltFromTheAlphabet() {
    // Held-out: train on the first half only, then roundtrip the second half where no UNK occurs.
    BpeTokenizer half = BpeTokenizer.train(sample.subList(0, sample.size() / 2), 400, 2);
    int checked = 0;
    for (String text : sample.subList(sample.size() / 2, sample.size())) {
      int[] ids = half.encode(text);
      if (!containsUnk(ids)) {
        assertEquals(BpeTokenizer.normalize(text), half.decode(ids));
        checked++;
      }
    }
    assertTrue(checked > sample.size() / 4, "most held-out sentences should be in the alphabet");
  }

  @Test
  void decodeSkipsSpecialIdsAndHonoursRange() {
    String text = sample.get(0);
    int[] ids = trained.encode(text);
    int[] framed = new int[ids.length + 3];
    framed[0] = TextTokenizer.BOS;
    System.arraycopy(ids, 0, framed, 1, ids.length);
    framed[ids.length + 1] = TextTokenizer.SEP;
    framed[ids.length + 2] = TextTokenizer.EOS;
    assertEquals(trained.decode(ids), trained.decode(framed));
    assertEquals(trained.decode(ids), trained.decode(framed, 1, ids.length + 1));
    assertEquals("", trained.decode(framed, 0, 0));
    assertThrows(IllegalArgumentException.class, () -> trained.decode(framed, 2, 1));
    assertThrows(IllegalArgumentException.class,
        () -> trained.decode(new int[] {trained.vocabSize()}));
  }

  @Test
  void reservedIdsHoldTheSpecialTokens() {
    assertEquals("<pad>", trained.token(TextTokenizer.PAD));
    assertEquals("<unk>", trained.token(TextTokenizer.UNK));
    assertEquals("<s>", trained.token(TextTokenizer.BOS));
    assertEquals("</s>", trained.token(TextTokenizer.EOS));
    assertEquals("<sep>", trained.token(TextTokenizer.SEP));
  }

  @Test
  void trainingStopsExactlyAtTheRequestedVocabSize() {
    assertEquals(VOCAB, trained.vocabSize());
    BpeTokenizer small = BpeTokenizer.train(sample, 150, 1);
    assertEquals(150, small.vocabSize());
  }

  @Test
  void vocabSizeSmallerThanAlphabetGivesCharacterTokensOnly() {
    BpeTokenizer chars = BpeTokenizer.train(sample, 5, 1);
    long distinctChars = sample.stream()
        .flatMapToInt(s -> BpeTokenizer.normalize(s).codePoints())
        .filter(cp -> cp != ' ')
        .distinct().count();
    // specials + alphabet (seen characters plus the word marker), no merges
    assertEquals(5 + distinctChars + 1, chars.vocabSize());
    String text = sample.get(3);
    int[] ids = chars.encode(text);
    // one token per character, the space becoming the marker of the next word
    assertEquals(codePointCount(BpeTokenizer.normalize(text)) + 1, ids.length);
    assertEquals(BpeTokenizer.normalize(text), chars.decode(ids));
  }

  @Test
  void highMinPairCountStopsMerging() {
    BpeTokenizer none = BpeTokenizer.train(sample, 10_000, Integer.MAX_VALUE);
    BpeTokenizer chars = BpeTokenizer.train(sample, 5, 1);
    assertEquals(chars.vocabSize(), none.vocabSize());
  }

  @Test
  void vocabSizeBelowSpecialsIsRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BpeTokenizer.train(sample, 4, 1));
    assertTrue(e.getMessage().startsWith("Cannot train tokenizer"), e.getMessage());
    assertTrue(e.getMessage().endsWith(": 4"), e.getMessage());
  }

  @Test
  void mergesUseFewerTokensThanCharacters() {
    long chars = 0;
    long tokens = 0;
    for (String text : sample) {
      chars += codePointCount(BpeTokenizer.normalize(text));
      tokens += trained.encode(text).length;
    }
    assertTrue(tokens * 2 < chars, "expected at least 2 chars per token: " + tokens + " vs " + chars);
    BpeTokenizer bigger = BpeTokenizer.train(sample, 1200, 2);
    long biggerTokens = sample.stream().mapToLong(t -> bigger.encode(t).length).sum();
    assertTrue(biggerTokens < tokens, "a larger vocabulary should compress further");
  }

  @Test
  void trainingTwiceGivesIdenticalTokenizerAndHash() {
    BpeTokenizer again = BpeTokenizer.train(new ArrayList<>(sample), VOCAB, 2);
    assertEquals(trained.toJson(), again.toJson());
    assertEquals(trained.sha256(), again.sha256());
    assertTrue(trained.sha256().matches("[0-9a-f]{64}"));
    BpeTokenizer other = BpeTokenizer.train(sample, VOCAB - 1, 2);
    assertNotEquals(trained.sha256(), other.sha256());
  }

  @Test
  void saveThenLoadGivesSameEncodingsAndHash(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("sub/tokenizer.json");
    trained.save(file);
    BpeTokenizer loaded = BpeTokenizer.load(file);
    assertEquals(trained.sha256(), loaded.sha256());
    assertEquals(trained.vocabSize(), loaded.vocabSize());
    for (String text : sample) {
      assertArrayEquals(trained.encode(text), loaded.encode(text));
    }
    JsonNode root = new ObjectMapper().readTree(Files.readString(file));
    assertEquals("distillery-bpe", root.get("format").asText());
    assertEquals(1, root.get("version").asInt());
    assertEquals(trained.vocabSize(), root.get("vocab").size());
  }

  @Test
  void fromJsonOfToJsonIsTheSameTokenizer() {
    BpeTokenizer copy = BpeTokenizer.fromJson(trained.toJson());
    assertEquals(trained.toJson(), copy.toJson());
    assertArrayEquals(trained.encode(sample.get(5)), copy.encode(sample.get(5)));
  }

  @Test
  void javaSerializationKeepsBehaviour() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(trained);
    }
    BpeTokenizer copy;
    try (ObjectInputStream in = new ObjectInputStream(
        new ByteArrayInputStream(bytes.toByteArray()))) {
      copy = (BpeTokenizer) in.readObject();
    }
    assertEquals(trained.sha256(), copy.sha256());
    for (String text : sample.subList(0, 20)) {
      assertArrayEquals(trained.encode(text), copy.encode(text));
    }
  }

  @Test
  void charactersOutsideTheAlphabetEncodeToUnk() {
    String unseen = "\u2603"; // snowman
    assertTrue(sample.stream().noneMatch(s -> s.contains(unseen)), "sample must not hold " + unseen);
    String word = BpeTokenizer.normalize(sample.get(0)).split(" ")[0];
    int[] ids = trained.encode(word + " " + unseen + word);
    assertTrue(containsUnk(ids));
    assertEquals(1, Arrays.stream(ids).filter(id -> id == TextTokenizer.UNK).count());
    // UNK is special and skipped by decode; everything else survives
    assertEquals(word + " " + word, trained.decode(ids));
  }

  @Test
  void normalizeAppliesNfcAndCollapsesUnicodeWhitespace() {
    assertEquals("\u00e9 a b", BpeTokenizer.normalize("  e\u0301\t\n a\u00a0\u2003 b \u3000"));
    assertEquals("", BpeTokenizer.normalize(" \t\n"));
    assertEquals(0, trained.encode("   ").length);
    // decomposed input encodes like the composed form
    assertArrayEquals(trained.encode("canci\u00f3n"), trained.encode("cancio\u0301n"));
  }

  @Test
  void loadOfCorruptFileThrowsIOExceptionNamingThePath(@TempDir Path dir) throws IOException {
    Path garbage = dir.resolve("garbage.json");
    Files.writeString(garbage, "{\"format\": \"distillery-bpe\", \"vocab\": [");
    IOException e = assertThrows(IOException.class, () -> BpeTokenizer.load(garbage));
    assertTrue(e.getMessage().startsWith("Cannot load tokenizer: "), e.getMessage());
    assertTrue(e.getMessage().endsWith(garbage.toString()), e.getMessage());

    Path wrongVersion = dir.resolve("v2.json");
    Files.writeString(wrongVersion, trained.toJson().replace("\"version\":1", "\"version\":2"));
    IOException v = assertThrows(IOException.class, () -> BpeTokenizer.load(wrongVersion));
    assertTrue(v.getMessage().startsWith("Cannot load tokenizer: "), v.getMessage());
    assertTrue(v.getMessage().contains("version"), v.getMessage());

    Path missing = dir.resolve("absent.json");
    IOException m = assertThrows(IOException.class, () -> BpeTokenizer.load(missing));
    assertTrue(m.getMessage().startsWith("Cannot load tokenizer: "), m.getMessage());
  }

  @Test
  void fromJsonRejectsAForeignFormat() {
    String broken = trained.toJson().replace("\"format\":\"distillery-bpe\"", "\"format\":\"x\"");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BpeTokenizer.fromJson(broken));
    assertTrue(e.getMessage().startsWith("Cannot parse tokenizer: "), e.getMessage());
  }

  @Test
  void concurrentEncodingMatchesSequentialEncoding() throws Exception {
    BpeTokenizer fresh = BpeTokenizer.fromJson(trained.toJson()); // empty cache
    List<int[]> expected = sample.stream().map(trained::encode).toList();
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<Boolean>> results = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        results.add(pool.submit(() -> {
          for (int i = 0; i < sample.size(); i++) {
            if (!Arrays.equals(expected.get(i), fresh.encode(sample.get(i)))) {
              return false;
            }
          }
          return true;
        }));
      }
      for (Future<Boolean> r : results) {
        assertTrue(r.get());
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
