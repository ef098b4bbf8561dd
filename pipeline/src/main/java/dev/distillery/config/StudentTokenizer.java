package dev.distillery.config;

import java.io.Serializable;

/**
 * Whose vocabulary the student speaks ({@code distill.student.tokenizer}), parsed once: the teacher's
 * (the student's output layer is then as wide as the teacher's vocabulary), its own BPE trained from
 * the targets' texts with {@code tokenizer.vocab-size}, or a tokenizer file. With a vocabulary of its
 * own the student learns from the teacher across tokenizers ({@code dev.distillery.tokenizer.TokenBridge}).
 */
public sealed interface StudentTokenizer extends Serializable {
  /** The teacher's tokenizer: every loss, including on-policy ones and okd. */
  record Teacher() implements StudentTokenizer {}

  /** A Distillery BPE trained from the targets' source and target texts. */
  record Own() implements StudentTokenizer {}

  /** A tokenizer file: Distillery's BPE or a Hugging Face {@code tokenizer.json}. */
  record File(String path) implements StudentTokenizer {}

  /** {@code teacher}, {@code own}, or a path. */
  static StudentTokenizer parse(String value) {
    if (value == null || value.isBlank()) {
      throw new ConfigException("Cannot configure distill: distill.student.tokenizer must be teacher, own or a "
          + "tokenizer file: " + value);
    }
    return switch (value) {
      case "teacher" -> new Teacher();
      case "own" -> new Own();
      default -> new File(value);
    };
  }
}
