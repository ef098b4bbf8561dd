package dev.distillery.corpus;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.tokenizer.BpeTokenizer;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Validates and normalizes one corpus row. Pure and serializable: it runs inside Spark tasks and in
 * unit tests alike. A row is either a pair ({@code id}, {@code source}, {@code target}) or a plain
 * text ({@code text}, with an optional {@code id}; a missing one becomes {@code file:offset}).
 */
public final class RowValidator implements Serializable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final int maxChars;

  public RowValidator(int maxChars) {
    this.maxChars = maxChars;
  }

  /** Validates a raw JSON Lines line; {@code fallbackId} names rows without an id (file:offset). */
  public ParsedRow parseLine(byte[] bytes, int length, String fallbackId) {
    String line;
    try {
      line = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes, 0, length))
          .toString();
    } catch (CharacterCodingException e) {
      return ParsedRow.reject(fallbackId, RejectReason.INVALID_UTF8, "line is not valid UTF-8");
    }
    if (line.isBlank()) {
      return ParsedRow.reject(fallbackId, RejectReason.EMPTY_LINE, "blank line");
    }
    JsonNode node;
    try {
      node = JSON.readTree(line);
    } catch (JsonProcessingException e) {
      return ParsedRow.reject(fallbackId, RejectReason.INVALID_JSON, firstLine(e.getOriginalMessage()));
    }
    if (node == null || !node.isObject()) {
      return ParsedRow.reject(fallbackId, RejectReason.NOT_AN_OBJECT, "line is JSON but not an object");
    }
    String[] values = new String[3];
    String[] names = {"id", "source", "target"};
    boolean text = node.has("text") && !node.has("source") && !node.has("target");
    if (text) {
      names = new String[] {"id", null, "text"};
    }
    String idHint = node.path("id").isTextual() ? node.get("id").asText() : fallbackId;
    for (int i = 0; i < 3; i++) {
      String name = names[i];
      if (name == null) {
        continue;
      }
      JsonNode v = node.get(name);
      if (v == null || v.isNull()) {
        if (name.equals("id") && text) {
          values[i] = fallbackId;
          continue;
        }
        return ParsedRow.reject(idHint, RejectReason.MISSING_FIELD, "missing field: " + name);
      }
      if (!v.isTextual()) {
        return ParsedRow.reject(idHint, RejectReason.WRONG_TYPE,
            "field " + name + " is " + v.getNodeType().name().toLowerCase() + ", expected string");
      }
      values[i] = v.asText();
    }
    return validate(values[0], values[1], values[2]);
  }

  /** Validates already-typed values (Parquet input); {@code source} is null for plain-text rows. */
  public ParsedRow validate(String id, String source, String target) {
    if (id == null || id.isBlank()) {
      return ParsedRow.reject(id, RejectReason.EMPTY_FIELD, "empty field: id");
    }
    String[] names = {"source", "target"};
    String[] values = {source, target};
    for (int i = 0; i < 2; i++) {
      String v = values[i];
      if (v == null) {
        if (i == 0) {
          continue;
        }
        return ParsedRow.reject(id, RejectReason.MISSING_FIELD, "missing field: " + names[i]);
      }
      int bad = firstControl(v);
      if (bad >= 0) {
        return ParsedRow.reject(id, RejectReason.CONTROL_CHARACTERS,
            String.format("field %s has control character U+%04X at %d", names[i], (int) v.charAt(bad), bad));
      }
      String normalized = BpeTokenizer.normalize(v);
      if (normalized.isEmpty()) {
        return ParsedRow.reject(id, RejectReason.EMPTY_FIELD, "empty field: " + names[i]);
      }
      if (normalized.length() > maxChars) {
        return ParsedRow.reject(id, RejectReason.TOO_LONG,
            "field " + names[i] + " has " + normalized.length() + " characters, limit " + maxChars);
      }
      values[i] = normalized;
    }
    return ParsedRow.accept(id, values[0], values[1]);
  }

  /** Index of the first C0/C1 control character other than tab, newline and carriage return, or -1. */
  private static int firstControl(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isISOControl(c) && c != '\t' && c != '\n' && c != '\r') {
        return i;
      }
    }
    return -1;
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "malformed JSON";
    }
    int nl = s.indexOf('\n');
    String first = nl < 0 ? s : s.substring(0, nl);
    return first.length() > 200 ? first.substring(0, 200) : first;
  }
}
