package dev.distillery.train;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.Batches;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.TokenizedExample;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.dataset.DataSet;
import scala.Tuple2;

/**
 * Trains a {@link LanguageModel} over Spark with DL4J's parameter averaging: each worker fits
 * {@code averaging-frequency} minibatches of {@code batch-per-worker} examples, then the driver
 * averages the parameters (and Adam state). Minibatches group examples of similar length (buckets
 * of 50 batches, sorted by length) so little compute goes to padding.
 */
public final class SparkTrainer {
  private static final int BUCKET_BATCHES = 50;

  /**
   * @param validationLoss mean cross-entropy per target token (nats) before training and after each epoch
   * @param steps minibatches fitted, all workers together
   * @param tokens sequence positions fitted (all positions, source included)
   */
  public record Result(
      LanguageModel model, List<Double> validationLoss, long steps, long tokens, double seconds, int workers) {
    public double tokensPerSecond() {
      return tokens / Math.max(seconds, 1e-9);
    }
  }

  private record Batch(long index, List<TokenizedExample> examples) implements java.io.Serializable {}

  private SparkTrainer() {}

  public static Result train(
      JavaSparkContext jsc, LanguageModel model, JavaRDD<TokenizedExample> examples,
      List<TokenizedExample> validation, DistilleryConfig.Train config, int partitions, Progress progress) {
    int workers = partitions > 0 ? partitions : jsc.defaultParallelism();
    JavaRDD<TokenizedExample> data = examples.repartition(workers).persist(StorageLevel.MEMORY_AND_DISK());
    int batch = config.batchPerWorker();
    List<Tuple2<Long, Long>> perPartition = data.mapPartitions((Iterator<TokenizedExample> it) -> {
      long n = 0, tokens = 0;
      while (it.hasNext()) {
        n++;
        tokens += it.next().tokens().length - 1;
      }
      return List.of(new Tuple2<>(n, tokens)).iterator();
    }).collect();
    long batchesPerEpoch = 0, mostBatches = 0;
    for (Tuple2<Long, Long> p : perPartition) {
      long n = (p._1() + batch - 1) / batch;
      batchesPerEpoch += n;
      mostBatches = Math.max(mostBatches, n);
    }
    // Batch indices interleave partitions (see bucketed), so they run up to workers * mostBatches.
    long indexBound = mostBatches * perPartition.size();
    long totalSteps = batchesPerEpoch * config.epochs();
    if (config.maxSteps() > 0) {
      totalSteps = Math.min(totalSteps, config.maxSteps());
    }
    int vocab = model.vocabSize();

    ParameterAveragingTrainingMaster master = new ParameterAveragingTrainingMaster.Builder(batch)
        .batchSizePerWorker(batch)
        .averagingFrequency(config.averagingFrequency())
        // No async prefetch: its thread swallows worker exceptions and the task then waits forever.
        .workerPrefetchNumBatches(0)
        // Direct keeps minibatches in memory; Export would write them to temp files first.
        .rddTrainingApproach(RDDTrainingApproach.Direct)
        .rngSeed(config.seed())
        .build();
    SparkComputationGraph sparkNet = new SparkComputationGraph(jsc, model.graph(), master);
    List<Double> validationLoss = new ArrayList<>();
    validationLoss.add(validate(model, validation));
    progress.line("train workers %d, %d examples, %d minibatches/epoch of %d, %d epochs, validation loss %.4f",
        workers, perPartition.stream().mapToLong(Tuple2::_1).sum(), batchesPerEpoch, batch,
        config.epochs(), validationLoss.get(0));

    long step = 0, tokens = 0;
    long chunk = (long) config.progressEvery() * workers;
    double start = progress.elapsedSeconds();
    LanguageModel current = model;
    outer:
    for (int epoch = 1; epoch <= config.epochs(); epoch++) {
      long seed = config.seed() * 31 + epoch;
      int numPartitions = data.getNumPartitions();
      JavaRDD<Batch> batches = data.mapPartitionsWithIndex(
          (Integer part, Iterator<TokenizedExample> it) -> bucketed(it, batch, seed + part, part, numPartitions), true)
          .persist(StorageLevel.MEMORY_AND_DISK());
      jsc.setJobDescription("Train epoch " + epoch + ": parameter averaging over " + workers + " workers");
      for (long lo = 0; lo < indexBound; lo += chunk) {
        long from = lo;
        long to = Math.min(indexBound, lo + chunk);
        if (config.maxSteps() > 0) {
          to = Math.min(to, from + (config.maxSteps() - step));
        }
        long hi = to;
        JavaRDD<Batch> selected = batches.filter(b -> b.index() >= from && b.index() < hi);
        long[] stats = selected
            .map(b -> new long[] {
              1,
              b.examples().stream().mapToLong(e -> e.tokens().length - 1).sum(),
              b.examples().size(),
              b.examples().stream().mapToLong(TokenizedExample::targetTokens).sum()})
            .fold(new long[4], (x, y) -> new long[] {x[0] + y[0], x[1] + y[1], x[2] + y[2], x[3] + y[3]});
        if (stats[0] == 0) {
          continue;
        }
        sparkNet.fit(selected.map(b -> Batches.nextTokenDataSet(b.examples(), vocab)));
        step += stats[0];
        tokens += stats[1];
        // DL4J's score is the loss summed over a sequence's target tokens, averaged over sequences.
        double loss = sparkNet.getScore() * stats[2] / stats[3];
        if (!Double.isFinite(loss)) {
          throw new IllegalStateException(String.format(
              "Cannot train: loss is not finite at epoch %d step %d (minibatches %d..%d): %s",
              epoch, step, from, hi - 1, loss));
        }
        progress.step(epoch, config.epochs(), step, totalSteps, loss, tokens);
        if (config.maxSteps() > 0 && step >= config.maxSteps()) {
          batches.unpersist();
          current = new LanguageModel(sparkNet.getNetwork(), model.shape(), model.tokenizer());
          validationLoss.add(validate(current, validation));
          progress.line("train stopped at train.max-steps %d, validation loss %.4f", config.maxSteps(),
              validationLoss.get(validationLoss.size() - 1));
          break outer;
        }
      }
      batches.unpersist();
      current = new LanguageModel(sparkNet.getNetwork(), model.shape(), model.tokenizer());
      validationLoss.add(validate(current, validation));
      progress.line("train epoch %d/%d done: validation loss %.4f (perplexity %.2f)", epoch, config.epochs(),
          validationLoss.get(validationLoss.size() - 1), Math.exp(validationLoss.get(validationLoss.size() - 1)));
    }
    data.unpersist();
    double seconds = progress.elapsedSeconds() - start;
    return new Result(current, validationLoss, step, tokens, seconds, workers);
  }

  private static double validate(LanguageModel model, List<TokenizedExample> validation) {
    return validation.isEmpty() ? Double.NaN : model.targetCrossEntropy(validation, 64)[0];
  }

  /**
   * Shuffles a partition, cuts it into buckets of {@value #BUCKET_BATCHES} minibatches sorted by
   * length, and numbers the minibatches so that index {@code i * partitions + part} interleaves the
   * partitions (each index range then draws from every worker's data).
   */
  private static Iterator<Batch> bucketed(
      Iterator<TokenizedExample> it, int batch, long seed, int part, int partitions) {
    List<TokenizedExample> all = new ArrayList<>();
    it.forEachRemaining(all::add);
    Random random = new Random(seed);
    Collections.shuffle(all, random);
    List<List<TokenizedExample>> out = new ArrayList<>();
    int bucket = batch * BUCKET_BATCHES;
    for (int b = 0; b < all.size(); b += bucket) {
      List<TokenizedExample> slice = new ArrayList<>(all.subList(b, Math.min(all.size(), b + bucket)));
      slice.sort(Comparator.comparingInt(e -> e.tokens().length));
      for (int i = 0; i < slice.size(); i += batch) {
        out.add(new ArrayList<>(slice.subList(i, Math.min(slice.size(), i + batch))));
      }
    }
    Collections.shuffle(out, random);
    List<Batch> numbered = new ArrayList<>(out.size());
    for (int i = 0; i < out.size(); i++) {
      numbered.add(new Batch((long) i * partitions + part, out.get(i)));
    }
    return numbered.iterator();
  }
}
