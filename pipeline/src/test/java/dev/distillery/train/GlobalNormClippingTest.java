package dev.distillery.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class GlobalNormClippingTest {
  @Test
  void scalesTheWholeGradientToTheNormOfItsMean() {
    // Summed over 2 examples: the mean gradient is (3, 4) / 1, norm 5 -> clipped to 1.
    INDArray g = Nd4j.createFromArray(6f, 8f);
    double before = new GlobalNormClipping(1.0).clip(g, 2);
    assertEquals(5.0, before, 1e-6);
    assertEquals(2.0, g.norm2Number().doubleValue(), 1e-6); // the sum's norm: 1 per example x 2
    assertEquals(0.75, g.getDouble(0) / g.getDouble(1), 1e-6); // direction kept
  }

  @Test
  void leavesSmallGradientsAlone() {
    INDArray g = Nd4j.createFromArray(0.3f, 0.4f);
    new GlobalNormClipping(1.0).clip(g, 1);
    assertEquals(Nd4j.createFromArray(0.3f, 0.4f), g);
  }
}
