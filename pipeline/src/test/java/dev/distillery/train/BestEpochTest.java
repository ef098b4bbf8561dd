package dev.distillery.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.Architecture;
import java.nio.file.Path;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

class BestEpochTest {
  private static ComputationGraph net(long seed) {
    var shape = new DistilleryConfig.Model("lstm", 8, 8, 1, 1, 16);
    ComputationGraph g = new ComputationGraph(new dev.distillery.model.LstmArchitecture().configure(shape, 20, seed, 1e-3));
    g.init();
    return g;
  }

  @Test
  void keepsTheEpochWithTheLowestValidationLossAndSurvivesAResume(@TempDir Path dir) throws Exception {
    ComputationGraph first = net(1);
    ComputationGraph second = net(2);
    ComputationGraph third = net(3);
    INDArray secondParams = second.params().dup();

    BestEpoch best = BestEpoch.in(dir.resolve("best"));
    assertTrue(best.offer(1, 3.0, first));
    assertTrue(best.offer(2, 2.5, second));
    assertFalse(best.offer(3, 2.7, third));
    assertEquals(2, best.epoch());

    ComputationGraph last = net(3);
    assertTrue(best.restoreInto(last));
    assertEquals(secondParams, last.params());
    assertFalse(best.restoreInto(last), "restoring twice changes nothing");

    // A resumed run reads the best so far from disk and still compares against it.
    BestEpoch resumed = BestEpoch.in(dir.resolve("best"));
    assertEquals(2, resumed.epoch());
    assertEquals(2.5, resumed.loss());
    assertFalse(resumed.offer(4, 2.6, third));
    ComputationGraph other = net(4);
    assertTrue(resumed.restoreInto(other));
    assertEquals(secondParams, other.params());
  }
}
