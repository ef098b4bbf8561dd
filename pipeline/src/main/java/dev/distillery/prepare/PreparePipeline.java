package dev.distillery.prepare;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.corpus.Corpus;
import dev.distillery.corpus.CorpusReader;
import dev.distillery.corpus.Tokenization;
import dev.distillery.model.CausalModel;
import dev.distillery.spark.Device;
import dev.distillery.spark.ExecutorMemory;
import dev.distillery.storage.Location;
import dev.distillery.storage.StagedOutput;
import dev.distillery.teacher.TeacherCache;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.tokenizer.TokenBridge;
import dev.distillery.util.Hashing;
import dev.distillery.util.Progress;
import dev.distillery.util.Provenance;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.spark.Partitioner;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.resource.ResourceProfile;
import org.apache.spark.resource.ResourceProfileBuilder;
import org.apache.spark.resource.TaskResourceRequests;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.CollectionAccumulator;
import org.apache.spark.util.LongAccumulator;
import scala.Tuple2;

/**
 * {@code prepare}: corpus → validated rows → Spark NLP normalization ({@link
 * dev.distillery.corpus.TextNormalizer}) → the teacher's tokens → deterministic
 * shards → teacher outputs and top-k distributions per example → Parquet partitioned by shard,
 * {@code _rejected/} and {@code _manifest.json} (written last: a directory without it is incomplete).
 */
public final class PreparePipeline {
  public static final String MANIFEST = "_manifest.json";
  public static final String REJECTED = "_rejected";
  public static final String TOKENIZER = "_tokenizer.json";

  private PreparePipeline() {}

  /**
   * A test seam, not configuration: the first attempt of this shard's teacher task dies halfway
   * through writing (-1 = off). Read where the task runs, so it reaches tasks in local mode only.
   */
  static volatile int failFirstAttemptOfShard = -1;

  /** The shard of an example: a stable hash of its id, the same on every run and machine. */
  public static int shardOf(String id, int shards) {
    return (int) Math.floorMod(Hashing.stableHash64(id), (long) shards);
  }

  public static Manifest run(SparkSession spark, DistilleryConfig config, String input, Path teacherDir,
      Path output, Progress progress) throws IOException {
    return run(spark, config, input, Location.of(teacherDir), Location.of(output), progress);
  }

  /**
   * @param input the corpus, any path or URI Spark reads
   * @param teacherDir the teacher's model directory on any file system; executors read it there
   * @param output the targets directory, replaced only when the run is complete
   */
  public static Manifest run(SparkSession spark, DistilleryConfig config, String input, Location teacherDir,
      Location output, Progress progress) throws IOException {
    long start = System.nanoTime();
    DistilleryConfig.Prepare prep = config.prepare();
    List<Location> inputs = List.of(teacherDir, Location.of(input));
    // Checked before any teacher work; the previous output stays whole until the new one is complete.
    try (StagedOutput staged = StagedOutput.begin("prepare", output, MANIFEST, prep.overwrite(), inputs)) {
      Manifest manifest = write(spark, config, input, teacherDir, staged.staging(), progress, start);
      staged.commit();
      progress.line("prepare done: %d examples on %d shards, %d rejected, %.1f s; targets in %s",
          manifest.rows(), manifest.shards(), manifest.rejectedRows(), manifest.wallSeconds(), output);
      return manifest;
    }
  }

  /** The whole prepare run into {@code output}, a fresh staging directory. */
  private static Manifest write(SparkSession spark, DistilleryConfig config, String input, Location teacherDir,
      Location output, Progress progress, long start) throws IOException {
    DistilleryConfig.Prepare prep = config.prepare();
    Optional<ResourceProfile> gpuProfile = teacherResources(spark, prep.device());
    // Loading on the driver checks the model directory and that tokenizer and model agree before any work.
    int maxTokensConfigured = config.model().maxTokens();
    CausalModel teacher = TeacherCache.open(teacherDir, Device.CPU, maxTokensConfigured);
    TextTokenizer tokenizer = teacher.tokenizer();
    String fingerprint = TeacherCache.fingerprint(teacherDir);
    progress.line("teacher %s: %s, vocabulary %d, fingerprint %s", teacherDir, teacher.describe(),
        teacher.vocabSize(), fingerprint.substring(0, 12));
    // Weights plus about as much again for the activations of a decoding batch (beam rows included).
    ExecutorMemory.require(spark.sparkContext(), "prepare", "the teacher (" + teacher.weightBytes()
        + " bytes of weights x 2: weights and decoding activations)", teacher.weightBytes() * 2,
        " or lower decode.batch-size");

    Corpus corpus = CorpusReader.read(spark, input, config.corpus());
    progress.line("corpus %s: %s", input, corpus.summary());

    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    var shared = jsc.broadcast(tokenizer);
    int maxTokens = teacher.maxTokens();
    int shards = prep.shards();
    spark.sparkContext().setJobDescription("Normalize text with Spark NLP");
    Dataset<Row> normalized = dev.distillery.corpus.TextNormalizer.normalize(corpus.accepted());
    long splitDocuments = 0, splitRows = 0;
    if (prep.splitSentencesOver() > 0) {
      Dataset<Row> before = normalized.persist(org.apache.spark.storage.StorageLevel.MEMORY_AND_DISK());
      long beforeRows = before.count();
      splitDocuments = before.filter(org.apache.spark.sql.functions.col("source").isNull().and(
          org.apache.spark.sql.functions.length(org.apache.spark.sql.functions.col("target")).gt(prep.splitSentencesOver())))
          .count();
      normalized = dev.distillery.corpus.TextNormalizer.splitSentences(before, prep.splitSentencesOver())
          .persist(org.apache.spark.storage.StorageLevel.MEMORY_AND_DISK());
      // Every row that was not split is still there once; the rest are the split documents' sentences.
      splitRows = normalized.count() - (beforeRows - splitDocuments);
      progress.line("split %d long plain-text documents into %d sentences", splitDocuments, splitRows);
    }
    spark.sparkContext().setJobDescription("Tokenize with the teacher's tokenizer and shard by id");
    JavaRDD<Tokenization.Result> tokenized = Tokenization.tokenize(normalized, shared, maxTokens)
        .persist(org.apache.spark.storage.StorageLevel.MEMORY_AND_DISK());
    Dataset<Row> tooLong = Tokenization.rejectedRows(spark, tokenized);

    LongAccumulator done = jsc.sc().longAccumulator("prepare examples");
    CollectionAccumulator<Manifest.Placement> placed = jsc.sc().collectionAccumulator("prepare placement");
    long toScore = tokenized.filter(t -> t.example() != null).count();
    DistilleryConfig.Decode decode = config.decode();
    JavaRDD<Row> scored = tokenized.filter(t -> t.example() != null)
        .mapToPair(t -> new Tuple2<>(shardOf(t.example().id(), shards), t))
        .partitionBy(new ShardPartitioner(shards))
        .mapPartitions((Iterator<Tuple2<Integer, Tokenization.Result>> it) -> {
          Device device = Device.forTask(prep.device(), TaskContext.get());
          List<Tokenization.Result> rows = new ArrayList<>();
          it.forEachRemaining(t -> rows.add(t._2()));
          // Sorting by id makes a shard's content and order independent of upstream partitioning;
          // then by source length, so a batch's prompts mostly share a length (fewer recurrent groups).
          rows.sort(Comparator.comparingInt((Tokenization.Result r) -> r.example().targetStart())
              .thenComparing(r -> r.example().id()));
          List<Row> scoredRows;
          try (TeacherCache.Lease lease = TeacherCache.borrow(teacherDir, device, maxTokensConfigured)) {
            scoredRows = scoreRows(rows, lease.model(), decode, prep, shards, done);
          }
          TaskContext task = TaskContext.get();
          if (task != null) {
            placed.add(Manifest.Placement.here(task.partitionId(), device));
          }
          if (task != null && task.partitionId() == failFirstAttemptOfShard && task.attemptNumber() == 0) {
            return failingHalfway(scoredRows, task.partitionId());
          }
          return scoredRows.iterator();
        }, true);
    if (gpuProfile.isPresent()) {
      scored = scored.withResources(gpuProfile.get());
    }

    ProgressListener listener = new ProgressListener(progress, done, toScore, shards);
    spark.sparkContext().addSparkListener(listener);
    try {
      spark.sparkContext().setJobDescription("Teacher: beam, " + prep.samples() + " samples and top-" + prep.topK()
          + " distributions on " + shards + " shards (" + prep.device() + ")");
      spark.createDataFrame(scored, TargetsSchema.ROW)
          // zstd: about a third smaller than Spark's default snappy on these nested numeric lists.
          .write().mode(SaveMode.Overwrite).option("compression", "zstd").partitionBy("shard")
          .parquet(output.toString());
    } finally {
      spark.sparkContext().removeSparkListener(listener);
    }
    spark.sparkContext().setJobDescription("Write rejected rows and the manifest");
    Dataset<Row> rejected = corpus.rejected().unionByName(tooLong);
    rejected.write().mode(SaveMode.Overwrite).parquet(output.resolve(REJECTED).toString());
    Map<String, Long> rejectedByReason = new TreeMap<>(corpus.rejectedByReason());
    long tooMany = tokenized.filter(t -> t.example() == null).count();
    if (tooMany > 0) {
      rejectedByReason.put(dev.distillery.corpus.RejectReason.TOO_MANY_TOKENS.code(), tooMany);
    }
    tokenized.unpersist();

    Dataset<Row> written = spark.read().parquet(output.toString());
    Row counts = written.selectExpr(
        "count(*)",
        "sum(size(reference.ids) + 1)",
        "sum(size(beam.ids) + 1)",
        "sum(aggregate(samples, 0L, (acc, s) -> acc + size(s.ids) + 1))").first();
    Map<String, Object> decoding = new LinkedHashMap<>();
    decoding.put("beamWidth", decode.beamWidth());
    decoding.put("lengthPenalty", decode.lengthPenalty());
    decoding.put("maxNewTokens", decode.maxNewTokens());
    decoding.put("samples", prep.samples());
    decoding.put("sampleTemperature", prep.sampleTemperature());
    decoding.put("sampleTopP", prep.sampleTopP());
    decoding.put("seed", prep.seed());
    decoding.put("keepSpecials", prep.keepSpecials());
    Manifest manifest = new Manifest(
        TargetsSchema.VERSION, Location.of(input).uri(), teacherDir.uri(), fingerprint, tokenizer.sha256(), teacher.vocabSize(),
        Math.min(prep.topK(), teacher.vocabSize()), decoding, shards, counts.getLong(0),
        Map.of("reference", counts.getLong(1), "beam", counts.getLong(2),
            "samples", counts.isNullAt(3) ? 0L : counts.getLong(3)),
        corpus.inputRows(), rejectedByReason, Map.of("documents", splitDocuments, "rows", splitRows),
        Manifest.Placement.lastPerShard(placed.value()), TargetsCheck.dataFiles(output),
        (System.nanoTime() - start) / 1e9, Provenance.gitCommit(),
        java.time.Instant.now().toString(), config.hash());
    // A split document is one input row and several output rows.
    if (manifest.rows() - splitRows + splitDocuments + manifest.rejectedRows() != corpus.inputRows()) {
      throw new IllegalStateException("Cannot prepare: row accounting does not add up: " + manifest.rows()
          + " written (" + splitRows + " of them sentences of " + splitDocuments + " split documents) + "
          + manifest.rejectedRows() + " rejected != " + corpus.inputRows() + " input rows");
    }
    // The tokenizer travels with the targets: distill checks and uses it without the teacher directory.
    tokenizer.save(output.resolve(TOKENIZER));
    manifest.write(output.resolve(MANIFEST));
    return manifest;
  }

  /**
   * The teacher stage's GPU need as a stage-level {@link ResourceProfile} (one GPU per task) on
   * cluster masters, so the rest of the job keeps CPU-only tasks. Empty on CPU, in local mode (Spark
   * has no stage-level scheduling there; {@link Device#forTask} then fails with advice) and where
   * the user already set {@code spark.task.resource.gpu.amount} for every task. Checked before any
   * work: a cluster whose executors have no GPUs cannot run a GPU teacher.
   */
  static Optional<ResourceProfile> teacherResources(SparkSession spark, String device) {
    var conf = spark.sparkContext().getConf();
    if (!device.equals("gpu") || spark.sparkContext().isLocal() || conf.contains("spark.task.resource.gpu.amount")) {
      return Optional.empty();
    }
    if (!conf.contains("spark.executor.resource.gpu.amount")) {
      throw new dev.distillery.config.ConfigException("Cannot run the teacher on GPU: the executors have no GPUs to schedule; set "
          + "spark.executor.resource.gpu.amount and spark.executor.resource.gpu.discoveryScript "
          + "(conf/gpu-discovery.sh), or prepare.device = cpu: spark.executor.resource.gpu.amount is unset");
    }
    return Optional.of(new ResourceProfileBuilder()
        .require(new TaskResourceRequests().resource("gpu", 1.0))
        .build());
  }

  private static List<Row> scoreRows(List<Tokenization.Result> rows, CausalModel model,
      DistilleryConfig.Decode decode, DistilleryConfig.Prepare prep, int shards, LongAccumulator done) {
    List<Row> out = new ArrayList<>(rows.size());
    int batch = decode.batchSize();
    for (int from = 0; from < rows.size(); from += batch) {
      List<Tokenization.Result> slice = rows.subList(from, Math.min(rows.size(), from + batch));
      List<String> ids = new ArrayList<>();
      List<int[]> prompts = new ArrayList<>();
      List<int[]> references = new ArrayList<>();
      for (Tokenization.Result r : slice) {
        ids.add(r.example().id());
        prompts.add(r.example().prompt());
        references.add(r.example().target());
      }
      List<TeacherScorer.Scored> scored = new TeacherScorer(model, decode, prep).score(ids, prompts, references);
      TextTokenizer tok = model.tokenizer();
      for (int i = 0; i < slice.size(); i++) {
        Row r = slice.get(i).row();
        TeacherScorer.Scored s = scored.get(i);
        out.add(RowFactory.create(
            ids.get(i), r.getAs("source"), r.getAs("target"), slice.get(i).example().source(),
            toRow(s.reference(), tok), toRow(s.beam(), tok), s.samples().stream().map(o -> toRow(o, tok)).toArray(),
            shardOf(ids.get(i), shards)));
      }
      done.add(slice.size());
    }
    return out;
  }

  /** Fault injection: yields half the rows (so the writer has started a file), then dies. */
  private static Iterator<Row> failingHalfway(List<Row> rows, int shard) {
    Iterator<Row> it = rows.iterator();
    int half = rows.size() / 2;
    return new Iterator<>() {
      int given;

      @Override
      public boolean hasNext() {
        if (given == half) {
          throw new IllegalStateException("Injected failure (PreparePipeline.failFirstAttemptOfShard): shard " + shard
              + " after " + half + " rows");
        }
        return it.hasNext();
      }

      @Override
      public Row next() {
        given++;
        return it.next();
      }
    };
  }

  /** An output struct: the teacher's distributions, and the text and spans distillation across tokenizers reads. */
  static Row toRow(TeacherOutput o, TextTokenizer tok) {
    return RowFactory.create(o.ids(), o.logprob(), o.finished(), o.topkIds(), o.topkLogprobs(), o.tailMass(),
        TokenBridge.text(tok, o.ids()), TokenBridge.ends(tok, o.ids()));
  }

  /** Partition i holds shard i. */
  static final class ShardPartitioner extends Partitioner {
    private final int shards;

    ShardPartitioner(int shards) {
      this.shards = shards;
    }

    @Override
    public int numPartitions() {
      return shards;
    }

    @Override
    public int getPartition(Object key) {
      return (Integer) key;
    }
  }

  /** A driver line per finished teacher shard: examples done, examples/s, ETA. */
  static final class ProgressListener extends SparkListener {
    private final Progress progress;
    private final LongAccumulator done;
    private final long total;
    private final int shards;
    private final long startNanos = System.nanoTime();
    private int finished;

    ProgressListener(Progress progress, LongAccumulator done, long total, int shards) {
      this.progress = progress;
      this.done = done;
      this.total = total;
      this.shards = shards;
    }

    @Override
    public synchronized void onTaskEnd(SparkListenerTaskEnd end) {
      boolean teacherTask = scala.collection.JavaConverters.seqAsJavaList(end.taskInfo().accumulables())
          .stream().anyMatch(a -> a.id() == done.id());
      if (!end.taskInfo().successful() || !teacherTask) {
        return;
      }
      long n = done.value();
      finished++;
      double seconds = (System.nanoTime() - startNanos) / 1e9;
      double rate = n / Math.max(seconds, 1e-9);
      progress.line("prepare shard task %d/%d done: %d/%d examples, %.1f examples/s, eta %.0f s",
          Math.min(finished, shards), shards, n, total, rate, (total - n) / Math.max(rate, 1e-9));
    }
  }
}
