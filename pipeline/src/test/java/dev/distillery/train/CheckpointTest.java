package dev.distillery.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.LstmArchitecture;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
  private static ComputationGraph net() {
    var shape = new DistilleryConfig.Model("lstm", 8, 8, 1, 1, 16);
    ComputationGraph g = new ComputationGraph(new LstmArchitecture().configure(shape, 20, 1, 1e-3));
    g.init();
    return g;
  }

  @Test
  void pruningKeepsTheNewestCheckpoints(@TempDir Path dir) throws Exception {
    ComputationGraph g = net();
    for (long step : new long[] {10, 20, 30, 40}) {
      new Checkpoint(1, step, step, step * 100, "sha").write(dir, g);
    }
    List<Path> deleted = Checkpoint.prune(dir, 2);
    assertEquals(List.of(dir.resolve("step-20"), dir.resolve("step-10")), deleted);
    assertEquals(List.of(dir.resolve("step-40"), dir.resolve("step-30")), Checkpoint.complete(dir));
  }

  @Test
  void damagedNewestCheckpointFallsBackToTheNewestIntactOneAndSaysSo(@TempDir Path dir) throws Exception {
    ComputationGraph g = net();
    new Checkpoint(1, 5, 5, 500, "sha").write(dir, g);
    new Checkpoint(1, 9, 9, 900, "sha").write(dir, g);
    Path zip = dir.resolve("step-9").resolve(Checkpoint.MODEL);
    try (RandomAccessFile f = new RandomAccessFile(zip.toFile(), "rw")) {
      f.setLength(Files.size(zip) / 2); // a lost write
    }
    List<String> warnings = new ArrayList<>();
    Optional<Path> latest = Checkpoint.latest(dir, warnings::add);
    assertEquals(Optional.of(dir.resolve("step-5")), latest);
    assertEquals(1, warnings.size());
    assertTrue(warnings.get(0).startsWith("checkpoint " + dir.resolve("step-9") + " is damaged (model.zip: "),
        warnings.get(0));
    assertEquals(5, Checkpoint.readState(latest.get()).step());
  }
}
