package dev.distillery.decode;

import dev.distillery.model.CausalModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Re-runs the whole prefix each step: exact for any causal model, O(length^2) work. */
final class RecomputeStepper implements Stepper {
  private final CausalModel model;
  private List<int[]> rows = List.of();

  RecomputeStepper(CausalModel model) {
    this.model = model;
  }

  @Override
  public float[][] start(List<int[]> prompts) {
    rows = new ArrayList<>(prompts);
    return lastPositions();
  }

  @Override
  public float[][] step(int[] parents, int[] tokens) {
    List<int[]> next = new ArrayList<>(parents.length);
    for (int i = 0; i < parents.length; i++) {
      int[] p = rows.get(parents[i]);
      int[] r = Arrays.copyOf(p, p.length + 1);
      r[p.length] = tokens[i];
      next.add(r);
    }
    rows = next;
    return lastPositions();
  }

  private float[][] lastPositions() {
    INDArray lp = model.logProbs(rows);
    float[][] out = new float[rows.size()][];
    for (int i = 0; i < out.length; i++) {
      out[i] = lp.get(
              org.nd4j.linalg.indexing.NDArrayIndex.point(i),
              org.nd4j.linalg.indexing.NDArrayIndex.all(),
              org.nd4j.linalg.indexing.NDArrayIndex.point(rows.get(i).length - 1))
          .toFloatVector();
    }
    return out;
  }
}
