package dev.distillery.bench;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.Batches;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.TokenizedExample;
import dev.distillery.spark.Sessions;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.train.SparkTrainer;
import dev.distillery.util.Progress;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Training tokens/s for one fixed model size (the default LSTM: embedding 128, hidden 256, vocabulary
 * 2,000, minibatches of 32): a plain DL4J fit loop in one thread, and the same model through Spark
 * parameter averaging with 1 and 2 workers.
 */
public final class TrainThroughput {
  public static void main(String[] args) throws Exception {
    int steps = args.length > 0 ? Integer.parseInt(args[0]) : 24;
    Path sample = Path.of("data/sample/es-en.train.jsonl");
    List<String[]> pairs = Samples.pairs(sample, 6000);
    DistilleryConfig config = ConfigLoader.load(Optional.empty(), List.of(
        "train.progress-every=4", "train.averaging-frequency=4", "train.epochs=1"));
    BpeTokenizer tok = Samples.tokenizer(pairs, config.tokenizer());
    List<TokenizedExample> examples = Samples.tokenized(pairs, tok, config.model().maxTokens());
    int batch = config.train().batchPerWorker();
    Table table = new Table("Training throughput, " + config.model().architecture() + " " + config.model().embedding()
        + "/" + config.model().hidden() + ", vocabulary " + tok.vocabSize() + ", batch " + batch,
        "setup", "minibatches", "tokens", "seconds", "tokens/s");

    // 1. Plain DL4J: one JVM thread, minibatches sorted into length buckets like the Spark trainer does.
    LanguageModel model = LanguageModel.create(config.model(), tok, 1, config.train().learningRate());
    List<TokenizedExample> sorted = new ArrayList<>(examples.subList(0, Math.min(examples.size(), batch * 50)));
    sorted.sort(java.util.Comparator.comparingInt(e -> e.tokens().length));
    List<DataSet> batches = new ArrayList<>();
    List<Long> batchTokens = new ArrayList<>();
    for (int i = 0; i + batch <= sorted.size(); i += batch) {
      List<TokenizedExample> b = sorted.subList(i, i + batch);
      batches.add(Batches.nextTokenDataSet(b));
      batchTokens.add(b.stream().mapToLong(e -> e.tokens().length - 1).sum());
    }
    java.util.Collections.shuffle(batches, new java.util.Random(3));
    java.util.Collections.shuffle(batchTokens, new java.util.Random(3));
    model.graph().fit(batches.get(0)); // warm-up: native libraries, workspaces
    long tokens = 0;
    long t0 = System.nanoTime();
    for (int s = 0; s < steps; s++) {
      model.graph().fit(batches.get(s % batches.size()));
      tokens += batchTokens.get(s % batches.size());
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    table.row("DL4J fit loop, 1 thread", steps, tokens, seconds, tokens / seconds);

    // 2. Through Spark's ParameterAveragingTrainingMaster, 1 and 2 workers in local mode.
    for (int workers : new int[] {1, 2}) {
      SparkSession spark = Sessions.get(config.spark(), Optional.of("local[" + workers + "]"));
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      DistilleryConfig c = ConfigLoader.load(Optional.empty(), List.of(
          "train.progress-every=4", "train.averaging-frequency=4", "train.epochs=1",
          "train.max-steps=" + (steps * workers)));
      LanguageModel m = LanguageModel.create(c.model(), tok, 1, c.train().learningRate());
      SparkTrainer.Result r = SparkTrainer.train(jsc, m, jsc.parallelize(examples, workers), List.of(),
          c.train(), workers, new Progress(new PrintStream(OutputStream.nullOutputStream())));
      table.row("Spark parameter averaging, local[" + workers + "], " + workers + " worker(s), averaging every 4",
          r.steps(), r.tokens(), r.seconds(), r.tokensPerSecond());
      spark.stop();
    }
    table.note("tokens = sequence positions fitted (source and target; the loss covers target positions only)");
    table.note("Spark rows include driver-side batching, broadcast and averaging every 4 minibatches per worker");
    table.note("OMP_NUM_THREADS=" + System.getenv("OMP_NUM_THREADS"));
    table.publish("train-throughput", "bin/bench train-throughput " + steps);
  }

  private TrainThroughput() {}
}
