package dev.distillery.model;

/**
 * A layer configuration some of whose parameters never train: their updater is {@code NoOp} and
 * the runtime layer ({@link TransformerBlockLayer}, {@link SameDiffLayers.Runtime}) keeps their
 * gradients at zero.
 */
interface Freezing {
  boolean isFrozen(String param);
}
