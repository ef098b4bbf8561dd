package dev.distillery.distill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.distillery.storage.Location;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunLogsTest {
  @TempDir Path dir;

  @Test
  void aResumedLogKeepsOnlyTheLinesItsCheckpointHolds() throws Exception {
    Path metrics = dir.resolve("metrics.jsonl");
    Files.write(metrics, List.of("{\"step\":50,\"loss\":3.1}", "{\"step\":100,\"loss\":2.9}", "",
        "{\"step\":150,\"loss\":2.8}", "{\"loss\":2.7}"));
    // A checkpoint at step 100 holds steps 1..100: what the killed run logged after it goes.
    RunLogs.keepLinesBelow(Location.of(metrics), "step", 101);
    assertEquals(List.of("{\"step\":50,\"loss\":3.1}", "{\"step\":100,\"loss\":2.9}"), Files.readAllLines(metrics));
  }

  @Test
  void aLogWithNothingToKeepIsDeletedAndAMissingOneStaysMissing() throws Exception {
    Path evaluation = dir.resolve("evaluation.jsonl");
    Files.write(evaluation, List.of("{\"epoch\":1,\"greedyChrf\":12.0}"));
    RunLogs.keepLinesBelow(Location.of(evaluation), "epoch", 0);
    assertFalse(Files.exists(evaluation));
    RunLogs.keepLinesBelow(Location.of(evaluation), "epoch", 3);
    assertFalse(Files.exists(evaluation));
  }
}
