package dev.distillery.corpus;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.errors.DataException;
import dev.distillery.testing.TestSpark;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CorpusReaderTest {
  @TempDir Path dir;
  private final SparkSession spark = TestSpark.get();
  private final DistilleryConfig.Corpus config = ConfigLoader.defaults().corpus();

  @Test
  void everyInputRowIsAcceptedOrRejectedWithItsReason() throws Exception {
    List<String> good = Files.readAllLines(TestSpark.sample("es-en.tiny.jsonl")).subList(0, 40);
    List<String> lines = new ArrayList<>(good);
    lines.add(5, "{\"id\": \"broken\", \"source\": ");
    lines.add(10, "{\"id\": \"x1\", \"source\": \"hola\"}");
    lines.add(15, "{\"id\": \"x2\", \"source\": \"hola\", \"target\": 3}");
    lines.add(20, "{\"id\": \"x3\", \"source\": \"\", \"target\": \"hi\"}");
    lines.add(25, good.get(0)); // duplicate id of the first row
    Path file = dir.resolve("mixed.jsonl");
    Files.write(file, lines, StandardCharsets.UTF_8);

    Corpus corpus = CorpusReader.read(spark, file.toString(), config);

    assertEquals(45, corpus.inputRows());
    assertEquals(40, corpus.acceptedRows());
    assertEquals(Map.of("invalid_json", 1L, "missing_field", 1L, "wrong_type", 1L, "empty_field", 1L,
        "duplicate_id", 1L), corpus.rejectedByReason());
    assertEquals(corpus.inputRows(), corpus.acceptedRows() + corpus.rejectedRows());
    assertEquals(40, corpus.accepted().count());
    assertEquals(5, corpus.rejected().count());
    Row dup = corpus.rejected().filter("reason = 'duplicate_id'").first();
    assertEquals("Genesis 1:1", dup.getAs("id"));
    assertTrue(dup.<String>getAs("detail").startsWith("duplicate id, first seen at mixed.jsonl:0"), dup.toString());
    // The first occurrence (offset 0) is the one kept.
    assertEquals(1, corpus.accepted().filter("id = 'Genesis 1:1' and offset = 0").count());
  }

  @Test
  void aOneMegabyteLineIsRejectedAsTooLongAndItsNeighboursAreKept() throws Exception {
    List<String> lines = new ArrayList<>(Files.readAllLines(TestSpark.sample("es-en.tiny.jsonl")).subList(0, 10));
    String megabyte = "a".repeat(1 << 20);
    lines.add(5, "{\"id\": \"huge\", \"source\": \"hola\", \"target\": \"" + megabyte + "\"}");
    Path file = dir.resolve("huge.jsonl");
    Files.write(file, lines, StandardCharsets.UTF_8);

    Corpus corpus = CorpusReader.read(spark, file.toString(), config);

    assertEquals(11, corpus.inputRows());
    assertEquals(10, corpus.accepted().count());
    assertEquals(Map.of("too_long", 1L), corpus.rejectedByReason());
    Row huge = corpus.rejected().first();
    assertEquals("huge", huge.getAs("id"));
    assertEquals("field target has " + (1 << 20) + " characters, limit " + config.maxChars(), huge.getAs("detail"));
    // The rejected set keeps a bounded excerpt of the line, not the megabyte.
    assertTrue(huge.<String>getAs("raw").length() < 4096, "raw excerpt length " + huge.<String>getAs("raw").length());
  }

  @Test
  void readsParquetWithTheSameRules() {
    StructType schema = new StructType()
        .add("id", DataTypes.StringType).add("source", DataTypes.StringType).add("target", DataTypes.StringType);
    List<Row> rows = List.of(
        RowFactory.create("a", "hola", "hello"),
        RowFactory.create("b", "adiós", null),
        RowFactory.create("a", "otra", "other"));
    String path = dir.resolve("c.parquet").toString();
    spark.createDataFrame(rows, schema).coalesce(1).write().parquet(path);

    Corpus corpus = CorpusReader.read(spark, path, config);

    assertEquals(3, corpus.inputRows());
    assertEquals(1, corpus.acceptedRows());
    assertEquals(Map.of("missing_field", 1L, "duplicate_id", 1L), corpus.rejectedByReason());
  }

  @Test
  void rejectsEveryRowOfParquetWithWrongSchemaNamingTheColumn() {
    StructType schema = new StructType()
        .add("id", DataTypes.StringType).add("source", DataTypes.StringType).add("target", DataTypes.IntegerType);
    String path = dir.resolve("wrong.parquet").toString();
    spark.createDataFrame(List.of(RowFactory.create("a", "hola", 1)), schema).write().parquet(path);

    Corpus corpus = CorpusReader.read(spark, path, config);

    assertEquals(Map.of("wrong_schema", 1L), corpus.rejectedByReason());
    assertEquals("column target is int, expected string", corpus.rejected().first().getAs("detail"));
    DataException e = assertThrows(DataException.class, () -> corpus.requireUsable(0.5));
    assertTrue(e.getMessage().startsWith("Cannot use corpus: no usable rows"), e.getMessage());
  }

  @Test
  void failsWhenMoreThanTheAllowedFractionIsRejected() throws Exception {
    Path file = dir.resolve("bad.jsonl");
    Files.write(file, List.of("{\"id\":\"a\",\"source\":\"s\",\"target\":\"t\"}", "nope", "nope again"));
    Corpus corpus = CorpusReader.read(spark, file.toString(), config);
    DataException e = assertThrows(DataException.class, () -> corpus.requireUsable(0.5));
    assertEquals("Cannot use corpus: 66.7% of rows rejected, more than corpus.max-reject-fraction 50.0% "
        + "(3 rows: 1 accepted, 2 rejected (invalid_json 2)): " + file, e.getMessage());
    corpus.requireUsable(0.7);
  }

  @Test
  void emptyFileIsAClearFailure() throws Exception {
    Path file = dir.resolve("empty.jsonl");
    Files.writeString(file, "");
    Corpus corpus = CorpusReader.read(spark, file.toString(), config);
    assertEquals(0, corpus.inputRows());
    assertThrows(DataException.class, () -> corpus.requireUsable(1.0));
  }

  @Test
  void missingInputIsAClearFailure() {
    DataException e = assertThrows(DataException.class,
        () -> CorpusReader.read(spark, dir.resolve("nope.jsonl").toString(), config));
    assertEquals("Cannot read corpus: no such file or directory: " + dir.resolve("nope.jsonl"), e.getMessage());
  }

  @Test
  void acceptedRowsKeepTheirText() {
    Corpus corpus = CorpusReader.read(spark, TestSpark.sample("es-en.tiny.jsonl").toString(), config);
    Map<String, String> targets = corpus.accepted().collectAsList().stream()
        .collect(Collectors.toMap(r -> r.getAs("id"), r -> r.getAs("target")));
    assertEquals(300, targets.size());
    assertEquals("In the beginning, God created the heavens and the earth.", targets.get("Genesis 1:1"));
    assertTrue(Optional.ofNullable(targets.get("Genesis 1:6")).isPresent());
  }
}
