package dev.distillery.train;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.Batches;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.Sequence;
import dev.distillery.model.TokenizedExample;
import dev.distillery.storage.Location;
import dev.distillery.util.Progress;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.ObjIntConsumer;
import java.util.function.ToDoubleFunction;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.storage.StorageLevel;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.dataset.DataSet;
import scala.Tuple2;

/**
 * Trains a {@link LanguageModel} over Spark with DL4J's parameter averaging: each worker fits
 * {@code averaging-frequency} minibatches of {@code batch-per-worker} examples, then the driver
 * averages the parameters (and Adam state). Minibatches group examples of similar length (buckets
 * of 50 batches, sorted by length) so little compute goes to padding. The driver fits the data in
 * chunks of {@code progress-every} minibatches per worker, printing a progress line and, when asked,
 * writing a checkpoint after each; {@code resume} continues from the newest checkpoint.
 */
public final class SparkTrainer {
  private static final int BUCKET_BATCHES = 50;

  /** Turns a minibatch of sequences into a DL4J DataSet; {@code progress} is the fraction of training done. */
  public interface BatchEncoder<E extends Sequence> extends Serializable {
    DataSet encode(List<E> batch, double progress);
  }

  /**
   * @param checkpointDir where checkpoints go (null: none)
   * @param checkpointEvery write a checkpoint after at least this many steps since the last
   * @param keepCheckpoints how many of the newest checkpoints stay on disk
   * @param resume continue from the newest checkpoint in {@code checkpointDir} if there is one
   * @param metrics receives one map per progress line (step, epoch, loss, tokens/s, progress)
   * @param afterRound runs on the driver after each averaging round with the averaged network, before
   *     the metrics of that round (for state that training updates between rounds, such as a learned gate)
   * @param afterEpoch runs on the driver after each epoch's validation with the model and the epoch number
   * @param heldOut the held-out loss that validation reports and {@code train.keep-best} ranks epochs by; null:
   *     the model's cross-entropy on the validation references
   */
  public record Options(Location checkpointDir, int checkpointEvery, int keepCheckpoints, boolean resume,
      Consumer<Map<String, Object>> metrics, String configSha256, Consumer<ComputationGraph> afterRound,
      ObjIntConsumer<LanguageModel> afterEpoch, HeldOut heldOut) {
    public Options(Location checkpointDir, int checkpointEvery, int keepCheckpoints, boolean resume,
        Consumer<Map<String, Object>> metrics, String configSha256, Consumer<ComputationGraph> afterRound,
        ObjIntConsumer<LanguageModel> afterEpoch) {
      this(checkpointDir, checkpointEvery, keepCheckpoints, resume, metrics, configSha256, afterRound, afterEpoch,
          null);
    }

    public Options(Location checkpointDir, int checkpointEvery, int keepCheckpoints, boolean resume,
        Consumer<Map<String, Object>> metrics, String configSha256) {
      this(checkpointDir, checkpointEvery, keepCheckpoints, resume, metrics, configSha256, graph -> { },
          (model, epoch) -> { });
    }

    public Options withHeldOut(HeldOut heldOut) {
      return new Options(checkpointDir, checkpointEvery, keepCheckpoints, resume, metrics, configSha256, afterRound,
          afterEpoch, heldOut);
    }

    public static Options none() {
      return new Options(null, 0, 1, false, m -> { }, "");
    }
  }

  /**
   * A held-out loss other than the references' cross-entropy: a student trained on a divergence must be
   * ranked by it, since mode-seeking losses (rkl, js) raise the references' cross-entropy as they learn.
   *
   * @param what what the loss is, for the progress lines (e.g. "rkl on held-out targets")
   * @param loss the loss of the trained graph on the held-out data (nats per target token)
   */
  public record HeldOut(String what, ToDoubleFunction<ComputationGraph> loss) {}

  /**
   * @param validationLoss the held-out loss (nats per target token; {@link Options#heldOut()}, by default the
   *     references' cross-entropy) before training and after each epoch
   * @param steps minibatches fitted, all workers together (including those before a resume)
   * @param tokens sequence positions fitted in this run (all positions, source included)
   * @param seconds wall seconds of training, those before a resume included (like {@code steps})
   * @param secondsBefore the part of {@code seconds} spent before the resume (0 for a fresh run)
   * @param network the trained graph itself ({@code model}'s graph unless the model is a view of a larger graph)
   */
  public record Result(LanguageModel model, List<Double> validationLoss, long steps, long tokens, double seconds,
      double secondsBefore, int workers, ComputationGraph network) {
    /** This run's tokens over this run's seconds. */
    public double tokensPerSecond() {
      return tokens / Math.max(seconds - secondsBefore, 1e-9);
    }
  }

  record Batch<E>(long index, List<E> examples) implements Serializable {}

  private static long lastCollection = System.nanoTime();

  /**
   * ND4J frees an off-heap buffer only when the Java object holding it is collected, and a heap
   * with room to spare rarely runs the old-generation collections that would find them: resident
   * memory then grows with steps (measured: 1.8 to 2.4 GiB over demo.conf's 324 steps). A full
   * collection every 15 s on the driver (in local mode also the executor) keeps it flat; it costs
   * well under 1% of the time.
   */
  private static void releaseOffHeapGarbage() {
    if (System.nanoTime() - lastCollection > 15_000_000_000L) {
      System.gc();
      lastCollection = System.nanoTime();
    }
  }

  private SparkTrainer() {}

  /** Cross-entropy on references (train's loss). */
  public static Result train(
      JavaSparkContext jsc, LanguageModel model, JavaRDD<TokenizedExample> examples,
      List<TokenizedExample> validation, DistilleryConfig.Train config, int partitions, Progress progress) {
    return train(jsc, model, examples, validation, config, partitions, progress,
        (batch, done) -> Batches.nextTokenDataSet(batch), Options.none());
  }

  public static <E extends Sequence> Result train(
      JavaSparkContext jsc, LanguageModel model, JavaRDD<E> examples, List<TokenizedExample> validation,
      DistilleryConfig.Train config, int partitions, Progress progress, BatchEncoder<E> encoder, Options options) {
    return train(jsc, model.graph(), graph -> new LanguageModel(graph, model.shape(), model.tokenizer()), examples,
        validation, config, partitions, progress, encoder, options);
  }

  /**
   * Trains {@code network}, of which {@code model} gives the language model that is validated,
   * handed to {@code afterEpoch} and returned: the network itself, or a part of it (online KD trains
   * the student inside a graph that also holds the teacher).
   */
  public static <E extends Sequence> Result train(
      JavaSparkContext jsc, ComputationGraph network, java.util.function.Function<ComputationGraph, LanguageModel> model,
      JavaRDD<E> examples, List<TokenizedExample> validation, DistilleryConfig.Train config, int partitions,
      Progress progress, BatchEncoder<E> encoder, Options options) {
    int workers = partitions > 0 ? partitions : jsc.defaultParallelism();
    JavaRDD<E> data = examples.repartition(workers).persist(StorageLevel.MEMORY_AND_DISK());
    int batch = config.batchPerWorker();
    List<Tuple2<Long, Long>> perPartition = data.mapPartitions((Iterator<E> it) -> {
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

    long step = 0, tokens = 0, startIndex = 0, fitted = 0;
    double secondsBefore = 0;
    int startEpoch = 1;
    ComputationGraph net = network;
    Optional<Location> resumeFrom = Optional.empty();
    try {
      if (options.resume() && options.checkpointDir() != null) {
        resumeFrom = Checkpoint.latest(options.checkpointDir(), progress::line);
      }
      if (resumeFrom.isPresent()) {
        Checkpoint state = Checkpoint.readState(resumeFrom.get());
        net = Checkpoint.readGraph(resumeFrom.get());
        step = state.step();
        tokens = state.tokens();
        startEpoch = state.epoch();
        startIndex = state.nextIndex();
        fitted = state.examples();
        secondsBefore = state.seconds();
        progress.line("train resuming from %s: epoch %d, step %d", resumeFrom.get(), startEpoch, step);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }

    ParameterAveragingTrainingMaster master = new ParameterAveragingTrainingMaster.Builder(batch)
        .batchSizePerWorker(batch)
        .averagingFrequency(config.averagingFrequency())
        // No async prefetch: its thread swallows worker exceptions and the task then waits forever.
        .workerPrefetchNumBatches(0)
        // Direct keeps minibatches in memory; Export would write them to temp files first.
        .rddTrainingApproach(RDDTrainingApproach.Direct)
        // Our partitions already hold each worker's minibatches in order (see bucketed); DL4J's
        // default reshuffles them at every fit, which made runs depend on its random split.
        .repartionData(org.deeplearning4j.spark.api.Repartition.Never)
        .rngSeed(config.seed())
        // Adam's moments must travel with the parameters: without this DL4J's workers return no
        // updater state, the driver's stays at its initial zeros, and every round starts Adam afresh
        // (its first steps about 3x the rate, sign-like, once UpdateCounter disables the bias
        // correction that a fresh state needs). Its Javadoc says "enabled by default"; the builder's
        // field is false.
        .saveUpdater(true)
        .build();
    WarmupCosine schedule = WarmupCosine.of(config, totalSteps, workers);
    if (config.schedule() != DistilleryConfig.Schedule.CONSTANT || config.warmupSteps() > 0) {
      // Replaces every layer's Adam rate with the schedule, keeping Adam's state.
      net.setLearningRate(schedule);
    }
    MinibatchSeed seeds = new MinibatchSeed(config.seed());
    master.addHook(seeds);
    SparkComputationGraph sparkNet = new SparkComputationGraph(jsc, net, master);
    UpdateCounter counter = new UpdateCounter();
    List<org.deeplearning4j.optimize.api.TrainingListener> listeners = new ArrayList<>(List.of(counter));
    if (config.clipNorm() > 0) {
      listeners.add(new GlobalNormClipping(config.clipNorm()));
    }
    sparkNet.setListeners(listeners);
    LanguageModel current = model.apply(net);
    List<Double> validationLoss = new ArrayList<>();
    validationLoss.add(validate(current, sparkNet.getNetwork(), validation, options));
    BestEpoch best = config.keepBest()
        ? BestEpoch.in(options.checkpointDir() == null ? null : options.checkpointDir().resolve(BestEpoch.DIR))
        : null;
    progress.line("train workers %d, %d examples, %d minibatches/epoch of %d, %d epochs, validation loss %.4f",
        workers, perPartition.stream().mapToLong(Tuple2::_1).sum(), batchesPerEpoch, batch,
        config.epochs(), validationLoss.get(0));

    long chunk = (long) config.progressEvery() * workers;
    long lastCheckpoint = step;
    double start = progress.elapsedSeconds();
    long tokensAtStart = tokens;
    long stepAtStart = step;
    outer:
    for (int epoch = startEpoch; epoch <= config.epochs(); epoch++) {
      long seed = config.seed() * 31 + epoch;
      int numPartitions = data.getNumPartitions();
      JavaRDD<Batch<E>> batches = data.mapPartitionsWithIndex(
          (Integer part, Iterator<E> it) -> bucketed(it, batch, seed + part, part, numPartitions), true)
          .persist(StorageLevel.MEMORY_AND_DISK());
      jsc.setJobDescription("Train epoch " + epoch + ": parameter averaging over " + workers + " workers");
      long first = epoch == startEpoch ? startIndex : 0;
      for (long lo = first; lo < indexBound; lo += chunk) {
        long from = lo;
        long to = Math.min(indexBound, lo + chunk);
        if (config.maxSteps() > 0) {
          to = Math.min(to, from + (config.maxSteps() - step));
        }
        long hi = to;
        JavaRDD<Batch<E>> selected = batches.filter(b -> b.index() >= from && b.index() < hi);
        long[] stats = selected
            .map(b -> new long[] {
              1,
              b.examples().stream().mapToLong(e -> e.tokens().length - 1).sum(),
              b.examples().size(),
              b.examples().stream().mapToLong(Sequence::targetTokens).sum()})
            .fold(new long[4], (x, y) -> new long[] {x[0] + y[0], x[1] + y[1], x[2] + y[2], x[3] + y[3]});
        if (stats[0] == 0) {
          continue;
        }
        double done = totalSteps == 0 ? 0 : Math.min(1.0, (double) step / totalSteps);
        // One fit per averaging round, so that each round's workers count their updates from the
        // updates made before it (UpdateCounter): the schedule and Adam's bias correction need it.
        long round = (long) config.averagingFrequency() * workers;
        double scoreSum = 0;
        long scoredRounds = 0;
        for (long r = from; r < hi; r += round) {
          long rFrom = r;
          long rTo = Math.min(hi, r + round);
          long before = step + (r - from) * stats[0] / Math.max(1, hi - from);
          counter.setBase((int) (before / workers));
          JavaRDD<Batch<E>> part = selected.filter(b -> b.index() >= rFrom && b.index() < rTo);
          seeds.setRound(before);
          sparkNet.fit(part.map(b -> encoder.encode(b.examples(), done)));
          scoreSum += sparkNet.getScore();
          scoredRounds++;
        }
        step += stats[0];
        tokens += stats[1];
        fitted += stats[2];
        // DL4J's score is the loss summed over a sequence's target tokens, averaged over sequences,
        // plus the weight-decay term, which is not a loss on the data (0.43 nats per token on
        // tiny.conf's transformer at decay 0.01): take it out.
        double regularization = sparkNet.getNetwork().calcRegularizationScore(true);
        double loss = (scoreSum / Math.max(1, scoredRounds) - regularization) * stats[2] / stats[3];
        if (!Double.isFinite(loss)) {
          throw new IllegalStateException(String.format(
              "Cannot train: loss is not finite at epoch %d step %d (minibatches %d..%d): %s",
              epoch, step, from, hi - 1, loss));
        }
        options.afterRound().accept(sparkNet.getNetwork());
        releaseOffHeapGarbage();
        progress.step(epoch, config.epochs(), step, totalSteps, loss, tokens - tokensAtStart, start, stepAtStart);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step);
        m.put("epoch", epoch);
        m.put("loss", loss);
        m.put("progress", done);
        // The rate of the last update of this round.
        m.put("learningRate", schedule.valueAt((int) (step / workers) - 1, epoch));
        double trainingSeconds = progress.elapsedSeconds() - start;
        m.put("tokensPerSecond", (tokens - tokensAtStart) / Math.max(1e-9, trainingSeconds));
        // Over every run this one resumes: training time excludes JVM start, validation and evaluation.
        m.put("examples", fitted);
        m.put("seconds", secondsBefore + trainingSeconds);
        options.metrics().accept(m);
        boolean last = config.maxSteps() > 0 && step >= config.maxSteps();
        if (options.checkpointDir() != null && options.checkpointEvery() > 0
            && (step - lastCheckpoint >= options.checkpointEvery() || last)) {
          checkpoint(options, sparkNet, new Checkpoint(epoch, hi, step, tokens, options.configSha256(),
              fitted, secondsBefore + trainingSeconds));
          lastCheckpoint = step;
        }
        if (last) {
          batches.unpersist();
          current = model.apply(sparkNet.getNetwork());
          validationLoss.add(validate(current, sparkNet.getNetwork(), validation, options));
          progress.line("train stopped at train.max-steps %d, validation loss %.4f", config.maxSteps(),
              validationLoss.get(validationLoss.size() - 1));
          // In memory only: a resumed run continues this epoch and offers it whole.
          offer(best, epoch, validationLoss.get(validationLoss.size() - 1), sparkNet.getNetwork(), false);
          break outer;
        }
      }
      batches.unpersist();
      current = model.apply(sparkNet.getNetwork());
      validationLoss.add(validate(current, sparkNet.getNetwork(), validation, options));
      double loss = validationLoss.get(validationLoss.size() - 1);
      progress.line("train epoch %d/%d done: validation loss %.4f (%s)", epoch, config.epochs(), loss,
          options.heldOut() == null ? String.format(java.util.Locale.ROOT, "perplexity %.2f", Math.exp(loss))
              : options.heldOut().what());
      offer(best, epoch, validationLoss.get(validationLoss.size() - 1), sparkNet.getNetwork());
      options.afterEpoch().accept(current, epoch);
      if (options.checkpointDir() != null && options.checkpointEvery() > 0 && step > lastCheckpoint) {
        checkpoint(options, sparkNet, new Checkpoint(epoch + 1, 0, step, tokens, options.configSha256(),
            fitted, secondsBefore + progress.elapsedSeconds() - start));
        lastCheckpoint = step;
      }
    }
    data.unpersist();
    if (best != null && best.epoch() > 0 && best.restoreInto(sparkNet.getNetwork())) {
      current = model.apply(sparkNet.getNetwork());
      progress.line("train keeps epoch %d (validation loss %.4f), the lowest; the last was %.4f (train.keep-best)",
          best.epoch(), best.loss(), validationLoss.get(validationLoss.size() - 1));
    }
    // Seconds like steps: the run's whole training time, so seconds per step survives a resume.
    double seconds = secondsBefore + progress.elapsedSeconds() - start;
    return new Result(current, validationLoss, step, tokens - tokensAtStart, seconds, secondsBefore, workers,
        sparkNet.getNetwork());
  }

  private static void offer(BestEpoch best, int epoch, double loss, ComputationGraph net) {
    offer(best, epoch, loss, net, true);
  }

  private static void offer(BestEpoch best, int epoch, double loss, ComputationGraph net, boolean persist) {
    if (best == null || Double.isNaN(loss)) {
      return;
    }
    try {
      best.offer(epoch, loss, net, persist);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot keep the best epoch: " + e.getMessage(), e);
    }
  }

  private static void checkpoint(Options options, SparkComputationGraph net, Checkpoint state) {
    try {
      state.write(options.checkpointDir(), net.getNetwork());
      Checkpoint.prune(options.checkpointDir(), options.keepCheckpoints());
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write checkpoint: " + e.getMessage() + ": " + options.checkpointDir(), e);
    }
  }

  private static double validate(LanguageModel model, ComputationGraph network, List<TokenizedExample> validation,
      Options options) {
    if (options.heldOut() != null) {
      return options.heldOut().loss().applyAsDouble(network);
    }
    return validation.isEmpty() ? Double.NaN : model.targetCrossEntropy(validation, 64)[0];
  }

  /**
   * Shuffles a partition, cuts it into buckets of {@value #BUCKET_BATCHES} minibatches sorted by
   * length, and numbers the minibatches so that index {@code i * partitions + part} interleaves the
   * partitions (each index range then draws from every worker's data).
   */
  static <E extends Sequence> Iterator<Batch<E>> bucketed(
      Iterator<E> it, int batch, long seed, int part, int partitions) {
    List<E> all = new ArrayList<>();
    it.forEachRemaining(all::add);
    // Sort by id first: the shuffle then depends on the data, not on the order it arrived in.
    all.sort(Comparator.comparing(Sequence::id));
    Random random = new Random(seed);
    Collections.shuffle(all, random);
    List<List<E>> out = new ArrayList<>();
    int bucket = batch * BUCKET_BATCHES;
    for (int b = 0; b < all.size(); b += bucket) {
      List<E> slice = new ArrayList<>(all.subList(b, Math.min(all.size(), b + bucket)));
      slice.sort(Comparator.comparingInt(e -> e.tokens().length));
      for (int i = 0; i < slice.size(); i += batch) {
        out.add(new ArrayList<>(slice.subList(i, Math.min(slice.size(), i + batch))));
      }
    }
    Collections.shuffle(out, random);
    List<Batch<E>> numbered = new ArrayList<>(out.size());
    for (int i = 0; i < out.size(); i++) {
      numbered.add(new Batch<>((long) i * partitions + part, out.get(i)));
    }
    return numbered.iterator();
  }
}
