package dev.distillery.config;

import java.util.Arrays;

/** Value checks shared by the config records; each failure names the key and the value. */
final class Checks {
  private Checks() {}

  static void positive(String key, long value) {
    if (value <= 0) {
      throw new ConfigException("Cannot configure " + section(key) + ": " + key + " must be positive: " + value);
    }
  }

  static void atLeast(String key, double value, double min) {
    if (value < min) {
      throw new ConfigException(
          "Cannot configure " + section(key) + ": " + key + " must be at least " + fmt(min) + ": " + fmt(value));
    }
  }

  static void fraction(String key, double value) {
    if (!(value >= 0 && value <= 1)) {
      throw new ConfigException("Cannot configure " + section(key) + ": " + key + " must be in [0, 1]: " + value);
    }
  }

  static void oneOf(String key, String value, String... allowed) {
    if (!Arrays.asList(allowed).contains(value)) {
      throw new ConfigException(
          "Cannot configure " + section(key) + ": " + key + " must be one of "
              + String.join(", ", allowed) + ": " + value);
    }
  }

  private static String section(String key) {
    return key.substring(0, key.indexOf('.'));
  }

  private static String fmt(double v) {
    return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
  }
}
