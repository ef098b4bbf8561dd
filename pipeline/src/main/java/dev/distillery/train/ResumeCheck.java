package dev.distillery.train;

import dev.distillery.config.ConfigException;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.storage.Location;
import dev.distillery.util.Progress;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.stream.Collectors;

/**
 * What a resumed run may change. A fresh run records its configuration beside its checkpoints
 * ({@value #CONFIG}); {@code --resume} compares the new configuration with it and refuses keys that
 * change the model, the objective or the data (the resumed graph, its updates and its examples
 * would no longer be the ones configured), naming each with both values. Keys that only say how
 * long to train, how often to report or checkpoint, and where Spark runs may change; they are
 * logged and recorded for the next resume.
 */
public final class ResumeCheck {
  /** The configuration the checkpoints were made with, in the checkpoint directory. */
  public static final String CONFIG = "config.conf";

  /** Keys a resumed run may change. Everything else is refused. */
  static final List<String> MAY_CHANGE = List.of(
      "train.epochs", "train.max-steps", "train.progress-every", "train.checkpoint-every", "train.keep-checkpoints",
      "train.keep-best", "distill.checkpoint-every", "distill.keep-checkpoints", "distill.eval-examples",
      "distill.epoch-eval-examples", "corpus.max-reject-fraction", "spark.master", "spark.app-name");

  /** Key prefixes that only matter to evaluation and to other commands, unless the student samples its own prefixes. */
  static final List<String> OFF_POLICY_ONLY = List.of("decode.", "prepare.");

  private ResumeCheck() {}

  /**
   * Compares a resumed run's configuration with the recorded one.
   *
   * @param job {@code train} or {@code distill}, for messages
   * @param checkpoints the run's checkpoint directory
   * @throws ConfigException naming every refused key with its recorded and new value
   */
  public static void check(String job, Location checkpoints, DistilleryConfig config, Progress progress)
      throws IOException {
    Location recorded = checkpoints.resolve(CONFIG);
    if (recorded.isFile()) {
      SortedMap<String, List<String>> changed = config.changedSince(recorded.readString());
      boolean onPolicy = config.distill().onPolicy() && job.equals("distill");
      Map<String, List<String>> refused = changed.entrySet().stream()
          .filter(e -> !mayChange(e.getKey(), onPolicy))
          .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue, (a, b) -> a, java.util.TreeMap::new));
      if (!refused.isEmpty()) {
        throw new ConfigException("Cannot resume " + job + ": the checkpoints were made with other values of keys "
            + "that change the model, the objective or the data (" + describe(refused) + "; start a new output "
            + "directory, or resume with the recorded values): " + checkpoints);
      }
      if (!changed.isEmpty()) {
        progress.line("resuming with changed keys: %s", describe(changed));
      }
    } else if (!Checkpoint.complete(checkpoints).isEmpty()) {
      progress.line("resuming without a recorded configuration to compare (checkpoints before 0.1.1): %s", checkpoints);
    }
  }

  /**
   * Records the configuration beside the checkpoints, for the next resume to compare. Called just
   * before training starts, so that a run refused earlier leaves no checkpoint directory behind.
   */
  public static void record(Location checkpoints, DistilleryConfig config) throws IOException {
    checkpoints.mkdirs();
    checkpoints.resolve(CONFIG).writeString(config.toHocon());
  }

  static boolean mayChange(String key, boolean onPolicy) {
    return MAY_CHANGE.contains(key) || (!onPolicy && OFF_POLICY_ONLY.stream().anyMatch(key::startsWith));
  }

  private static String describe(Map<String, List<String>> changes) {
    return changes.entrySet().stream()
        .map(e -> e.getKey() + " " + e.getValue().get(0) + " -> " + e.getValue().get(1))
        .collect(Collectors.joining(", "));
  }
}
