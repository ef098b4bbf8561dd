package dev.distillery.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.errors.DataException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Map;

/**
 * A Hugging Face {@code tokenizer.json} (the teacher's own tokenizer), read through DJL's binding of
 * the Rust {@code tokenizers} library ({@code ai.djl.huggingface:tokenizers}, whose jar bundles the
 * native library for linux-x86_64, so nothing is downloaded at run time).
 *
 * <p>Encoding follows Hugging Face's default {@code tokenizer(text)}: the file's post-processor adds
 * its special tokens (BOS etc.) unless {@code addSpecialTokens} is false; no truncation or padding
 * is applied here, whatever the file says. Decoding skips special tokens.
 */
public final class HfTokenizer implements AutoCloseable {
  private final Path path;
  private final HuggingFaceTokenizer tokenizer;
  private final String sha256;
  private final int vocabSize;
  private final boolean addSpecialTokens;

  /** Reads a {@code tokenizer.json} file, or the one inside a directory; adds special tokens. */
  public HfTokenizer(Path path) {
    this(path, true);
  }

  public HfTokenizer(Path path, boolean addSpecialTokens) {
    this(read(path), resolve(path).toString(), addSpecialTokens);
  }

  /**
   * A tokenizer from the bytes of a {@code tokenizer.json}.
   *
   * @param source where the bytes came from, for messages
   */
  public HfTokenizer(byte[] bytes, String source, boolean addSpecialTokens) {
    this.path = Path.of(source);
    this.addSpecialTokens = addSpecialTokens;
    this.sha256 = sha256(bytes);
    this.vocabSize = countVocab(bytes, path);
    try {
      this.tokenizer = HuggingFaceTokenizer.newInstance(
          new ByteArrayInputStream(bytes),
          Map.of(
              "addSpecialTokens", Boolean.toString(addSpecialTokens),
              "truncation", "false",
              "padding", "false",
              "modelMaxLength", Integer.toString(Integer.MAX_VALUE - 1)));
    } catch (IOException | RuntimeException e) {
      throw new DataException("Cannot load teacher tokenizer: " + e.getMessage() + ": " + source);
    }
  }

  private static Path resolve(Path path) {
    return path != null && Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
  }

  private static byte[] read(Path path) {
    Path file = resolve(path);
    if (file == null || !Files.isRegularFile(file)) {
      throw new DataException("Cannot load teacher tokenizer: no such file: "
          + (file == null ? "null" : file.toAbsolutePath()));
    }
    try {
      return Files.readAllBytes(file);
    } catch (IOException e) {
      throw new DataException("Cannot load teacher tokenizer: " + e.getMessage() + ": " + file);
    }
  }

  /** Token ids of {@code text}. */
  public int[] encode(String text) {
    Encoding encoding = tokenizer.encode(text, addSpecialTokens, false);
    long[] ids = encoding.getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = Math.toIntExact(ids[i]);
    }
    return out;
  }

  /** The text of {@code ids}, special tokens skipped. */
  public String decode(int[] ids) {
    long[] longs = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      longs[i] = ids[i];
    }
    return tokenizer.decode(longs, true);
  }

  /** Hex sha256 of the {@code tokenizer.json} bytes: the tokenizer's identity in provenance. */
  public String sha256() {
    return sha256;
  }

  /**
   * One more than the largest token id in the file (model vocabulary and added tokens). The
   * teacher's {@code logits} may be wider (padded embedding tables); never narrower.
   */
  public int vocabSize() {
    return vocabSize;
  }

  public Path path() {
    return path;
  }

  private static int countVocab(byte[] bytes, Path path) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(bytes);
    } catch (IOException e) {
      throw new DataException("Cannot load teacher tokenizer: not valid JSON (" + e.getMessage() + "): " + path);
    }
    JsonNode vocab = root.path("model").path("vocab");
    long max = -1;
    if (vocab.isObject()) { // WordLevel, BPE, WordPiece: {"token": id}
      for (Iterator<JsonNode> it = vocab.elements(); it.hasNext(); ) {
        max = Math.max(max, it.next().asLong(-1));
      }
    } else if (vocab.isArray()) { // Unigram: [["piece", score], ...], ids are positions
      max = vocab.size() - 1;
    } else {
      throw new DataException("Cannot load teacher tokenizer: no model.vocab in the file: " + path);
    }
    for (JsonNode added : root.path("added_tokens")) {
      max = Math.max(max, added.path("id").asLong(-1));
    }
    return Math.toIntExact(max + 1);
  }

  private static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("Cannot hash: SHA-256 missing from this JVM", e);
    }
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
