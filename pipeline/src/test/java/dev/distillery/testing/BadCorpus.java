package dev.distillery.testing;

import dev.distillery.corpus.RejectReason;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a JSONL corpus of good pairs with one line of every kind of damage Distillery must reject,
 * and says which reason each bad line must get. Each damaged line carries a marker so tests can
 * find it in the rejected set.
 */
public final class BadCorpus {
  /**
   * A damaged line: its raw bytes, a marker that the rejected row's {@code raw} excerpt contains (null
   * for a blank line) and the reason it must get.
   */
  public record Bad(String name, byte[] bytes, String marker, RejectReason reason) {}

  private BadCorpus() {}

  /** One of each kind, in a fixed order. */
  public static List<Bad> kinds() {
    List<Bad> out = new ArrayList<>();
    out.add(bad("invalid JSON", "{\"id\": \"b-json\", \"source\": \"hola\" \"target\": \"hi\"}", "b-json",
        RejectReason.INVALID_JSON));
    out.add(bad("truncated line", "{\"id\": \"b-trunc\", \"source\": \"hola\", \"targ", "b-trunc",
        RejectReason.INVALID_JSON));
    out.add(bad("not an object", "[\"b-array\", \"hi\"]", "b-array", RejectReason.NOT_AN_OBJECT));
    out.add(bad("wrong type", "{\"id\": \"b-type\", \"source\": \"hola\", \"target\": 42}", "b-type",
        RejectReason.WRONG_TYPE));
    out.add(bad("missing field", "{\"id\": \"b-missing\", \"source\": \"hola\"}", "b-missing",
        RejectReason.MISSING_FIELD));
    out.add(bad("empty field", "{\"id\": \"b-empty\", \"source\": \"hola\", \"target\": \"   \"}", "b-empty",
        RejectReason.EMPTY_FIELD));
    out.add(bad("control characters", "{\"id\": \"b-ctrl\", \"source\": \"ho\\u0007la\", \"target\": \"hi\"}", "b-ctrl",
        RejectReason.CONTROL_CHARACTERS));
    out.add(bad("1 MB line", "{\"id\": \"b-huge\", \"source\": \"hola\", \"target\": \"" + "a".repeat(1 << 20) + "\"}",
        "b-huge", RejectReason.TOO_LONG));
    byte[] utf8 = "{\"id\": \"b-utf8\", \"source\": \"hola X\", \"target\": \"hi\"}".getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < utf8.length; i++) {
      if (utf8[i] == 'X') {
        utf8[i] = (byte) 0xFF; // a byte that starts no UTF-8 sequence
      }
    }
    out.add(new Bad("invalid UTF-8", utf8, "b-utf8", RejectReason.INVALID_UTF8));
    out.add(bad("blank line", "   ", null, RejectReason.EMPTY_LINE));
    return out;
  }

  private static Bad bad(String name, String line, String id, RejectReason reason) {
    return new Bad(name, line.getBytes(StandardCharsets.UTF_8), id, reason);
  }

  /**
   * Writes {@code good} lines with every bad kind and one duplicate of the first good line's id
   * spread among them.
   *
   * @return the expected rejected count per reason code
   */
  public static Map<String, Long> write(Path file, List<String> good) throws IOException {
    List<Bad> bad = kinds();
    Map<String, Long> expected = new LinkedHashMap<>();
    try (OutputStream out = Files.newOutputStream(file)) {
      int every = Math.max(1, good.size() / (bad.size() + 1));
      int b = 0;
      for (int i = 0; i < good.size(); i++) {
        out.write((good.get(i) + "\n").getBytes(StandardCharsets.UTF_8));
        if (i % every == every - 1 && b < bad.size()) {
          out.write(bad.get(b).bytes());
          out.write('\n');
          expected.merge(bad.get(b).reason().code(), 1L, Long::sum);
          b++;
        }
      }
      for (; b < bad.size(); b++) {
        out.write(bad.get(b).bytes());
        out.write('\n');
        expected.merge(bad.get(b).reason().code(), 1L, Long::sum);
      }
      out.write((good.get(0) + "\n").getBytes(StandardCharsets.UTF_8)); // a later duplicate of the first id
      expected.merge(RejectReason.DUPLICATE_ID.code(), 1L, Long::sum);
    }
    return expected;
  }
}
