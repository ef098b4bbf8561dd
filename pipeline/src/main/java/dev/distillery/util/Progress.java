package dev.distillery.util;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Driver-side progress lines: step, loss, tokens/s and ETA. One instance serves a whole command (the
 * demo runs prepare, several distills and evaluations through it), so rates and ETAs are measured
 * from the start of the work they describe, not of the instance.
 */
public final class Progress {
  private final PrintStream out;
  private final LongSupplier nanos;
  private final long startNanos;

  public Progress(PrintStream out) {
    this(out, System::nanoTime);
  }

  /** @param nanos the clock (tests give their own) */
  Progress(PrintStream out, LongSupplier nanos) {
    this.out = out;
    this.nanos = nanos;
    this.startNanos = nanos.getAsLong();
  }

  /**
   * @param tokens tokens fitted since {@code since}
   * @param since {@link #elapsedSeconds()} when this run of the work began
   * @param stepsBefore steps done before that (by the run a resume continues)
   */
  public void step(int epoch, int epochs, long step, long totalSteps, double loss, long tokens, double since,
      long stepsBefore) {
    double seconds = elapsedSeconds() - since;
    double tokensPerSecond = tokens / Math.max(seconds, 1e-9);
    long done = step - stepsBefore;
    long eta = done <= 0 ? 0 : Math.round(seconds / done * (totalSteps - step));
    out.printf(Locale.ROOT, "train epoch %d/%d step %d/%d loss %.4f tokens/s %.0f elapsed %s eta %s%n",
        epoch, epochs, step, totalSteps, loss, tokensPerSecond, fmt(Math.round(seconds)), fmt(eta));
    out.flush();
  }

  public void line(String format, Object... args) {
    out.printf(Locale.ROOT, format + "%n", args);
    out.flush();
  }

  /** Seconds since this instance was made. */
  public double elapsedSeconds() {
    return (nanos.getAsLong() - startNanos) / 1e9;
  }

  static String fmt(long seconds) {
    Duration d = Duration.ofSeconds(Math.max(0, seconds));
    return String.format(Locale.ROOT, "%d:%02d:%02d", d.toHours(), d.toMinutesPart(), d.toSecondsPart());
  }
}
