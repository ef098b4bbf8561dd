package dev.distillery.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.tokenizer.TextTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * Distillery's {@link BpeTokenizer} as a Hugging Face {@code tokenizer.json} (the {@code tokenizers}
 * library's schema), with the same ids, so the exported model's logits index the same tokens:
 *
 * <ul>
 *   <li>normalizer: NFC, every run of the whitespace {@link BpeTokenizer#normalize} collapses (Java's
 *       {@code isWhitespace} or {@code isSpaceChar}, spelled out as a character class) becomes one
 *       space, then both ends are stripped;
 *   <li>pre-tokenizer and decoder: {@code Metaspace} with {@code ▁}, prepended always, split on it:
 *       {@code "hola mundo"} → {@code ▁hola ▁mundo}, as Distillery marks words;
 *   <li>model: BPE over the same vocabulary (ids unchanged) and merges in rank order, unknown
 *       characters to {@code <unk>} one by one, no byte fallback;
 *   <li>the specials {@code <pad> <unk> <s> </s> <sep>} (ids 0 to 4) as special added tokens; no
 *       post-processor, so encoding adds none (a prompt is {@code <s> source <sep>}, built by the caller).
 * </ul>
 */
public final class HfTokenizerJson {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The specials in id order: Distillery's reserved ids 0 to 4. */
  public static final List<String> SPECIALS = TextTokenizer.SPECIAL_TOKENS;
  /**
   * The whitespace {@link BpeTokenizer#normalize} collapses, in the Rust regex syntax the library
   * uses: Java's {@code isWhitespace} (tab to carriage return, U+001C to U+001F, and the separators
   * except the no-break ones) united with {@code isSpaceChar} (all of Zs, Zl, Zp).
   */
  static final String WHITESPACE = "[\\t\\n\\x{0B}\\x{0C}\\r\\x{1C}-\\x{1F}\\p{Zs}\\p{Zl}\\p{Zp}]+";

  private HfTokenizerJson() {}

  /** The {@code tokenizer.json} text of {@code tokenizer}. */
  public static String of(BpeTokenizer tokenizer) {
    JsonNode own;
    try {
      own = JSON.readTree(tokenizer.toJson());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    // No check that ids 0-4 are the specials: a BpeTokenizer cannot be built otherwise.
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (int id = 0; id < SPECIALS.size(); id++) {
      added.addObject().put("id", id).put("content", SPECIALS.get(id)).put("single_word", false)
          .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
    }
    ObjectNode normalizer = root.putObject("normalizer").put("type", "Sequence");
    ArrayNode steps = normalizer.putArray("normalizers");
    steps.addObject().put("type", "NFC");
    ObjectNode replace = steps.addObject().put("type", "Replace");
    replace.putObject("pattern").put("Regex", WHITESPACE);
    replace.put("content", " ");
    steps.addObject().put("type", "Strip").put("strip_left", true).put("strip_right", true);
    root.set("pre_tokenizer", metaspace());
    root.putNull("post_processor");
    root.set("decoder", metaspace());
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.putNull("dropout");
    model.put("unk_token", SPECIALS.get(TextTokenizer.UNK));
    model.putNull("continuing_subword_prefix");
    model.putNull("end_of_word_suffix");
    model.put("fuse_unk", false);
    model.put("byte_fallback", false);
    model.put("ignore_merges", false);
    ObjectNode vocab = model.putObject("vocab");
    JsonNode tokens = own.get("vocab");
    for (int id = 0; id < tokens.size(); id++) {
      vocab.put(tokens.get(id).asText(), id);
    }
    ArrayNode merges = model.putArray("merges");
    for (JsonNode merge : own.get("merges")) {
      // "left right": tokens never hold a space (text is split on spaces before BPE).
      merges.add(merge.get(0).asText() + " " + merge.get(1).asText());
    }
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static ObjectNode metaspace() {
    return JSON.createObjectNode().put("type", "Metaspace").put("replacement", "\u2581")
        .put("prepend_scheme", "always").put("split", true);
  }
}
