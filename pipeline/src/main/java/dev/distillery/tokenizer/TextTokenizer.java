package dev.distillery.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.storage.Location;
import dev.distillery.storage.Scratch;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Text to token ids and back in Distillery's id convention: ids 0–4 are {@code <pad> <unk> <s> </s>
 * <sep>} ({@link #PAD} ...), everything else is the vocabulary proper. Sequences are
 * {@code <s> source <sep> target </s>}. Two kinds: {@link BpeTokenizer}, trained by Distillery, and
 * {@link HfVocabulary}, a Hugging Face {@code tokenizer.json} (an ONNX teacher's) mapped into that
 * convention. Serializable: tokenizers travel to Spark executors in broadcasts.
 */
public interface TextTokenizer extends Serializable {
  /** The special tokens every Distillery tokenizer puts first: padding, unknown, start, end, separator. */
  int PAD = 0, UNK = 1, BOS = 2, EOS = 3, SEP = 4;
  /** The special tokens' text, in id order: {@code SPECIAL_TOKENS.get(EOS)} is {@code </s>}. */
  java.util.List<String> SPECIAL_TOKENS = java.util.List.of("<pad>", "<unk>", "<s>", "</s>", "<sep>");

  /** Token ids of a text, without special tokens. */
  int[] encode(String text);

  /** The text of ids, special ids skipped. */
  String decode(int[] ids);

  /**
   * The text one token adds when it follows others: a leading space where the token starts a word
   * ({@code "▁casa"} is {@code " casa"}), none where it continues one. Null for the special ids and
   * for tokens without a text of their own (an unknown-character token, a partial UTF-8 byte). Span
   * alignment across tokenizers compares these ({@code TokenBridge}).
   */
  String piece(int id);

  /** Ids are in {@code [0, vocabSize)}. */
  int vocabSize();

  /** Hex sha256 identifying the tokenizer (recorded in manifests and model directories). */
  String sha256();

  /** Writes the tokenizer so that {@link #load} reads it back. */
  void save(Path file) throws IOException;

  /** Writes the tokenizer to a file on any file system, replacing it atomically. */
  default void save(Location file) throws IOException {
    Scratch.writeFiles(file.parent(), dir -> save(dir.resolve(file.name())));
  }

  /** Reads either kind: a Hugging Face {@code tokenizer.json} (it has a {@code model} object) or Distillery's BPE. */
  static TextTokenizer load(Path file) throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new IOException("Cannot load tokenizer: cannot read file (" + e + "): " + file, e);
    }
    return of(bytes, file.toString());
  }

  /** {@link #load(Path)} from any file system. */
  static TextTokenizer load(Location file) throws IOException {
    byte[] bytes;
    try {
      bytes = file.readBytes();
    } catch (IOException e) {
      throw new IOException("Cannot load tokenizer: cannot read file (" + e + "): " + file, e);
    }
    return of(bytes, file.toString());
  }

  /**
   * A tokenizer from a file's bytes.
   *
   * @param source where they came from, for messages
   */
  static TextTokenizer of(byte[] bytes, String source) throws IOException {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(bytes);
    } catch (IOException e) {
      throw new IOException("Cannot load tokenizer: not valid JSON (" + e.getMessage() + "): " + source, e);
    }
    if (root != null && root.path("model").isObject()) {
      return HfVocabulary.of(bytes, source);
    }
    try {
      return BpeTokenizer.parse(new String(bytes, java.nio.charset.StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      throw new IOException("Cannot load tokenizer: " + e.getMessage() + ": " + source, e);
    }
  }
}
