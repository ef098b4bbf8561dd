package dev.distillery.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.Objective;
import dev.distillery.distill.DistillBatches;
import dev.distillery.distill.LossPlan;
import dev.distillery.loss.BucketLoss;
import dev.distillery.loss.CompactLabels;
import dev.distillery.loss.DistillExample;
import dev.distillery.loss.Divergence;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.OutputHead;
import dev.distillery.model.TokenizedExample;
import dev.distillery.tokenizer.BpeTokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Distillery's DL4J student against the same student in PyTorch on the same CPU: the LSTM of
 * {@code distill.student} (embedding, hidden, layers, vocabulary), the same minibatches (bundled
 * sample pairs, length-sorted, padded to the longest), Adam with the same learning rate, and the
 * same token-level KD loss {@code (1−λ)·CE + λ·KL(P‖Q)} on k+1 buckets from the same top-k targets.
 * One thread each. The targets are drawn once here (the gold token plus k−1 random ids per position,
 * random log-probabilities and tail mass) and written to a file the PyTorch script reads, so both
 * sides train on identical numbers; throughput does not depend on what the teacher said.
 */
public final class StudentVsPyTorch {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    int steps = args.length > 0 ? Integer.parseInt(args[0]) : 30;
    int k = 8;
    double kdWeight = 0.5;
    DistilleryConfig config = ConfigLoader.load(Optional.empty(), List.of("distill.loss=kl"));
    DistilleryConfig.Model shape = config.distill().student();
    int batch = config.train().batchPerWorker();

    List<String[]> pairs = Samples.pairs(Path.of("data/sample/es-en.train.jsonl"), 6000);
    BpeTokenizer tok = Samples.tokenizer(pairs, config.tokenizer());
    Random random = new Random(5);
    List<DistillExample> examples = new ArrayList<>();
    for (TokenizedExample e : Samples.tokenized(pairs.subList(0, Math.min(pairs.size(), batch * 40)), tok,
        shape.maxTokens())) {
      examples.add(new DistillExample(e.id(), e.tokens(), e.targetStart(), Objective.Role.TOKEN,
          randomTargets(e.tokens(), e.targetStart(), k, tok.vocabSize(), random), true));
    }
    examples.sort(Comparator.comparingInt(e -> e.tokens().length));
    List<List<DistillExample>> batches = new ArrayList<>();
    for (int i = 0; i + batch <= examples.size(); i += batch) {
      batches.add(examples.subList(i, i + batch));
    }
    java.util.Collections.shuffle(batches, new Random(3));

    Table table = new Table("Student training, DL4J vs PyTorch: " + shape.architecture() + " " + shape.embedding()
        + "/" + shape.hidden() + "x" + shape.layers() + ", vocabulary " + tok.vocabSize() + ", batch " + batch
        + ", token-level KD on top-" + k + " + tail",
        "implementation", "steps", "tokens", "seconds", "tokens/s", "ms/step", "peak RSS MiB", "final loss");

    // DL4J: label building timed apart from the fit, to see what is ours.
    LossPlan plan = new LossPlan(new dev.distillery.config.Objective.TokenKd(kdWeight));
    LanguageModel student = LanguageModel.create(shape, tok, 1, config.train().learningRate(),
        OutputHead.logits(new BucketLoss(Divergence.KL, 1.0, 0.5)));
    student.graph().fit(DistillBatches.dataSet(batches.get(0), plan, k, 0)); // warm-up: native code, workspaces
    long tokens = 0;
    double buildSeconds = 0;
    double fitSeconds = 0;
    double loss = Double.NaN;
    for (int s = 0; s < steps; s++) {
      List<DistillExample> b = batches.get(s % batches.size());
      long t0 = System.nanoTime();
      DataSet ds = DistillBatches.dataSet(b, plan, k, 0);
      long t1 = System.nanoTime();
      student.graph().fit(ds);
      long t2 = System.nanoTime();
      buildSeconds += (t1 - t0) / 1e9;
      fitSeconds += (t2 - t1) / 1e9;
      tokens += b.stream().mapToLong(e -> e.tokens().length - 1).sum();
      // DL4J's score: loss summed over a sequence's target positions, averaged over sequences.
      loss = student.graph().score() * b.size() / b.stream().mapToLong(DistillExample::targetTokens).sum();
    }
    double seconds = buildSeconds + fitSeconds;
    long javaRss = peakRssMiB();
    table.row("Distillery (DL4J " + org.nd4j.linalg.factory.Nd4j.getBackend().getClass().getSimpleName() + ")",
        steps, tokens, seconds, tokens / seconds, 1000 * seconds / steps, javaRss, loss);
    table.row("  of which building compact labels", steps, tokens, buildSeconds, tokens / buildSeconds,
        1000 * buildSeconds / steps, "", "");

    // PyTorch: the same batches and targets, through the script beside this harness.
    Path exchange = Files.createTempFile("distillery-kd-batches", ".json");
    try {
      Map<String, Object> spec = new LinkedHashMap<>();
      spec.put("vocab", tok.vocabSize());
      spec.put("embedding", shape.embedding());
      spec.put("hidden", shape.hidden());
      spec.put("layers", shape.layers());
      spec.put("learningRate", config.train().learningRate());
      spec.put("k", k);
      spec.put("kdWeight", kdWeight);
      spec.put("steps", steps);
      List<Object> out = new ArrayList<>();
      for (List<DistillExample> b : batches) {
        List<Object> rows = new ArrayList<>();
        for (DistillExample e : b) {
          rows.add(Map.of("tokens", e.tokens(), "targetStart", e.targetStart(), "labels", e.labels()));
        }
        out.add(rows);
      }
      spec.put("batches", out);
      JSON.writeValue(exchange.toFile(), spec);
      JsonNode torch = runPyTorch(exchange);
      double ts = torch.get("seconds").asDouble();
      long tt = torch.get("tokens").asLong();
      table.row("PyTorch " + torch.get("torch").asText() + " (CPU, 1 thread)", torch.get("steps").asInt(), tt, ts,
          tt / ts, 1000 * ts / steps, torch.get("peakRssMiB").asLong(), torch.get("finalLoss").asDouble());
      double tb = torch.get("buildSeconds").asDouble();
      table.row("  PyTorch tensor building (Python, untimed above)", steps, tt, tb, tt / tb, 1000 * tb / steps, "", "");
      table.note(String.format(java.util.Locale.ROOT,
          "ratio Distillery / PyTorch tokens/s: %.2f (goal: at least 1.0)", (tokens / seconds) / (tt / ts)));
      table.note("parameters: DL4J " + student.graph().numParams() + ", PyTorch " + torch.get("parameters").asLong()
          + " (PyTorch's LSTM has two bias vectors per gate; DL4J one)");
    } finally {
      Files.deleteIfExists(exchange);
    }
    table.note("tokens = sequence positions fitted (source and target); the loss covers target positions only");
    table.note("both run one warm-up step first; peak RSS is each whole process (VmHWM): the JVM's includes "
        + "Spark and DL4J classes and the heap of this harness");
    table.note("final loss: the last step's loss per target token, (1-lambda)*CE + lambda*KL, lambda = " + kdWeight
        + "; both start from their own random initialization");
    table.note("OMP_NUM_THREADS=" + System.getenv("OMP_NUM_THREADS") + "; PyTorch: torch.set_num_threads(1)");
    table.note("PyTorch is Debian's python3-torch build (the only one installable here); PyPI wheels, built with "
        + "other CPU kernels, may be faster. DL4J clips gradients element-wise (as distill does); PyTorch does not");
    table.publish("student-vs-pytorch", "bin/bench student-vs-pytorch " + steps);
  }

  /**
   * Compact labels for the target positions of one sequence: the gold token among k ids, random
   * log-probabilities, the rest of the mass in the tail bucket.
   */
  static float[] randomTargets(int[] tokens, int targetStart, int k, int vocab, Random random) {
    int width = CompactLabels.width(k);
    int positions = tokens.length - targetStart;
    float[] labels = new float[positions * width];
    for (int p = 0; p < positions; p++) {
      int base = p * width;
      int gold = tokens[targetStart + p];
      labels[base + CompactLabels.GOLD] = gold;
      java.util.Set<Integer> ids = new java.util.LinkedHashSet<>();
      ids.add(gold);
      while (ids.size() < k) {
        ids.add(random.nextInt(vocab));
      }
      double[] w = new double[k + 1];
      double sum = 0;
      for (int j = 0; j <= k; j++) {
        w[j] = Math.exp(2 * random.nextGaussian());
        sum += w[j];
      }
      int j = 0;
      for (int id : ids) {
        labels[base + CompactLabels.IDS + j] = id;
        labels[base + CompactLabels.IDS + k + j] = (float) Math.log(w[j] / sum);
        j++;
      }
      labels[base + CompactLabels.TAIL] = (float) (w[k] / sum);
    }
    return labels;
  }

  private static JsonNode runPyTorch(Path exchange) throws IOException, InterruptedException {
    Path script = Path.of("bench/pytorch/student_kd.py");
    Process p = new ProcessBuilder("/usr/bin/python3", script.toString(), exchange.toString())
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException("Cannot run the PyTorch side: " + script + " exited " + p.exitValue() + ": " + out);
    }
    String[] lines = out.strip().split("\n");
    return JSON.readTree(lines[lines.length - 1]);
  }

  /** VmHWM: the process's peak resident set. */
  static long peakRssMiB() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmHWM:")) {
        return Long.parseLong(line.replaceAll("\\D+", "")) / 1024;
      }
    }
    return -1;
  }

  private StudentVsPyTorch() {}
}
