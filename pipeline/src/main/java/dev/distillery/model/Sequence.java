package dev.distillery.model;

/** A training sequence: what the trainer needs to bucket and count it. */
public interface Sequence extends java.io.Serializable {
  /** Example id (stable across runs). */
  String id();

  /** Every token of the sequence, {@code <s>} first. */
  int[] tokens();

  /** Positions that carry loss. */
  int targetTokens();
}
