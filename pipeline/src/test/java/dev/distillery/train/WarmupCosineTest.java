package dev.distillery.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class WarmupCosineTest {
  @Test
  void risesLinearlyThenFollowsHalfACosineToTheFinalRate() {
    WarmupCosine s = new WarmupCosine(1e-3, 10, 110, 0.1, true);
    assertEquals(1e-4, s.valueAt(0, 0), 1e-15);
    assertEquals(5e-4, s.valueAt(4, 0), 1e-15);
    assertEquals(1e-3, s.valueAt(9, 0), 1e-15);
    assertEquals(1e-3, s.valueAt(10, 0), 1e-15);
    // Half-way through the decay the cosine term is 1/2: (0.1 + 0.9 * 0.5) * peak.
    assertEquals(0.55e-3, s.valueAt(60, 0), 1e-15);
    assertEquals(1e-4, s.valueAt(110, 0), 1e-15);
    assertEquals(1e-4, s.valueAt(500, 0), 1e-15);
  }

  @Test
  void constantScheduleKeepsThePeakAfterWarmup() {
    WarmupCosine s = new WarmupCosine(2e-3, 4, 100, 0.1, false);
    assertEquals(1e-3, s.valueAt(1, 0), 1e-15);
    assertEquals(2e-3, s.valueAt(4, 0), 1e-15);
    assertEquals(2e-3, s.valueAt(99, 0), 1e-15);
  }

  @Test
  void configuredMinibatchCountsBecomeUpdatesPerWorker() {
    DistilleryConfig c = ConfigLoader.load(Optional.empty(), List.of(
        "train.schedule=cosine", "train.warmup-steps=100", "train.learning-rate=0.001", "train.final-learning-rate=0"));
    // 1,000 minibatches over 4 workers: 250 updates each, 25 of them warm-up.
    WarmupCosine s = WarmupCosine.of(c.train(), 1000, 4);
    assertEquals(25, s.getWarmup());
    assertEquals(250, s.getTotal());
    assertEquals(1e-3, s.valueAt(24, 0), 1e-15);
    assertEquals(0, s.valueAt(250, 0), 1e-15);
  }

  @Test
  void unknownScheduleIsRefusedWithItsKey() {
    var e = org.junit.jupiter.api.Assertions.assertThrows(dev.distillery.config.ConfigException.class,
        () -> ConfigLoader.load(Optional.empty(), List.of("train.schedule=linear")));
    assertEquals("Cannot configure train: train.schedule must be one of constant, cosine: linear", e.getMessage());
  }

  @Test
  void survivesTheGraphJsonThatWorkersAndCheckpointsRead() {
    var shape = new DistilleryConfig.Model("transformer", 16, 16, 1, 2, 16);
    var graph = new org.deeplearning4j.nn.graph.ComputationGraph(
        new dev.distillery.model.TransformerArchitecture().configure(shape, 20, 1, 1e-3));
    graph.init();
    WarmupCosine s = new WarmupCosine(1e-3, 10, 110, 0.1, true);
    graph.setLearningRate(s);
    var rebuilt = org.deeplearning4j.nn.conf.ComputationGraphConfiguration.fromJson(graph.getConfiguration().toJson());
    for (String layer : List.of("block0", "out")) {
      var updater = ((org.deeplearning4j.nn.conf.graph.LayerVertex) rebuilt.getVertices().get(layer))
          .getLayerConf().getLayer().getUpdaterByParam("W".equals(layer) ? "W" : layer.equals("out") ? "W" : "Wqkv");
      for (int it : new int[] {0, 9, 60, 110}) {
        assertEquals(s.valueAt(it, 0), updater.getLearningRate(it, 0), 1e-15, layer + " at update " + it);
      }
    }
  }

  @Test
  void aScheduleAtAConstantRateTrainsExactlyLikeThatRate() {
    var tok = dev.distillery.testing.TinyModels.tokenizer(60);
    var shape = new DistilleryConfig.Model("transformer", 16, 16, 1, 2, 200);
    var arch = new dev.distillery.model.TransformerArchitecture();
    var plain = new org.deeplearning4j.nn.graph.ComputationGraph(arch.configure(shape, tok.vocabSize(), 1, 1e-3));
    plain.init();
    var scheduled = new org.deeplearning4j.nn.graph.ComputationGraph(arch.configure(shape, tok.vocabSize(), 1, 1e-3));
    scheduled.init();
    scheduled.setLearningRate(new WarmupCosine(1e-3, 0, 100, 1.0, false));
    var batch = dev.distillery.model.Batches.nextTokenDataSet(
        dev.distillery.testing.TinyModels.examples(tok, 4, 200));
    for (int i = 0; i < 3; i++) {
      plain.fit(batch);
      scheduled.fit(batch);
    }
    assertEquals(0, plain.params().sub(scheduled.params()).amaxNumber().doubleValue(), 1e-7);
  }

}

