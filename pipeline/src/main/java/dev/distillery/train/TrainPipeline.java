package dev.distillery.train;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.corpus.Corpus;
import dev.distillery.corpus.CorpusReader;
import dev.distillery.corpus.Tokenization;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.model.TokenizedExample;
import dev.distillery.storage.Location;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.util.Hashing;
import dev.distillery.util.Progress;
import dev.distillery.util.Provenance;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;

/**
 * {@code train}: corpus → validated rows → BPE tokenizer → sequences → a model trained with
 * cross-entropy on reference targets through Spark parameter averaging → a model directory. This
 * is how Distillery makes teachers and the reference-only baseline.
 */
public final class TrainPipeline {
  /** Rows used for tokenizer training at most; enough for a stable subword vocabulary. */
  private static final int TOKENIZER_ROWS = 200_000;

  private TrainPipeline() {}

  /** What a train run did, also written into {@code model.json}'s provenance. */
  public record Summary(
      Map<String, Object> corpus, SparkTrainer.Result training, Location modelDir) {}

  /** Where {@code train} keeps its checkpoints (and the tokenizer they go with), inside the model directory. */
  public static final String CHECKPOINTS = "checkpoints";

  public static Summary run(SparkSession spark, DistilleryConfig config, String input, Path output, Progress progress)
      throws IOException {
    return run(spark, config, input, output, false, progress);
  }

  /**
   * @param resume continue from the newest checkpoint in {@code output/checkpoints} (with the
   *     tokenizer saved there), instead of refusing an output that has checkpoints
   */
  public static Summary run(SparkSession spark, DistilleryConfig config, String input, Path output, boolean resume,
      Progress progress) throws IOException {
    return run(spark, config, input, Location.of(output), resume, progress);
  }

  /** @param output the model directory on any file system ({@link Location}) */
  public static Summary run(SparkSession spark, DistilleryConfig config, String input, Location output,
      boolean resume, Progress progress) throws IOException {
    Location checkpoints = output.resolve(CHECKPOINTS);
    Location savedTokenizer = checkpoints.resolve(dev.distillery.model.ModelBundle.TOKENIZER_FILE);
    // Complete checkpoints only: a run that failed before its first one left nothing to continue.
    if (!resume && !Checkpoint.complete(checkpoints).isEmpty()) {
      throw new dev.distillery.config.ConfigException("Cannot train: output already holds checkpoints "
          + "(pass --resume to continue them, or choose another directory): " + output);
    }
    // A finished model is never replaced in place: a failed run would leave it mixed with the new one's files.
    if (!resume && output.resolve(ModelBundle.META_FILE).exists()) {
      throw new dev.distillery.config.ConfigException("Cannot train: output already holds a model "
          + "(choose another directory, or delete it first): " + output);
    }
    dev.distillery.storage.StagedOutput.requireWritable("train", output);
    if (resume) {
      ResumeCheck.check("train", checkpoints, config, progress);
    }
    Corpus read = CorpusReader.read(spark, input, config.corpus());
    progress.line("corpus %s: %s", input, read.summary());
    // The same Spark NLP normalization as prepare, so the teacher is trained on the text it will score.
    Corpus corpus = new Corpus(read.path(), dev.distillery.corpus.TextNormalizer.normalize(read.accepted()),
        read.rejected(), read.inputRows(), read.acceptedRows(), read.rejectedByReason());

    String init = config.train().init();
    LanguageModel start = init.isEmpty() ? null : ModelBundle.load(Location.of(init));
    BpeTokenizer tokenizer;
    if (resume && savedTokenizer.isFile()) {
      if (!(TextTokenizer.load(savedTokenizer) instanceof BpeTokenizer saved)) {
        throw new dev.distillery.errors.DataException("Cannot resume train: the checkpoints' tokenizer is not a "
            + "Distillery BPE: " + savedTokenizer);
      }
      tokenizer = saved;
      progress.line("tokenizer: %d tokens (sha256 %s), the checkpoints' own", tokenizer.vocabSize(),
          tokenizer.sha256().substring(0, 12));
    } else if (start != null) {
      if (!(start.tokenizer() instanceof BpeTokenizer bpe)) {
        throw new dev.distillery.config.ConfigException(
            "Cannot train: train.init must be a Distillery model directory with a BPE tokenizer: " + init);
      }
      tokenizer = bpe;
      progress.line("tokenizer: %d tokens (sha256 %s), train.init's own", tokenizer.vocabSize(),
          tokenizer.sha256().substring(0, 12));
    } else {
      tokenizer = Tokenization.trainTokenizer(
          corpus.accepted(), config.tokenizer().vocabSize(), config.tokenizer().minPairCount(), TOKENIZER_ROWS);
      progress.line("tokenizer: %d tokens (sha256 %s)", tokenizer.vocabSize(), tokenizer.sha256().substring(0, 12));
    }
    if (config.train().checkpointEvery() > 0) {
      checkpoints.mkdirs();
      tokenizer.save(savedTokenizer);
    }

    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    Broadcast<BpeTokenizer> shared = jsc.broadcast(tokenizer);
    spark.sparkContext().setJobDescription("Tokenize corpus");
    JavaRDD<Tokenization.Result> tokenized = Tokenization.tokenize(corpus.accepted(), shared, config.model().maxTokens())
        .persist(StorageLevel.MEMORY_AND_DISK());
    Dataset<Row> rejected = corpus.rejected().unionByName(Tokenization.rejectedRows(spark, tokenized));
    rejected.write().mode(SaveMode.Overwrite).parquet(output.resolve("_rejected").toString());
    Map<String, Long> rejectedByReason = new TreeMap<>(corpus.rejectedByReason());
    long tooManyTokens = tokenized.filter(r -> r.example() == null).count();
    if (tooManyTokens > 0) {
      rejectedByReason.put(dev.distillery.corpus.RejectReason.TOO_MANY_TOKENS.code(), tooManyTokens);
    }
    long rejectedRows = rejectedByReason.values().stream().mapToLong(Long::longValue).sum();
    Corpus counted = new Corpus(input, corpus.accepted(), rejected, corpus.inputRows(),
        corpus.inputRows() - rejectedRows, rejectedByReason);
    progress.line("after tokenization: %s; rejected rows in %s", counted.summary(), output.resolve("_rejected"));
    counted.requireUsable(config.corpus().maxRejectFraction());

    double fraction = config.corpus().validationFraction();
    JavaRDD<TokenizedExample> examples = tokenized.filter(r -> r.example() != null).map(Tokenization.Result::example);
    JavaRDD<TokenizedExample> train = examples.filter(e -> !Tokenization.isValidation(e.id(), fraction));
    List<TokenizedExample> validation = examples.filter(e -> Tokenization.isValidation(e.id(), fraction)).collect();
    String fingerprint = dataFingerprint(examples);

    LanguageModel model = LanguageModel.create(config.model(), tokenizer, config.train().seed(),
        dev.distillery.model.Updates.of(config.train()),
        dev.distillery.model.OutputHead.softmaxCrossEntropy(config.train().labelSmoothing()));
    if (start != null) {
      if (start.graph().numParams() != model.graph().numParams()) {
        throw new dev.distillery.config.ConfigException("Cannot train: train.init has " + start.graph().numParams()
            + " parameters but model.* describes " + model.graph().numParams() + ": " + init);
      }
      model.graph().setParams(start.graph().params());
    }
    progress.line("model: %s, %d parameters%s", config.model(), model.graph().numParams(),
        start == null ? "" : ", initialized from " + init);
    Location metrics = output.resolve("metrics.jsonl");
    output.mkdirs();
    if (!resume) {
      metrics.delete();
    }
    SparkTrainer.Options options = new SparkTrainer.Options(
        config.train().checkpointEvery() > 0 ? checkpoints : null, config.train().checkpointEvery(),
        config.train().keepCheckpoints(), resume,
        m -> appendLine(metrics, m), config.hash());
    if (config.train().checkpointEvery() > 0) {
      ResumeCheck.record(checkpoints, config);
    }
    SparkTrainer.Result result = SparkTrainer.train(jsc, model, train, validation, config.train(),
        config.spark().partitions(), progress, (batch, done) -> dev.distillery.model.Batches.nextTokenDataSet(batch),
        options);
    tokenized.unpersist();

    Map<String, Object> corpusInfo = new LinkedHashMap<>();
    corpusInfo.put("input", input);
    corpusInfo.put("dataSha256", fingerprint);
    corpusInfo.put("inputRows", counted.inputRows());
    corpusInfo.put("acceptedRows", counted.acceptedRows());
    corpusInfo.put("rejectedByReason", rejectedByReason);
    corpusInfo.put("validationRows", validation.size());
    Map<String, Object> provenance = Provenance.base();
    provenance.put("job", "train");
    provenance.put("init", init);
    provenance.put("corpus", corpusInfo);
    provenance.put("validationLoss", result.validationLoss());
    provenance.put("steps", result.steps());
    provenance.put("workers", result.workers());
    provenance.put("trainSeconds", result.seconds());
    provenance.put("tokensPerSecond", result.tokensPerSecond());
    ModelBundle.save(output, result.model(), config, provenance);
    progress.line("train done: %d steps in %.1f s (%.0f tokens/s), validation loss %.4f -> %.4f; model in %s",
        result.steps(), result.seconds(), result.tokensPerSecond(), result.validationLoss().get(0),
        result.validationLoss().get(result.validationLoss().size() - 1), output);
    return new Summary(corpusInfo, result, output);
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper JSON = dev.distillery.util.Json.MAPPER;

  private static void appendLine(Location file, Map<String, Object> metrics) {
    try {
      file.appendLine(JSON.writeValueAsString(metrics));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("Cannot write metrics: " + e.getMessage() + ": " + file, e);
    }
  }

  /** Order-independent sha256-based fingerprint of the tokenized data (sum of per-row hashes). */
  static String dataFingerprint(JavaRDD<TokenizedExample> examples) {
    long sum = examples.map(e -> Hashing.stableHash64(e.id() + "\u0000" + java.util.Arrays.toString(e.tokens())))
        .fold(0L, Long::sum);
    return String.format("%016x", sum);
  }
}
