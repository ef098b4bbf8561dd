package dev.distillery.train;

import java.util.Arrays;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Seeds ND4J's generator before each minibatch a worker fits, from the run's seed, the round and
 * the minibatch's own token ids, so that what the minibatch draws (dropout masks) does not depend
 * on what the worker's thread drew before (threads are pooled, and DL4J persists the encoded
 * minibatches, so seeding where they are encoded would not reach the fit). Two runs, or a run
 * resumed from a checkpoint, then draw the same masks for the same minibatch at the same step, and
 * a round's workers draw different ones for their different minibatches.
 *
 * <p>The driver sets {@link #setRound} before each averaging round, as for {@link UpdateCounter};
 * Spark ships a copy to every task.
 */
final class MinibatchSeed implements TrainingHook {
  private final long seed;
  private long round;

  MinibatchSeed(long seed) {
    this.seed = seed;
  }

  /** @param round any number that differs between the run's averaging rounds (the steps before it) */
  void setRound(long round) {
    this.round = round;
  }

  @Override
  public void preUpdate(DataSet minibatch, Model model) {
    seed(minibatch.getFeatures());
  }

  @Override
  public void preUpdate(MultiDataSet minibatch, Model model) {
    seed(minibatch.getFeatures(0));
  }

  private void seed(INDArray features) {
    long s = seed * 0x9E3779B97F4A7C15L + round;
    s = s * 0x9E3779B97F4A7C15L + Arrays.hashCode(features.data().asFloat());
    Nd4j.getRandom().setSeed(s ^ (s >>> 29));
  }

  @Override
  public void postUpdate(DataSet minibatch, Model model) {}

  @Override
  public void postUpdate(MultiDataSet minibatch, Model model) {}
}
