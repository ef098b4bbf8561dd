package dev.distillery.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.prepare.Manifest;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.testing.BadCorpus;
import dev.distillery.testing.TestSpark;
import dev.distillery.train.TrainPipeline;
import dev.distillery.util.Progress;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** train and prepare on a corpus with every kind of damaged line: both finish, and nothing is lost. */
class BadInputTest {
  private static final Progress QUIET = new Progress(new PrintStream(OutputStream.nullOutputStream()));
  @TempDir Path dir;
  private final SparkSession spark = TestSpark.get();

  @Test
  void trainAndPrepareRejectEveryDamagedLineWithItsReasonAndKeepTheRest() throws Exception {
    List<String> good = Files.readAllLines(TestSpark.sample("es-en.tiny.jsonl")).subList(0, 60);
    Path corpus = dir.resolve("damaged.jsonl");
    Map<String, Long> expected = BadCorpus.write(corpus, good);
    long input = good.size() + expected.values().stream().mapToLong(Long::longValue).sum();
    DistilleryConfig config = ConfigLoader.load(Optional.empty(), List.of(
        "tokenizer.vocab-size=300", "model.embedding=16", "model.hidden=32", "model.max-tokens=400",
        "train.epochs=1", "train.batch-per-worker=16", "prepare.shards=2", "prepare.top-k=4",
        "prepare.samples=0", "decode.max-new-tokens=4", "corpus.max-reject-fraction=0.5"));

    Path teacher = dir.resolve("teacher");
    TrainPipeline.Summary trained = TrainPipeline.run(spark, config, corpus.toString(), teacher, QUIET);
    assertEquals(expected, trained.corpus().get("rejectedByReason"));
    assertRejectedWithReasons(teacher.resolve("_rejected"), expected);

    Path targets = dir.resolve("targets");
    Manifest m = PreparePipeline.run(spark, config, corpus.toString(), teacher, targets, QUIET);
    assertEquals(input, m.inputRows());
    assertEquals(expected, m.rejectedByReason());
    assertEquals(input, m.rows() + m.rejectedRows());
    assertEquals(good.size(), spark.read().parquet(targets.toString()).select("id").distinct().count());
    assertRejectedWithReasons(targets.resolve(PreparePipeline.REJECTED), expected);
  }

  private void assertRejectedWithReasons(Path rejectedDir, Map<String, Long> expected) {
    Dataset<Row> rejected = spark.read().parquet(rejectedDir.toString());
    assertEquals(expected.values().stream().mapToLong(Long::longValue).sum(), rejected.count());
    for (BadCorpus.Bad bad : BadCorpus.kinds()) {
      if (bad.marker() != null) {
        List<Row> rows = rejected.filter(rejected.col("raw").contains(bad.marker())).collectAsList();
        assertEquals(1, rows.size(), bad.name());
        assertEquals(bad.reason().code(), rows.get(0).getAs("reason"), bad.name());
        assertTrue(rows.get(0).<String>getAs("detail") != null, bad.name() + " has a detail");
      }
    }
  }
}
