package dev.distillery.corpus;

/** Why a corpus row was rejected. The lower-case name is what the {@code reason} column holds. */
public enum RejectReason {
  INVALID_UTF8,
  INVALID_JSON,
  NOT_AN_OBJECT,
  MISSING_FIELD,
  WRONG_TYPE,
  EMPTY_FIELD,
  CONTROL_CHARACTERS,
  TOO_LONG,
  TOO_MANY_TOKENS,
  DUPLICATE_ID,
  EMPTY_LINE,
  WRONG_SCHEMA;

  public String code() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
