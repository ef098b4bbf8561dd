package dev.distillery.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.LstmArchitecture;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;

class UpdateCounterTest {
  private static ComputationGraph net() {
    var shape = new DistilleryConfig.Model("lstm", 8, 8, 1, 1, 16);
    ComputationGraph g = new ComputationGraph(new LstmArchitecture().configure(shape, 20, 1, 1e-3));
    g.init();
    return g;
  }

  private static UpdateCounter shipped(UpdateCounter c) throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(c);
    }
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      return (UpdateCounter) in.readObject();
    }
  }

  @Test
  void eachShippedCopyMovesItsWorkersCounterOnceByTheUpdatesBeforeTheRound() throws Exception {
    UpdateCounter driver = new UpdateCounter();
    driver.setBase(12);
    ComputationGraph worker = net(); // DL4J's worker: counter at 0 for every round
    UpdateCounter copy = shipped(driver);
    copy.onGradientCalculation(worker);
    assertEquals(12, worker.getConfiguration().getIterationCount());
    worker.getConfiguration().setIterationCount(13); // DL4J counts the update
    copy.onGradientCalculation(worker);
    assertEquals(13, worker.getConfiguration().getIterationCount(), "moved once per round, not per update");

    driver.setBase(16);
    ComputationGraph nextRound = net();
    shipped(driver).onGradientCalculation(nextRound);
    assertEquals(16, nextRound.getConfiguration().getIterationCount());
  }
}
