package dev.distillery.errors;

/** Input data that cannot be used as it is. The CLI maps it to exit code 1. */
public final class DataException extends RuntimeException {
  public DataException(String message) {
    super(message);
  }
}
