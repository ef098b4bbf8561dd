package dev.distillery.decode;

import dev.distillery.model.LanguageModel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Steps a recurrent graph with {@code rnnTimeStep}, carrying its state: O(length) work. Prompts of
 * different lengths are fed in groups of equal length (a padded batch would run the state through
 * padding), then the groups' states are stacked into one batch.
 */
final class RecurrentStepper implements Stepper {
  private final ComputationGraph graph;
  private final LanguageModel model;

  RecurrentStepper(LanguageModel model) {
    this.graph = model.graph();
    this.model = model;
  }

  @Override
  public float[][] start(List<int[]> prompts) {
    int n = prompts.size();
    Map<Integer, List<Integer>> byLength = new TreeMap<>();
    for (int i = 0; i < n; i++) {
      byLength.computeIfAbsent(prompts.get(i).length, k -> new ArrayList<>()).add(i);
    }
    float[][] out = new float[n][];
    Map<String, Map<String, INDArray>> stacked = null;
    for (Map.Entry<Integer, List<Integer>> group : byLength.entrySet()) {
      List<Integer> rows = group.getValue();
      int len = group.getKey();
      float[] f = new float[rows.size() * len];
      for (int r = 0; r < rows.size(); r++) {
        int[] p = prompts.get(rows.get(r));
        for (int s = 0; s < len; s++) {
          f[r * len + s] = p[s];
        }
      }
      graph.rnnClearPreviousState();
      INDArray probs = graph.rnnTimeStep(Nd4j.create(f, new long[] {rows.size(), 1, len}, 'c'))[0];
      INDArray last = probs.get(
          org.nd4j.linalg.indexing.NDArrayIndex.all(),
          org.nd4j.linalg.indexing.NDArrayIndex.all(),
          org.nd4j.linalg.indexing.NDArrayIndex.point(len - 1));
      float[][] lp = logRows(last);
      for (int r = 0; r < rows.size(); r++) {
        out[rows.get(r)] = lp[r];
      }
      Map<String, Map<String, INDArray>> states = graph.rnnGetPreviousStates();
      if (stacked == null) {
        stacked = new HashMap<>();
        for (var layer : states.entrySet()) {
          Map<String, INDArray> m = new HashMap<>();
          for (var s : layer.getValue().entrySet()) {
            m.put(s.getKey(), Nd4j.zeros(s.getValue().dataType(), n, s.getValue().size(1)));
          }
          stacked.put(layer.getKey(), m);
        }
      }
      for (var layer : states.entrySet()) {
        for (var s : layer.getValue().entrySet()) {
          INDArray target = stacked.get(layer.getKey()).get(s.getKey());
          for (int r = 0; r < rows.size(); r++) {
            target.putRow(rows.get(r), s.getValue().getRow(r));
          }
        }
      }
    }
    graph.rnnSetPreviousStates(stacked);
    return out;
  }

  @Override
  public float[][] step(int[] parents, int[] tokens) {
    Map<String, Map<String, INDArray>> states = graph.rnnGetPreviousStates();
    Map<String, Map<String, INDArray>> reordered = new HashMap<>();
    for (var layer : states.entrySet()) {
      Map<String, INDArray> m = new HashMap<>();
      for (var s : layer.getValue().entrySet()) {
        m.put(s.getKey(), Nd4j.pullRows(s.getValue(), 1, parents));
      }
      reordered.put(layer.getKey(), m);
    }
    graph.rnnSetPreviousStates(reordered);
    float[] f = new float[tokens.length];
    for (int i = 0; i < tokens.length; i++) {
      f[i] = tokens[i];
    }
    INDArray probs = graph.rnnTimeStep(Nd4j.create(f, new long[] {tokens.length, 1, 1}, 'c'))[0];
    return logRows(probs.reshape(tokens.length, probs.size(1)));
  }

  private float[][] logRows(INDArray out) {
    return model.toLogProbs(out.dup()).toFloatMatrix();
  }
}
