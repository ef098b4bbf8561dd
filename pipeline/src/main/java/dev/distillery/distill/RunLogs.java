package dev.distillery.distill;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.storage.Location;
import dev.distillery.train.Checkpoint;
import dev.distillery.util.Progress;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A distill run's JSONL logs ({@code metrics.jsonl}, {@code evaluation.jsonl}) across a resume: a run
 * killed after its last checkpoint has logged steps and epochs the resumed run will do again, so they
 * are cut back to what the newest checkpoint holds and the resumed run continues one curve.
 */
final class RunLogs {
  private static final ObjectMapper JSON = dev.distillery.util.Json.MAPPER;

  private RunLogs() {}

  /**
   * Cuts {@code metrics} and {@code evaluation} back to the newest checkpoint in {@code checkpoints}
   * (a checkpoint holds steps 1..step and the epochs before the one it was written in); a fresh run, or
   * a resume with no checkpoint, starts both logs over.
   */
  static void trimToCheckpoint(Location checkpoints, boolean resume, Location metrics, Location evaluation,
      Progress progress) throws IOException {
    Optional<Location> latest = resume ? Checkpoint.latest(checkpoints, progress::line) : Optional.empty();
    Optional<Checkpoint> resumed = Optional.empty();
    if (latest.isPresent()) {
      resumed = Optional.of(Checkpoint.readState(latest.get()));
    }
    keepLinesBelow(metrics, "step", resumed.map(c -> c.step() + 1).orElse(0L));
    keepLinesBelow(evaluation, "epoch", resumed.map(c -> (long) c.epoch()).orElse(0L));
  }

  /**
   * Keeps the lines of a JSONL log whose {@code field} is below {@code bound} and drops the rest; with
   * nothing to keep the log is deleted.
   */
  static void keepLinesBelow(Location file, String field, long bound) throws IOException {
    List<String> kept = new ArrayList<>();
    for (String line : file.readLines()) {
      if (!line.isBlank() && JSON.readTree(line).path(field).asLong(Long.MAX_VALUE) < bound) {
        kept.add(line);
      }
    }
    file.delete();
    if (!kept.isEmpty()) {
      file.writeString(String.join("\n", kept) + "\n");
    }
  }
}
