package dev.distillery.distill;

/**
 * The name {@link dev.distillery.loss.BucketLoss} had before the losses moved to their own package.
 * DL4J records a model's loss by its class name, so students and checkpoints saved before then name
 * this class; it keeps them loadable. Nothing new is built with it.
 */
@Deprecated
public final class BucketLoss extends dev.distillery.loss.BucketLoss {
  public BucketLoss() {}
}
