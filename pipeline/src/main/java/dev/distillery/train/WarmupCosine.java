package dev.distillery.train;

import dev.distillery.config.DistilleryConfig;
import org.nd4j.linalg.schedule.ISchedule;

/**
 * The learning rate at each update: a linear warm-up from 0 to {@code peak} over {@code warmup}
 * updates, then constant or half a cosine down to {@code finalFraction · peak} at update
 * {@code total} (and that rate after it). DL4J evaluates it per update on each worker, with the
 * iteration counter {@link SparkTrainer} sets to the updates done so far; so warm-up and total are
 * in updates per worker ({@link #of} converts the config's minibatch counts).
 *
 * <p>A bean (no-arg constructor, getters and setters) because DL4J serializes it inside the graph
 * configuration it broadcasts to workers and writes into checkpoints.
 */
public final class WarmupCosine implements ISchedule {
  private double peak;
  private int warmup;
  private long total;
  private double finalFraction;
  private boolean cosine;

  /** For JSON deserialization only. */
  public WarmupCosine() {}

  public WarmupCosine(double peak, int warmup, long total, double finalFraction, boolean cosine) {
    this.peak = peak;
    this.warmup = warmup;
    this.total = total;
    this.finalFraction = finalFraction;
    this.cosine = cosine;
  }

  /**
   * The configured schedule for a run of {@code totalSteps} minibatches over {@code workers}
   * workers (each worker makes one update per minibatch it fits).
   */
  public static WarmupCosine of(DistilleryConfig.Train train, long totalSteps, int workers) {
    int warmupUpdates = (int) Math.ceil((double) train.warmupSteps() / workers);
    long totalUpdates = (long) Math.ceil((double) totalSteps / workers);
    return new WarmupCosine(train.learningRate(), warmupUpdates, totalUpdates, train.finalLearningRate(),
        train.schedule() == DistilleryConfig.Schedule.COSINE);
  }

  /** The rate of update number {@code iteration} (0-based). */
  @Override
  public double valueAt(int iteration, int epoch) {
    if (iteration < warmup) {
      return peak * (iteration + 1) / warmup;
    }
    if (!cosine || total <= warmup) {
      return peak;
    }
    double progress = Math.min(1.0, (double) (iteration - warmup) / (total - warmup));
    return peak * (finalFraction + (1 - finalFraction) * 0.5 * (1 + Math.cos(Math.PI * progress)));
  }

  /**
   * Value equality, which DL4J's updater needs: it lays out Adam's moments in one block per run of
   * layers whose updater configurations are equal, and a configuration cloned for a worker or read
   * back from a checkpoint holds a copy of this schedule per layer. With identity equality the driver
   * (one shared instance: one block) and a restored graph (a copy per layer: a block per layer) read
   * the same moments in different layouts, which turned a resumed run's loss NaN once the moments
   * were carried between rounds.
   */
  @Override
  public boolean equals(Object o) {
    return o instanceof WarmupCosine w && w.peak == peak && w.warmup == warmup && w.total == total
        && w.finalFraction == finalFraction && w.cosine == cosine;
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(peak, warmup, total, finalFraction, cosine);
  }

  @Override
  public ISchedule clone() {
    return new WarmupCosine(peak, warmup, total, finalFraction, cosine);
  }

  public double getPeak() {
    return peak;
  }

  public void setPeak(double peak) {
    this.peak = peak;
  }

  public int getWarmup() {
    return warmup;
  }

  public void setWarmup(int warmup) {
    this.warmup = warmup;
  }

  public long getTotal() {
    return total;
  }

  public void setTotal(long total) {
    this.total = total;
  }

  public double getFinalFraction() {
    return finalFraction;
  }

  public void setFinalFraction(double finalFraction) {
    this.finalFraction = finalFraction;
  }

  public boolean isCosine() {
    return cosine;
  }

  public void setCosine(boolean cosine) {
    this.cosine = cosine;
  }
}
