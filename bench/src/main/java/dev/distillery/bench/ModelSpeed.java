package dev.distillery.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.Architecture;
import dev.distillery.model.Batches;
import dev.distillery.model.TokenizedExample;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Training speed of Distillery's models on one thread: positions per second of one training step
 * (forward, backward, Adam) for each architecture and size, beside the same model in PyTorch
 * ({@code bench/pytorch/model_speed.py}, same shapes, same minibatch) and beside the rate ND4J's
 * own single-precision GEMM reaches at the model's matrix shapes, measured in the same run.
 * Timings depend on shapes only, so weights are fresh and tokens random. Args: [steps].
 */
public final class ModelSpeed {
  static final int VOCAB = 1000;
  static final int BATCH = 32;
  static final int TIME = 80;

  /** One row: an architecture and its size. */
  record Shape(String architecture, int embedding, int hidden, int layers, int heads) {
    String label() {
      return architecture.equals("lstm") ? "LSTM " + embedding + "/" + hidden + " x" + layers
          : "transformer " + hidden + " x " + layers + " (" + heads + " heads)";
    }

    DistilleryConfig.Model model() {
      return new DistilleryConfig.Model(architecture, embedding, hidden, layers, heads, TIME + 1);
    }

    /**
     * Multiply-add FLOPs of one training step per position: 3× the forward matrix products (the
     * backward pass does two products per forward one). Attention counts the full {@code time × time}
     * scores the implementation computes.
     */
    double trainFlopsPerPosition() {
      double forward;
      if (architecture.equals("lstm")) {
        forward = 0;
        for (int l = 0; l < layers; l++) {
          int in = l == 0 ? embedding : hidden;
          forward += 2.0 * (in + hidden) * 4 * hidden;
        }
      } else {
        double h = hidden;
        forward = layers * (2 * h * 3 * h + 2 * h * h + 2 * 2 * h * 4 * h + 2 * 2 * TIME * h);
      }
      forward += 2.0 * hidden * VOCAB;
      return 3 * forward;
    }

    /** The GEMM shapes {@code [m, k] · [k, n]} that dominate one forward step. */
    List<int[]> gemms() {
      int m = BATCH * TIME;
      if (architecture.equals("lstm")) {
        // DL4J's LSTM multiplies the whole input sequence at once, then the recurrence per step.
        return List.of(new int[] {m, embedding, 4 * hidden}, new int[] {BATCH, hidden, 4 * hidden},
            new int[] {m, hidden, VOCAB});
      }
      return List.of(new int[] {m, hidden, 3 * hidden}, new int[] {m, hidden, 4 * hidden},
          new int[] {m, 4 * hidden, hidden}, new int[] {m, hidden, VOCAB});
    }
  }

  static final List<Shape> SHAPES = List.of(
      new Shape("transformer", 128, 128, 2, 4),
      new Shape("transformer", 256, 256, 4, 4),
      new Shape("lstm", 64, 128, 1, 1),
      new Shape("lstm", 128, 256, 1, 1));

  public static void main(String[] args) throws Exception {
    int steps = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
    DataSet batch = minibatch(new Random(7));
    long positions = BATCH * (long) TIME;

    Map<String, Map<String, Double>> torch = PyTorchRun.modelSpeed(SHAPES, steps, BATCH, TIME, VOCAB);

    Table table = new Table("Model training speed (one thread, batch " + BATCH + " x " + TIME + ", vocabulary "
        + VOCAB + ")", "model", "parameters", "DL4J positions/s", "PyTorch positions/s", "DL4J / PyTorch",
        "ND4J SGEMM GFLOP/s at its shapes", "positions/s at that rate", "DL4J share of it");
    for (Shape s : SHAPES) {
      ComputationGraph net = new ComputationGraph(
          Architecture.of(s.architecture()).configure(s.model(), VOCAB, 42, 1e-3));
      net.init();
      double seconds = secondsPerStep(steps, () -> net.fit(batch));
      double dl4j = positions / seconds;
      double gflops = sgemmGflops(s.gemms());
      double limit = gflops * 1e9 / s.trainFlopsPerPosition();
      Map<String, Double> t = torch.get(s.label());
      double pt = t == null ? Double.NaN : t.get("positionsPerSecond");
      table.row(s.label(), net.numParams(), dl4j, pt, fmt(dl4j / pt) + "x", gflops, limit,
          String.format(Locale.ROOT, "%.0f%%", 100 * dl4j / limit));
      System.err.printf(Locale.ROOT, "bench: %s: %.0f positions/s (PyTorch %.0f)%n", s.label(), dl4j, pt);
    }
    table.note("one step = forward, backward and Adam on one minibatch of " + BATCH + " sequences of " + TIME
        + " positions (random ids; every position carries loss); 3 warm-up steps, then the mean of " + steps);
    table.note("SGEMM rate: ND4J's `Nd4j.gemm` in float into a preallocated result, on the model's dominant matrix shapes, FLOP-weighted; "
        + "'positions/s at that rate' divides it by the step's FLOPs per position (3x the forward products)");
    table.note("PyTorch: Debian's python3-torch, torch.set_num_threads(1), the same layers (pre-LN blocks with "
        + "u*sigmoid(1.702u) GELU, nn.LSTM), Adam; see bench/pytorch/model_speed.py; its BLAS: " + systemBlas());
    table.publish("model-speed", ("bin/bench model-speed " + String.join(" ", args)).trim());
  }

  /** {@code BATCH} random sequences of {@code TIME + 1} ids; every position carries loss. */
  static DataSet minibatch(Random random) {
    List<TokenizedExample> rows = new ArrayList<>();
    for (int i = 0; i < BATCH; i++) {
      int[] t = new int[TIME + 1];
      for (int s = 0; s < t.length; s++) {
        t[s] = random.nextInt(VOCAB);
      }
      rows.add(new TokenizedExample("r" + i, t, 1));
    }
    return Batches.nextTokenDataSet(rows);
  }

  static double secondsPerStep(int steps, Runnable step) {
    for (int i = 0; i < 3; i++) {
      step.run();
    }
    long start = System.nanoTime();
    for (int i = 0; i < steps; i++) {
      step.run();
    }
    return (System.nanoTime() - start) / 1e9 / steps;
  }

  /** ND4J's float GEMM rate over the given shapes, weighted by their FLOPs. */
  static double sgemmGflops(List<int[]> shapes) {
    double flops = 0;
    double seconds = 0;
    for (int[] s : shapes) {
      INDArray a = Nd4j.rand(DataType.FLOAT, s[0], s[1]);
      INDArray b = Nd4j.rand(DataType.FLOAT, s[1], s[2]);
      INDArray c = Nd4j.create(DataType.FLOAT, new long[] {s[0], s[2]}, 'c');
      int reps = (int) Math.max(3, 2e9 / (2.0 * s[0] * s[1] * s[2]));
      // GEMM into a preallocated row-major result: ND4J's fastest path (mmul, which allocates an
      // 'f' result and converts it, ran at about a third of this rate here).
      for (int i = 0; i < 3; i++) {
        Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
      }
      long start = System.nanoTime();
      for (int i = 0; i < reps; i++) {
        Nd4j.gemm(a, b, c, false, false, 1.0, 0.0);
      }
      seconds += (System.nanoTime() - start) / 1e9;
      flops += 2.0 * s[0] * s[1] * s[2] * reps;
    }
    return flops / seconds / 1e9;
  }

  /** Where Debian's libblas.so.3 (which its torch calls) points. */
  static String systemBlas() {
    try {
      return Path.of("/usr/lib/x86_64-linux-gnu/libblas.so.3").toRealPath().toString();
    } catch (IOException e) {
      return "unknown";
    }
  }

  static String fmt(double v) {
    return String.format(Locale.ROOT, "%.2f", v);
  }

  /** Runs the PyTorch side and reads its one JSON line per model. */
  static final class PyTorchRun {
    static Map<String, Map<String, Double>> modelSpeed(List<Shape> shapes, int steps, int batch, int time, int vocab)
        throws IOException, InterruptedException {
      Map<String, Map<String, Double>> out = new java.util.LinkedHashMap<>();
      ObjectMapper json = new ObjectMapper();
      for (Shape s : shapes) {
        Process p = new ProcessBuilder("/usr/bin/python3", Path.of("bench/pytorch/model_speed.py").toString(),
            s.architecture(), String.valueOf(s.embedding()), String.valueOf(s.hidden()), String.valueOf(s.layers()),
            String.valueOf(s.heads()), String.valueOf(batch), String.valueOf(time), String.valueOf(vocab),
            String.valueOf(steps))
            .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String line = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (p.waitFor() != 0 || line.isEmpty()) {
          System.err.println("bench: the PyTorch side failed for " + s.label() + " (is python3-torch installed?)");
          continue;
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> m = json.readValue(line, Map.class);
        Map<String, Double> d = new java.util.LinkedHashMap<>();
        m.forEach((k, v) -> {
          if (v instanceof Number n) {
            d.put(k, n.doubleValue());
          }
        });
        out.put(s.label(), d);
      }
      return out;
    }
  }

  private ModelSpeed() {}
}
