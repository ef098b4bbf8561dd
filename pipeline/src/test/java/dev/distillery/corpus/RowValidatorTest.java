package dev.distillery.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class RowValidatorTest {
  private final RowValidator validator = new RowValidator(50);

  private ParsedRow parse(String line) {
    byte[] b = line.getBytes(StandardCharsets.UTF_8);
    return validator.parseLine(b, b.length, "f.jsonl:0");
  }

  @Test
  void acceptsPairAndNormalizesWhitespace() {
    ParsedRow r = parse("{\"id\":\"a\",\"source\":\"  hola\\u00a0 mundo \",\"target\":\"hello\\n world\"}");
    assertTrue(r.accepted());
    assertEquals("hola mundo", r.source());
    assertEquals("hello world", r.target());
  }

  @Test
  void acceptsPlainTextRowAndNamesItByPosition() {
    ParsedRow r = parse("{\"text\":\"In the beginning\"}");
    assertTrue(r.accepted());
    assertNull(r.source());
    assertEquals("In the beginning", r.target());
    assertEquals("f.jsonl:0", r.id());
  }

  @Test
  void rejectsInvalidJson() {
    assertEquals(RejectReason.INVALID_JSON, parse("{\"id\":\"a\",\"source\":").reason());
  }

  @Test
  void rejectsJsonThatIsNotAnObject() {
    assertEquals(RejectReason.NOT_AN_OBJECT, parse("[1,2]").reason());
  }

  @Test
  void rejectsMissingTargetNamingTheField() {
    ParsedRow r = parse("{\"id\":\"a\",\"source\":\"hola\"}");
    assertEquals(RejectReason.MISSING_FIELD, r.reason());
    assertEquals("missing field: target", r.detail());
    assertEquals("a", r.id());
  }

  @Test
  void rejectsWrongTypeNamingTheField() {
    ParsedRow r = parse("{\"id\":\"a\",\"source\":7,\"target\":\"x\"}");
    assertEquals(RejectReason.WRONG_TYPE, r.reason());
    assertEquals("field source is number, expected string", r.detail());
  }

  @Test
  void rejectsEmptyFieldAfterNormalization() {
    ParsedRow r = parse("{\"id\":\"a\",\"source\":\"hola\",\"target\":\"  \\t \"}");
    assertEquals(RejectReason.EMPTY_FIELD, r.reason());
    assertEquals("empty field: target", r.detail());
  }

  @Test
  void rejectsControlCharacters() {
    ParsedRow r = parse("{\"id\":\"a\",\"source\":\"ho\\u0007la\",\"target\":\"x\"}");
    assertEquals(RejectReason.CONTROL_CHARACTERS, r.reason());
    assertEquals("field source has control character U+0007 at 2", r.detail());
  }

  @Test
  void rejectsTooLongFieldWithLengthAndLimit() {
    ParsedRow r = parse("{\"id\":\"a\",\"source\":\"" + "x".repeat(51) + "\",\"target\":\"x\"}");
    assertEquals(RejectReason.TOO_LONG, r.reason());
    assertEquals("field source has 51 characters, limit 50", r.detail());
  }

  @Test
  void rejectsInvalidUtf8() {
    byte[] b = {'{', '"', 'i', 'd', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'};
    assertEquals(RejectReason.INVALID_UTF8, validator.parseLine(b, b.length, "f:0").reason());
  }

  @Test
  void rejectsBlankLine() {
    assertEquals(RejectReason.EMPTY_LINE, parse("   ").reason());
  }
}
