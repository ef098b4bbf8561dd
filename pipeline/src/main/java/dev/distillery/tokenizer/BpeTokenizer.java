package dev.distillery.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InvalidObjectException;
import java.io.ObjectInputStream;
import java.io.Serial;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A subword byte-pair-encoding tokenizer trained from our own corpus.
 *
 * <p>We hand-write this instead of using the DJL Hugging Face tokenizers binding because that
 * binding can load an existing {@code tokenizer.json} but cannot <em>train</em> one, and the
 * pipeline must train its vocabulary from the corpus it is distilling.
 *
 * <p>Text is {@linkplain #normalize normalized} (NFC, whitespace runs collapsed to one space,
 * trimmed), split on spaces, and every word gets the SentencePiece-style marker {@code '▁'}
 * (U+2581) in front, so {@code "hola mundo"} becomes {@code "▁hola"}, {@code "▁mundo"}. Because the
 * marker records where the spaces were, {@link #decode(int[])} is the exact inverse of
 * {@link #encode(String)} for normalized text whose characters are all in the alphabet (and which
 * does not itself contain {@code '▁'}).
 *
 * <p>Vocabulary layout, by id: the five specials ({@link #PAD}, {@link #UNK}, {@link #BOS},
 * {@link #EOS}, {@link #SEP}), then the alphabet (every code point seen in training plus
 * {@code '▁'}, sorted by code point), then one entry per merge whose result was not already in the
 * vocabulary, in merge order. Training is deterministic: the most frequent pair wins, ties are
 * broken by comparing the left and then the right token string.
 *
 * <p>Instances are immutable apart from an internal word cache and are safe for concurrent
 * {@link #encode} calls. They are {@link Serializable} (the serialized form is just the vocabulary
 * and merges; lookup tables are rebuilt on the receiving side) so they can be shipped to Spark
 * executors.
 */
public final class BpeTokenizer implements TextTokenizer {

  @Serial private static final long serialVersionUID = 1L;

  // PAD, UNK, BOS, EOS and SEP are TextTokenizer's: every tokenizer shares them.

  /** The word-start marker (U+2581, LOWER ONE EIGHTH BLOCK), as in SentencePiece. */
  static final int MARKER = 0x2581;

  static final String FORMAT = "distillery-bpe";
  static final int VERSION = 1;
  private static final List<String> SPECIALS = SPECIAL_TOKENS;
  private static final int NUM_SPECIALS = SPECIALS.size();
  private static final int CACHE_LIMIT = 100_000;
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Tokens by id. */
  private final String[] vocab;
  /** Merges by rank: {@code merges[r] = {leftId, rightId, resultId}}. */
  private final int[][] merges;

  // Derived lookup tables, rebuilt after deserialization.
  private transient Map<Integer, Integer> alphabet;   // code point -> id
  private transient Map<Long, Long> mergeTable;       // pair(left,right) -> rank << 32 | result
  private transient ConcurrentHashMap<String, int[]> cache;
  private transient volatile String json;

  private BpeTokenizer(String[] vocab, int[][] merges) {
    this.vocab = vocab;
    this.merges = merges;
    initTransients();
  }

  private void initTransients() {
    Map<Integer, Integer> alpha = new HashMap<>();
    for (int id = NUM_SPECIALS; id < vocab.length; id++) {
      String t = vocab[id];
      if (t.codePointCount(0, t.length()) == 1) {
        alpha.put(t.codePointAt(0), id);
      }
    }
    Map<Long, Long> table = new HashMap<>(merges.length * 2);
    for (int r = 0; r < merges.length; r++) {
      int[] m = merges[r];
      table.put(pairKey(m[0], m[1]), ((long) r << 32) | m[2]);
    }
    this.alphabet = alpha;
    this.mergeTable = table;
    this.cache = new ConcurrentHashMap<>();
  }

  @Serial
  private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
    in.defaultReadObject();
    try {
      validate(vocab, merges);
    } catch (IllegalArgumentException e) {
      InvalidObjectException ex = new InvalidObjectException(
          "Cannot deserialize tokenizer: " + e.getMessage());
      ex.initCause(e);
      throw ex;
    }
    initTransients();
  }

  /** Checks the structural invariants of a vocabulary + merge list; IAE with the reason. */
  private static void validate(String[] vocab, int[][] merges) {
    if (vocab == null || merges == null) {
      throw new IllegalArgumentException("missing vocab or merges");
    }
    if (vocab.length < NUM_SPECIALS + 1) {
      throw new IllegalArgumentException("vocab has " + vocab.length + " entries, need at least "
          + (NUM_SPECIALS + 1));
    }
    for (int i = 0; i < NUM_SPECIALS; i++) {
      if (!SPECIALS.get(i).equals(vocab[i])) {
        throw new IllegalArgumentException("vocab[" + i + "] must be " + SPECIALS.get(i)
            + " but is " + vocab[i]);
      }
    }
    for (int[] m : merges) {
      if (m == null || m.length != 3) {
        throw new IllegalArgumentException("malformed merge");
      }
      for (int id : m) {
        if (id < NUM_SPECIALS || id >= vocab.length) {
          throw new IllegalArgumentException("merge refers to id " + id + " outside the vocab");
        }
      }
      if (!vocab[m[2]].equals(vocab[m[0]] + vocab[m[1]])) {
        throw new IllegalArgumentException("merge result " + vocab[m[2]] + " is not "
            + vocab[m[0]] + " + " + vocab[m[1]]);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Normalization
  // ---------------------------------------------------------------------------------------------

  /** NFC, every run of Unicode whitespace becomes one space, leading/trailing whitespace removed. */
  public static String normalize(String text) {
    if (text == null) {
      throw new IllegalArgumentException("Cannot normalize text: text is null: null");
    }
    String nfc = Normalizer.normalize(text, Normalizer.Form.NFC);
    StringBuilder sb = new StringBuilder(nfc.length());
    boolean pendingSpace = false;
    for (int i = 0; i < nfc.length(); ) {
      int cp = nfc.codePointAt(i);
      i += Character.charCount(cp);
      if (isWhitespace(cp)) {
        pendingSpace = sb.length() > 0;
      } else {
        if (pendingSpace) {
          sb.append(' ');
          pendingSpace = false;
        }
        sb.appendCodePoint(cp);
      }
    }
    return sb.toString();
  }

  private static boolean isWhitespace(int cp) {
    // isSpaceChar adds the no-break spaces and line/paragraph separators that isWhitespace omits.
    return Character.isWhitespace(cp) || Character.isSpaceChar(cp);
  }

  /** The marker-prefixed words of already normalized text. */
  private static String[] words(String normalized) {
    if (normalized.isEmpty()) {
      return new String[0];
    }
    String[] parts = normalized.split(" ", -1);
    String marker = new String(Character.toChars(MARKER));
    for (int i = 0; i < parts.length; i++) {
      parts[i] = marker + parts[i];
    }
    return parts;
  }

  // ---------------------------------------------------------------------------------------------
  // Training
  // ---------------------------------------------------------------------------------------------

  /**
   * Trains on the texts until the vocabulary holds {@code vocabSize} entries (specials + alphabet +
   * merges) or no pair occurs at least {@code minPairCount} times.
   */
  public static BpeTokenizer train(Iterable<String> texts, int vocabSize, int minPairCount) {
    if (texts == null) {
      throw new IllegalArgumentException("Cannot train tokenizer: texts is null: null");
    }
    if (vocabSize < NUM_SPECIALS) {
      throw new IllegalArgumentException("Cannot train tokenizer: vocabSize must be at least "
          + NUM_SPECIALS + ": " + vocabSize);
    }
    if (minPairCount < 1) {
      throw new IllegalArgumentException(
          "Cannot train tokenizer: minPairCount must be at least 1: " + minPairCount);
    }

    // 1. Word frequencies and alphabet.
    Map<String, long[]> wordCounts = new HashMap<>();
    TreeSet<Integer> codePoints = new TreeSet<>();
    codePoints.add(MARKER);
    int index = 0;
    for (String text : texts) {
      if (text == null) {
        throw new IllegalArgumentException("Cannot train tokenizer: text is null: index " + index);
      }
      index++;
      for (String w : words(normalize(text))) {
        wordCounts.computeIfAbsent(w, k -> new long[1])[0]++;
      }
    }
    for (String w : wordCounts.keySet()) {
      w.codePoints().forEach(codePoints::add);
    }

    List<String> vocab = new ArrayList<>(SPECIALS);
    Map<String, Integer> tokenIds = new HashMap<>(); // non-special tokens only
    for (int cp : codePoints) {
      String t = new String(Character.toChars(cp));
      tokenIds.put(t, vocab.size());
      vocab.add(t);
    }

    // 2. Words as symbol-id arrays, in a deterministic order.
    String[] uniqueWords = wordCounts.keySet().toArray(new String[0]);
    Arrays.sort(uniqueWords);
    int n = uniqueWords.length;
    int[][] symbols = new int[n][];
    long[] freq = new long[n];
    for (int w = 0; w < n; w++) {
      String word = uniqueWords[w];
      symbols[w] = word.codePoints().map(cp -> tokenIds.get(new String(Character.toChars(cp))))
          .toArray();
      freq[w] = wordCounts.get(word)[0];
    }
    wordCounts = null;

    // 3. Initial pair statistics.
    Map<Long, PairStat> stats = new HashMap<>();
    for (int w = 0; w < n; w++) {
      int[] s = symbols[w];
      for (int i = 0; i + 1 < s.length; i++) {
        PairStat st = stats.computeIfAbsent(pairKey(s[i], s[i + 1]), k -> new PairStat());
        st.count += freq[w];
        if (st.words.lastOrMinus1() != w) {
          st.words.add(w);
        }
      }
    }
    PriorityQueue<HeapEntry> heap = new PriorityQueue<>(Math.max(16, stats.size()),
        (x, y) -> compareEntries(x, y, vocab));
    stats.forEach((key, st) -> heap.add(new HeapEntry(key, st.count)));

    // 4. Merge loop.
    List<int[]> merges = new ArrayList<>();
    int[] visitedStamp = new int[n];
    Arrays.fill(visitedStamp, -1);
    Map<Long, Long> delta = new HashMap<>();
    while (vocab.size() < vocabSize && !heap.isEmpty()) {
      HeapEntry top = heap.poll();
      PairStat st = stats.get(top.key);
      if (st == null || st.count != top.count) {
        continue; // stale entry
      }
      if (st.count < minPairCount) {
        break;
      }
      int a = left(top.key), b = right(top.key);
      String merged = vocab.get(a) + vocab.get(b);
      Integer existing = tokenIds.get(merged);
      int c;
      if (existing != null) {
        c = existing; // same string reached by another merge path: reuse the id
      } else {
        c = vocab.size();
        vocab.add(merged);
        tokenIds.put(merged, c);
      }
      int rank = merges.size();
      merges.add(new int[] {a, b, c});
      stats.remove(top.key);

      delta.clear();
      IntList affected = st.words;
      for (int k = 0; k < affected.size; k++) {
        int w = affected.data[k];
        if (visitedStamp[w] == rank) {
          continue;
        }
        visitedStamp[w] = rank;
        int[] old = symbols[w];
        int[] updated = applyMerge(old, a, b, c);
        if (updated == old) {
          continue; // stale index entry: word no longer contains the pair
        }
        symbols[w] = updated;
        long f = freq[w];
        for (int i = 0; i + 1 < old.length; i++) {
          delta.merge(pairKey(old[i], old[i + 1]), -f, Long::sum);
        }
        for (int i = 0; i + 1 < updated.length; i++) {
          long key = pairKey(updated[i], updated[i + 1]);
          delta.merge(key, f, Long::sum);
          if (updated[i] == c || updated[i + 1] == c) {
            PairStat ps = stats.computeIfAbsent(key, x -> new PairStat());
            if (ps.words.lastOrMinus1() != w) {
              ps.words.add(w);
            }
          }
        }
      }
      for (Map.Entry<Long, Long> e : delta.entrySet()) {
        long d = e.getValue();
        long key = e.getKey();
        if (key == top.key) {
          continue;
        }
        PairStat ps = stats.get(key);
        if (ps == null) {
          continue; // only possible for d == 0 on a removed pair
        }
        if (d != 0) {
          ps.count += d;
        }
        if (ps.count <= 0) {
          stats.remove(key);
        } else if (d != 0) {
          heap.add(new HeapEntry(key, ps.count));
        }
      }
    }

    return new BpeTokenizer(vocab.toArray(new String[0]), merges.toArray(new int[0][]));
  }

  /** Replaces every non-overlapping (a, b), left to right, by c; returns {@code s} if none. */
  private static int[] applyMerge(int[] s, int a, int b, int c) {
    int[] out = null;
    int o = 0;
    for (int i = 0; i < s.length; ) {
      if (i + 1 < s.length && s[i] == a && s[i + 1] == b) {
        if (out == null) {
          out = new int[s.length - 1];
          System.arraycopy(s, 0, out, 0, i);
          o = i;
        }
        out[o++] = c;
        i += 2;
      } else {
        if (out != null) {
          out[o++] = s[i];
        }
        i++;
      }
    }
    return out == null ? s : Arrays.copyOf(out, o);
  }

  private static int compareEntries(HeapEntry x, HeapEntry y, List<String> vocab) {
    int byCount = Long.compare(y.count, x.count);
    if (byCount != 0) {
      return byCount;
    }
    int byLeft = vocab.get(left(x.key)).compareTo(vocab.get(left(y.key)));
    if (byLeft != 0) {
      return byLeft;
    }
    return vocab.get(right(x.key)).compareTo(vocab.get(right(y.key)));
  }

  private static long pairKey(int a, int b) {
    return ((long) a << 32) | (b & 0xffffffffL);
  }

  private static int left(long key) {
    return (int) (key >>> 32);
  }

  private static int right(long key) {
    return (int) key;
  }

  private static final class PairStat {
    long count;
    final IntList words = new IntList();
  }

  private record HeapEntry(long key, long count) { }

  /** Growable int array (avoids boxing in the pair -> words index). */
  private static final class IntList {
    int[] data = new int[4];
    int size;

    void add(int v) {
      if (size == data.length) {
        data = Arrays.copyOf(data, size * 2);
      }
      data[size++] = v;
    }

    int lastOrMinus1() {
      return size == 0 ? -1 : data[size - 1];
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Encoding / decoding
  // ---------------------------------------------------------------------------------------------

  /** Token ids of the normalized text; no BOS/EOS added. Unknown characters become {@link #UNK}. */
  public int[] encode(String text) {
    if (text == null) {
      throw new IllegalArgumentException("Cannot encode text: text is null: null");
    }
    String[] words = words(normalize(text));
    int[][] parts = new int[words.length][];
    int total = 0;
    for (int i = 0; i < words.length; i++) {
      parts[i] = encodeWord(words[i]);
      total += parts[i].length;
    }
    int[] out = new int[total];
    int o = 0;
    for (int[] p : parts) {
      System.arraycopy(p, 0, out, o, p.length);
      o += p.length;
    }
    return out;
  }

  private int[] encodeWord(String word) {
    int[] cached = cache.get(word);
    if (cached != null) {
      return cached;
    }
    int[] s = word.codePoints().map(cp -> alphabet.getOrDefault(cp, UNK)).toArray();
    while (s.length > 1) {
      long bestRank = Long.MAX_VALUE;
      int bestResult = -1, bestA = -1, bestB = -1;
      for (int i = 0; i + 1 < s.length; i++) {
        Long m = mergeTable.get(pairKey(s[i], s[i + 1]));
        if (m != null && (m >>> 32) < bestRank) {
          bestRank = m >>> 32;
          bestResult = (int) (long) m;
          bestA = s[i];
          bestB = s[i + 1];
        }
      }
      if (bestResult < 0) {
        break;
      }
      s = applyMerge(s, bestA, bestB, bestResult);
    }
    if (cache.size() >= CACHE_LIMIT) {
      cache.clear();
    }
    cache.put(word, s);
    return s;
  }

  /** Concatenates the tokens (skipping special ids), turns markers into spaces, drops the first. */
  public String decode(int[] ids) {
    if (ids == null) {
      throw new IllegalArgumentException("Cannot decode ids: ids is null: null");
    }
    return decode(ids, 0, ids.length);
  }

  /** Like {@link #decode(int[])} for {@code ids[from..to)}. */
  public String decode(int[] ids, int from, int to) {
    if (ids == null) {
      throw new IllegalArgumentException("Cannot decode ids: ids is null: null");
    }
    if (from < 0 || to > ids.length || from > to) {
      throw new IllegalArgumentException("Cannot decode ids: range out of bounds for length "
          + ids.length + ": [" + from + ", " + to + ")");
    }
    StringBuilder sb = new StringBuilder();
    for (int i = from; i < to; i++) {
      int id = ids[i];
      if (id < 0 || id >= vocab.length) {
        throw new IllegalArgumentException("Cannot decode ids: id out of range [0, "
            + vocab.length + "): " + id);
      }
      if (id >= NUM_SPECIALS) {
        sb.append(vocab[id]);
      }
    }
    String text = sb.toString().replace('\u2581', ' ');
    return text.startsWith(" ") ? text.substring(1) : text;
  }

  public int vocabSize() {
    return vocab.length;
  }

  /** The token with its word-start marker as a space; null for the specials. */
  @Override
  public String piece(int id) {
    return id < NUM_SPECIALS || id >= vocab.length ? null : vocab[id].replace('\u2581', ' ');
  }

  public String token(int id) {
    if (id < 0 || id >= vocab.length) {
      throw new IllegalArgumentException("Cannot look up token: id out of range [0, "
          + vocab.length + "): " + id);
    }
    return vocab[id];
  }

  // ---------------------------------------------------------------------------------------------
  // Persistence
  // ---------------------------------------------------------------------------------------------

  /** Hex SHA-256 of {@link #toJson()}: same training data and parameters give the same hash. */
  public String sha256() {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256")
          .digest(toJson().getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("Cannot hash tokenizer: SHA-256 unavailable: " + e, e);
    }
  }

  /** Canonical compact JSON: {@code {"format":..,"version":1,"vocab":[..],"merges":[["a","b"],..]}}. */
  public String toJson() {
    String j = json;
    if (j == null) {
      ObjectNode root = JSON.createObjectNode();
      root.put("format", FORMAT);
      root.put("version", VERSION);
      ArrayNode v = root.putArray("vocab");
      for (String t : vocab) {
        v.add(t);
      }
      ArrayNode m = root.putArray("merges");
      for (int[] merge : merges) {
        m.addArray().add(vocab[merge[0]]).add(vocab[merge[1]]);
      }
      try {
        j = JSON.writeValueAsString(root);
      } catch (JsonProcessingException e) {
        throw new IllegalStateException("Cannot serialize tokenizer: " + e.getOriginalMessage()
            + ": " + vocab.length + " tokens", e);
      }
      json = j;
    }
    return j;
  }

  /** Parses {@link #toJson()} output; IllegalArgumentException if it is not a valid tokenizer. */
  public static BpeTokenizer fromJson(String json) {
    if (json == null) {
      throw new IllegalArgumentException("Cannot parse tokenizer: json is null: null");
    }
    try {
      return parse(json);
    } catch (IllegalArgumentException e) {
      String head = json.length() > 60 ? json.substring(0, 60) + "..." : json;
      throw new IllegalArgumentException("Cannot parse tokenizer: " + e.getMessage() + ": " + head,
          e);
    }
  }

  /** Parses and validates; IllegalArgumentException whose message is just the reason. */
  static BpeTokenizer parse(String text) {
    JsonNode root;
    try {
      root = JSON.readTree(text);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("invalid JSON (" + e.getOriginalMessage() + ")", e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("not a JSON object");
    }
    JsonNode format = root.get("format");
    if (format == null || !format.isTextual() || !FORMAT.equals(format.asText())) {
      throw new IllegalArgumentException("format is not " + FORMAT + " (got " + format + ")");
    }
    JsonNode version = root.get("version");
    if (version == null || !version.isInt() || version.asInt() != VERSION) {
      throw new IllegalArgumentException("unsupported version " + version + " (expected "
          + VERSION + ")");
    }
    JsonNode vocabNode = root.get("vocab");
    if (vocabNode == null || !vocabNode.isArray()) {
      throw new IllegalArgumentException("vocab is missing or not an array");
    }
    String[] vocab = new String[vocabNode.size()];
    Map<String, Integer> ids = new HashMap<>();
    for (int i = 0; i < vocab.length; i++) {
      JsonNode t = vocabNode.get(i);
      if (!t.isTextual() || t.asText().isEmpty()) {
        throw new IllegalArgumentException("vocab[" + i + "] is not a non-empty string");
      }
      vocab[i] = t.asText();
      if (i >= NUM_SPECIALS && ids.put(vocab[i], i) != null) {
        throw new IllegalArgumentException("duplicate token " + vocab[i]);
      }
    }
    JsonNode mergesNode = root.get("merges");
    if (mergesNode == null || !mergesNode.isArray()) {
      throw new IllegalArgumentException("merges is missing or not an array");
    }
    int[][] merges = new int[mergesNode.size()][];
    for (int r = 0; r < merges.length; r++) {
      JsonNode m = mergesNode.get(r);
      if (!m.isArray() || m.size() != 2 || !m.get(0).isTextual() || !m.get(1).isTextual()) {
        throw new IllegalArgumentException("merges[" + r + "] is not a pair of strings");
      }
      String a = m.get(0).asText(), b = m.get(1).asText();
      Integer ia = ids.get(a), ib = ids.get(b), ic = ids.get(a + b);
      if (ia == null || ib == null || ic == null) {
        throw new IllegalArgumentException("merges[" + r + "] uses a token missing from vocab");
      }
      merges[r] = new int[] {ia, ib, ic};
    }
    if (!ids.containsKey(new String(Character.toChars(MARKER)))) {
      throw new IllegalArgumentException("vocab lacks the word marker U+2581");
    }
    validate(vocab, merges);
    return new BpeTokenizer(vocab, merges);
  }

  /** Writes {@link #toJson()} as UTF-8. */
  public void save(Path file) throws IOException {
    if (file == null) {
      throw new IllegalArgumentException("Cannot save tokenizer: path is null: null");
    }
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.writeString(file, toJson(), StandardCharsets.UTF_8);
  }

  /** Reads a file written by {@link #save}; IOException "Cannot load tokenizer: why: path". */
  public static BpeTokenizer load(Path file) throws IOException {
    if (file == null) {
      throw new IllegalArgumentException("Cannot load tokenizer: path is null: null");
    }
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IOException("Cannot load tokenizer: cannot read file (" + e + "): " + file, e);
    }
    try {
      return parse(text);
    } catch (IllegalArgumentException e) {
      throw new IOException("Cannot load tokenizer: " + e.getMessage() + ": " + file, e);
    }
  }
}
