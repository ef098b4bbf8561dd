package dev.distillery.model;

/**
 * A SameDiff layer configuration some of whose parameters never train: their updater is
 * {@code NoOp} and {@link TransformerBlock.Runtime} zeroes their gradients after backprop.
 */
interface Freezing {
  boolean isFrozen(String param);
}
