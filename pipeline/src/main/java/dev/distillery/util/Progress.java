package dev.distillery.util;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Locale;

/** Driver-side progress lines: step, loss, tokens/s and ETA. */
public final class Progress {
  private final PrintStream out;
  private final long startNanos = System.nanoTime();

  public Progress(PrintStream out) {
    this.out = out;
  }

  public void step(int epoch, int epochs, long step, long totalSteps, double loss, long tokens) {
    double seconds = (System.nanoTime() - startNanos) / 1e9;
    double tokensPerSecond = tokens / Math.max(seconds, 1e-9);
    long eta = step == 0 ? 0 : Math.round(seconds / step * (totalSteps - step));
    out.printf(Locale.ROOT, "train epoch %d/%d step %d/%d loss %.4f tokens/s %.0f elapsed %s eta %s%n",
        epoch, epochs, step, totalSteps, loss, tokensPerSecond, fmt(Math.round(seconds)), fmt(eta));
    out.flush();
  }

  public void line(String format, Object... args) {
    out.printf(Locale.ROOT, format + "%n", args);
    out.flush();
  }

  public double elapsedSeconds() {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  static String fmt(long seconds) {
    Duration d = Duration.ofSeconds(Math.max(0, seconds));
    return String.format(Locale.ROOT, "%d:%02d:%02d", d.toHours(), d.toMinutesPart(), d.toSecondsPart());
  }
}
