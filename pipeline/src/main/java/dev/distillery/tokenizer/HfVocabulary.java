package dev.distillery.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.errors.DataException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * A Hugging Face {@code tokenizer.json} (an ONNX teacher's) in Distillery's id convention, so
 * prepare, distill and the decoders treat the teacher's vocabulary like their own: model id
 * {@code h} is Distillery id {@code h + 5}, except the model's end-of-sequence token, which is
 * Distillery's {@code </s>} (3). Ids 0, 1, 2 and 4 ({@code <pad> <unk> <s> <sep>}) exist only on
 * Distillery's side; {@link #toModel} maps {@code <s>} to the model's beginning-of-sequence token
 * (its end-of-sequence token where it has none, as GPT-2 does) and {@code <sep>} to its
 * end-of-sequence token, so a pair reaches the model as {@code bos source eos target eos}.
 *
 * <p>A file whose first five ids are Distillery's own specials ({@code <pad> <unk> <s> </s> <sep>},
 * as {@code export} writes them) is already in Distillery's ids: the mapping is the identity.
 *
 * <p>The file's bytes are the state; the native tokenizer ({@link HfTokenizer}) is rebuilt on first
 * use after deserialization on an executor.
 */
public final class HfVocabulary implements TextTokenizer {
  /** Distillery's reserved ids 0..4 shift the model's ids up by this much. */
  public static final int OFFSET = 5;
  /** End-of-sequence tokens recognized among the file's added tokens, in order of preference. */
  static final List<String> EOS_NAMES = List.of("</s>", "<|endoftext|>", "<eos>", "<|eos|>");
  static final List<String> BOS_NAMES = List.of("<s>", "<|startoftext|>", "<bos>");
  /** Distillery's reserved tokens in id order; a file that starts with them needs no shift. */
  static final List<String> DISTILLERY_SPECIALS = TextTokenizer.SPECIAL_TOKENS;

  private final byte[] bytes;
  private final String source;
  private final int eos;
  private final int bos;
  private final int offset;
  private transient volatile HfTokenizer tokenizer;
  private transient volatile String[] pieces;

  private HfVocabulary(byte[] bytes, String source, int eos, int bos, int offset) {
    this.bytes = bytes;
    this.source = source;
    this.eos = eos;
    this.bos = bos;
    this.offset = offset;
  }

  /** Reads a {@code tokenizer.json} file, or the one in a directory. */
  public static HfVocabulary load(Path path) {
    Path file = Files.isDirectory(path) ? path.resolve("tokenizer.json") : path;
    try {
      return of(Files.readAllBytes(file), file.toString());
    } catch (IOException e) {
      throw new DataException("Cannot load teacher tokenizer: no such file: " + file.toAbsolutePath());
    }
  }

  /** @param source where the bytes came from, for messages */
  public static HfVocabulary of(byte[] bytes, String source) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(bytes);
    } catch (IOException e) {
      throw new DataException("Cannot load teacher tokenizer: not valid JSON (" + e.getMessage() + "): " + source);
    }
    int eos = firstSpecial(root, EOS_NAMES);
    if (eos < 0) {
      throw new DataException("Cannot use teacher tokenizer: none of the end-of-sequence tokens " + EOS_NAMES
          + " is among its added tokens: " + source);
    }
    int bos = firstSpecial(root, BOS_NAMES);
    HfVocabulary v = new HfVocabulary(bytes, source, eos, bos >= 0 ? bos : eos,
        hasDistillerySpecials(root) ? 0 : OFFSET);
    v.tokenizer(); // fail here, not on an executor, if the library rejects the file
    return v;
  }

  private static boolean hasDistillerySpecials(JsonNode root) {
    int found = 0;
    for (JsonNode added : root.path("added_tokens")) {
      int id = added.path("id").asInt(-1);
      if (id >= 0 && id < DISTILLERY_SPECIALS.size() && DISTILLERY_SPECIALS.get(id).equals(added.path("content").asText())) {
        found++;
      }
    }
    return found == DISTILLERY_SPECIALS.size();
  }

  /** Whether the file is in Distillery's own ids (an export's), so no id is shifted. */
  public boolean isDistilleryLayout() {
    return offset == 0;
  }

  private static int firstSpecial(JsonNode root, List<String> names) {
    for (String name : names) {
      for (JsonNode added : root.path("added_tokens")) {
        if (added.path("content").asText().equals(name)) {
          return added.path("id").asInt();
        }
      }
    }
    return -1;
  }

  private HfTokenizer tokenizer() {
    HfTokenizer t = tokenizer;
    if (t == null) {
      synchronized (this) {
        if (tokenizer == null) {
          tokenizer = new HfTokenizer(bytes, source, false);
        }
        t = tokenizer;
      }
    }
    return t;
  }

  @Override
  public int[] encode(String text) {
    int[] ids = tokenizer().encode(text);
    for (int i = 0; i < ids.length; i++) {
      ids[i] = fromModel(ids[i]);
    }
    return ids;
  }

  @Override
  public String decode(int[] ids) {
    return tokenizer().decode(Arrays.stream(ids).filter(id -> id >= OFFSET).map(id -> id - offset).toArray());
  }

  /**
   * The token's text as {@link TextTokenizer#piece} defines it, from the file's vocabulary and its
   * decoder: byte-level tokens ({@code "Ġcasa"}) through GPT-2's byte-to-character table, Metaspace
   * ({@code "▁casa"}) and WordPiece ({@code "##sa"} continues a word) by their markers; without a
   * decoder the library joins tokens with spaces, so every token starts a word. Null for added
   * (special) tokens and byte pieces that are not whole UTF-8 characters.
   */
  @Override
  public String piece(int id) {
    String[] p = pieces;
    if (p == null) {
      p = pieces = pieces();
    }
    int model = toModel(id);
    return id < OFFSET && offset > 0 || model < 0 || model >= p.length ? null : p[model];
  }

  private String[] pieces() {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(bytes);
    } catch (IOException e) {
      throw new DataException("Cannot read teacher tokenizer: not valid JSON (" + e.getMessage() + "): " + source);
    }
    String[] out = new String[Math.max(modelVocabSize(), 0)];
    JsonNode vocab = root.path("model").path("vocab");
    java.util.function.BiConsumer<String, Integer> put = (token, id) -> {
      if (id >= 0 && id < out.length) {
        out[id] = token;
      }
    };
    if (vocab.isObject()) {
      vocab.fields().forEachRemaining(e -> put.accept(e.getKey(), e.getValue().asInt(-1)));
    } else if (vocab.isArray()) { // Unigram: [[piece, score], ...] in id order
      for (int i = 0; i < vocab.size(); i++) {
        put.accept(vocab.get(i).path(0).asText(), i);
      }
    }
    for (JsonNode added : root.path("added_tokens")) {
      int id = added.path("id").asInt(-1);
      if (id >= 0 && id < out.length) {
        out[id] = null;
      }
    }
    String decoder = decoderType(root.path("decoder"));
    int[] byteOf = decoder.equals("ByteLevel") ? byteLevelTable() : null;
    for (int i = 0; i < out.length; i++) {
      if (out[i] != null) {
        out[i] = switch (decoder) {
          case "ByteLevel" -> byteLevelText(out[i], byteOf);
          case "Metaspace" -> out[i].replace('\u2581', ' ');
          case "WordPiece" -> out[i].startsWith("##") ? out[i].substring(2) : " " + out[i];
          default -> " " + out[i];
        };
      }
    }
    return out;
  }

  /** The decoder's type; a Sequence decoder counts as its first recognized member. */
  private static String decoderType(JsonNode decoder) {
    String type = decoder.path("type").asText("");
    if (type.equals("Sequence")) {
      for (JsonNode d : decoder.path("decoders")) {
        String t = decoderType(d);
        if (List.of("ByteLevel", "Metaspace", "WordPiece").contains(t)) {
          return t;
        }
      }
    }
    return type;
  }

  /** GPT-2's table: the character each byte is written as in a byte-level vocabulary, inverted. */
  private static int[] byteLevelTable() {
    int[] byteOf = new int[512];
    Arrays.fill(byteOf, -1);
    int extra = 0;
    for (int b = 0; b < 256; b++) {
      boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byteOf[printable ? b : 256 + extra++] = b;
    }
    return byteOf;
  }

  private static String byteLevelText(String token, int[] byteOf) {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    for (int i = 0; i < token.length(); i++) {
      char c = token.charAt(i);
      if (c >= byteOf.length || byteOf[c] < 0) {
        return null;
      }
      bytes.write(byteOf[c]);
    }
    try {
      return java.nio.charset.StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
          .decode(java.nio.ByteBuffer.wrap(bytes.toByteArray())).toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      return null; // part of a multi-byte character: no text of its own
    }
  }

  /** The model's vocabulary plus Distillery's five reserved ids (which an export's already holds). */
  @Override
  public int vocabSize() {
    return modelVocabSize() + offset;
  }

  /** sha256 of the {@code tokenizer.json} bytes. */
  @Override
  public String sha256() {
    return tokenizer().sha256();
  }

  @Override
  public void save(Path file) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.write(file, bytes);
  }

  /** Size of the model's own vocabulary (its logits may be wider, never narrower). */
  public int modelVocabSize() {
    return tokenizer().vocabSize();
  }

  /** The Distillery id of a model id. */
  public int fromModel(int id) {
    if (offset == 0) {
      return id;
    }
    return id == eos ? TextTokenizer.EOS : id + OFFSET;
  }

  /**
   * The model id of a Distillery id ({@code <s>} and {@code <sep>} as described above). {@code <pad>},
   * which decoders feed to rows that already ended, and {@code <unk>}, which the teacher gives
   * probability 0, become its end-of-sequence token: fillers whose scores nothing reads.
   */
  public int toModel(int id) {
    if (offset == 0) {
      return id;
    }
    return switch (id) {
      case TextTokenizer.BOS -> bos;
      case TextTokenizer.EOS, TextTokenizer.SEP, TextTokenizer.PAD, TextTokenizer.UNK -> eos;
      default -> id - OFFSET;
    };
  }
}
