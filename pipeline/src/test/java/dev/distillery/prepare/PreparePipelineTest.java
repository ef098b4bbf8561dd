package dev.distillery.prepare;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.decode.Decoder;
import dev.distillery.decode.Hypothesis;
import dev.distillery.errors.DataException;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.model.TokenizedExample;
import dev.distillery.testing.TestFiles;
import dev.distillery.testing.TestSpark;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.train.TrainPipeline;
import dev.distillery.util.Progress;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/** train (tiny) → prepare → inspect on real pairs with malformed lines mixed in. */
class PreparePipelineTest {
  @TempDir static Path dir;
  static SparkSession spark;
  static DistilleryConfig config;
  static Path corpus;
  static Path teacher;
  static Path targets;
  static Manifest manifest;
  static final Progress QUIET = new Progress(new PrintStream(OutputStream.nullOutputStream()));

  @BeforeAll
  static void trainTeacherAndPrepare() throws Exception {
    spark = TestSpark.get();
    config = ConfigLoader.load(Optional.empty(), List.of(
        "tokenizer.vocab-size=300", "model.embedding=16", "model.hidden=32", "model.max-tokens=400",
        "train.epochs=1", "train.batch-per-worker=16", "train.progress-every=10",
        "prepare.shards=4", "prepare.top-k=5", "prepare.samples=1",
        "decode.beam-width=2", "decode.max-new-tokens=8", "decode.batch-size=8"));
    List<String> lines = new ArrayList<>(Files.readAllLines(TestSpark.sample("es-en.tiny.jsonl")).subList(0, 60));
    lines.add(7, "{\"id\": \"bad json\", ");
    lines.add(17, "{\"id\": \"no target\", \"source\": \"hola\"}");
    lines.add(27, "{\"id\": \"wrong type\", \"source\": \"hola\", \"target\": [1]}");
    lines.add(37, lines.get(3)); // duplicate id
    corpus = dir.resolve("mixed.jsonl");
    try (var out = Files.newOutputStream(corpus)) {
      for (int i = 0; i < lines.size(); i++) {
        if (i == 47) {
          out.write(new byte[] {'{', '"', 'i', 'd', '"', ':', '"', (byte) 0xFF, '"', '}', '\n'}); // invalid UTF-8
        }
        out.write((lines.get(i) + "\n").getBytes(StandardCharsets.UTF_8));
      }
    }
    teacher = dir.resolve("teacher");
    TrainPipeline.run(spark, config, TestSpark.sample("es-en.tiny.jsonl").toString(), teacher, QUIET);
    targets = dir.resolve("targets");
    manifest = PreparePipeline.run(spark, config, corpus.toString(), teacher, targets, QUIET);
  }

  @Test
  void everyInputRowIsWrittenOrRejectedWithItsReason() {
    assertEquals(65, manifest.inputRows());
    assertEquals(Map.of("invalid_json", 1L, "missing_field", 1L, "wrong_type", 1L, "invalid_utf8", 1L,
        "duplicate_id", 1L), manifest.rejectedByReason());
    assertEquals(60, manifest.rows());
    Dataset<Row> written = spark.read().parquet(targets.toString());
    assertEquals(60, written.count());
    assertEquals(60, written.select("id").distinct().count());
    Dataset<Row> rejected = spark.read().parquet(targets.resolve(PreparePipeline.REJECTED).toString());
    assertEquals(5, rejected.count());
    assertEquals(5, rejected.filter("reason IS NOT NULL AND detail IS NOT NULL").count());
  }

  @Test
  void shardsAreDeterministicAcrossRuns() throws Exception {
    Path again = dir.resolve("targets-again");
    PreparePipeline.run(spark, config, corpus.toString(), teacher, again, QUIET);
    for (int shard = 0; shard < 4; shard++) {
      List<Row> a = spark.read().parquet(targets.resolve("shard=" + shard).toString()).collectAsList();
      List<Row> b = spark.read().parquet(again.resolve("shard=" + shard).toString()).collectAsList();
      assertEquals(a.size(), b.size(), "shard " + shard);
      for (int i = 0; i < a.size(); i++) {
        assertEquals(a.get(i).getAs("id"), b.get(i).<String>getAs("id"));
        assertEquals(PreparePipeline.shardOf(a.get(i).getAs("id"), 4), shard);
        assertEquals(a.get(i).<Row>getAs("beam").getList(0), b.get(i).<Row>getAs("beam").getList(0));
        assertEquals(a.get(i).getList(a.get(i).fieldIndex("samples")).toString(),
            b.get(i).getList(b.get(i).fieldIndex("samples")).toString());
        assertEquals(nested(a.get(i).<Row>getAs("reference"), 4), nested(b.get(i).<Row>getAs("reference"), 4));
      }
    }
  }

  @Test
  void topKIsValidSortedAndSumsToOneWithTheTail() throws Exception {
    LanguageModel model = ModelBundle.load(teacher);
    int vocab = model.vocabSize();
    List<Row> rows = spark.read().parquet(targets.toString()).collectAsList();
    int checkedAgainstFullSoftmax = 0;
    for (Row r : rows) {
      List<Row> outputs = new ArrayList<>(List.of(r.<Row>getAs("reference"), r.<Row>getAs("beam")));
      outputs.addAll(r.getList(r.fieldIndex("samples")));
      for (Row o : outputs) {
        List<List<Object>> ids = nested(o, 3);
        List<List<Object>> lps = nested(o, 4);
        List<Float> tail = o.getList(5);
        assertEquals(o.getList(0).size() + 1, tail.size(), "one position per token plus </s>");
        for (int p = 0; p < tail.size(); p++) {
          assertEquals(5, ids.get(p).size());
          // prepare.keep-specials (on by default): what a student can emit never hides in the tail.
          assertTrue(ids.get(p).contains(TextTokenizer.EOS) && ids.get(p).contains(TextTokenizer.UNK),
              "</s> and <unk> stored at position " + p + ": " + ids.get(p));
          double mass = tail.get(p);
          for (int j = 0; j < 5; j++) {
            int id = (Integer) ids.get(p).get(j);
            assertTrue(id >= 0 && id < vocab, "id " + id);
            if (j > 0) {
              assertTrue((Float) lps.get(p).get(j) <= (Float) lps.get(p).get(j - 1), "not sorted by probability");
            }
            mass += Math.exp((Float) lps.get(p).get(j));
          }
          assertEquals(1.0, mass, 1e-4);
        }
      }
      // The tail is the mass of every other token: check it against the full softmax for a few rows.
      if (checkedAgainstFullSoftmax < 5) {
        Row ref = r.getAs("reference");
        int[] src = ints(r.getList(r.fieldIndex("source_ids")));
        TokenizedExample e = TokenizedExample.of(r.getAs("id"), src, ints(ref.getList(0)));
        INDArray lp = model.logProbs(List.of(e.tokens()));
        List<List<Object>> ids = nested(ref, 3);
        List<Float> tail = ref.getList(5);
        for (int p = 0; p < tail.size(); p++) {
          double rest = 0;
          double quantization = 0;
          for (int v = 0; v < vocab; v++) {
            double logp = lp.getDouble(0, v, e.targetStart() - 1 + p);
            if (!ids.get(p).contains(v)) {
              rest += Math.exp(logp);
            } else {
              // Stored log-probs are rounded away from zero to bfloat16 (relative step 2^-7): the
              // probability each top-k entry can lose to the tail.
              quantization += Math.exp(logp) * (1 - Math.exp(logp * Math.scalb(1.0, -7)));
            }
          }
          assertTrue(tail.get(p) >= rest - 1e-5, "tail below the mass of the other tokens");
          assertEquals(rest, tail.get(p), 1e-5 + quantization);
        }
        checkedAgainstFullSoftmax++;
      }
    }
  }

  @Test
  void beamOutputEqualsWhatEvaluatesBeamDecoderProduces() throws Exception {
    LanguageModel model = ModelBundle.load(teacher);
    List<Row> rows = spark.read().parquet(targets.toString()).orderBy("id").collectAsList();
    List<int[]> prompts = new ArrayList<>();
    for (Row r : rows) {
      prompts.add(TokenizedExample.of(r.getAs("id"), ints(r.getList(r.fieldIndex("source_ids"))), new int[0]).prompt());
    }
    List<Hypothesis> beams = new Decoder(model, config.decode()).beam(prompts, config.decode().beamWidth());
    for (int i = 0; i < rows.size(); i++) {
      Row beam = rows.get(i).getAs("beam");
      assertArrayEquals(beams.get(i).tokens(), ints(beam.getList(0)), rows.get(i).<String>getAs("id"));
      assertEquals(beams.get(i).logLikelihood(), beam.getDouble(1), 1e-3);
    }
  }

  @Test
  void writtenSchemaMatchesTheDocumentedSchemaFile() throws Exception {
    Path file = TestSpark.sample("es-en.tiny.jsonl").getParent().getParent().getParent()
        .resolve("data-schemas").resolve("targets-v" + TargetsSchema.VERSION + ".json");
    DataType documented = DataType.fromJson(Files.readString(file));
    assertEquals(TargetsSchema.ROW, documented);
    // Parquet readers report every column nullable; the shapes and names must be the same.
    assertEquals(TargetsSchema.ROW.asNullable(), spark.read().parquet(targets.toString()).schema().asNullable());
  }

  @Test
  void duckDbReadsEveryColumn() throws Exception {
    Map<String, Row> byId = new HashMap<>();
    for (Row r : spark.read().parquet(targets.toString()).collectAsList()) {
      byId.put(r.getAs("id"), r);
    }
    String glob = targets.resolve("shard=*").resolve("*.parquet").toString();
    try (Connection c = DriverManager.getConnection("jdbc:duckdb:");
         Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT id, source, target, source_ids, reference.ids, reference.logprob, "
             + "reference.finished, reference.topk_ids, reference.topk_logprobs, reference.tail_mass, beam.ids, "
             + "beam.logprob, len(samples), samples[1].ids, shard, beam.text, reference.ends FROM read_parquet('" + glob
             + "', hive_partitioning = true)")) {
      int n = 0;
      while (rs.next()) {
        n++;
        Row spark = byId.get(rs.getString(1));
        Row ref = spark.getAs("reference");
        Row beam = spark.getAs("beam");
        assertEquals(spark.<String>getAs("source"), rs.getString(2));
        assertEquals(spark.<String>getAs("target"), rs.getString(3));
        assertEquals(spark.getList(spark.fieldIndex("source_ids")), list(rs.getArray(4)));
        assertEquals(ref.getList(0), list(rs.getArray(5)));
        assertEquals(ref.getDouble(1), rs.getDouble(6), 1e-12);
        assertEquals(ref.getBoolean(2), rs.getBoolean(7));
        assertEquals(nested(ref, 3), nested(rs.getArray(8)));
        assertEquals(nested(ref, 4), nested(rs.getArray(9)));
        assertEquals(ref.getList(5), list(rs.getArray(10)));
        assertEquals(beam.getList(0), list(rs.getArray(11)));
        assertEquals(beam.getDouble(1), rs.getDouble(12), 1e-12);
        assertEquals(1, rs.getInt(13));
        assertEquals(spark.<Row>getList(spark.fieldIndex("samples")).get(0).getList(0), list(rs.getArray(14)));
        assertEquals(spark.<Integer>getAs("shard"), Integer.parseInt(rs.getString(15)));
        // Schema 2: the beam's text is readable as is, and the spans end at the text's length.
        assertEquals(beam.getString(beam.fieldIndex("text")), rs.getString(16));
        assertEquals(ref.getList(ref.fieldIndex("ends")), list(rs.getArray(17)));
        List<Object> ends = list(rs.getArray(17));
        assertEquals(ref.getString(ref.fieldIndex("text")).getBytes(java.nio.charset.StandardCharsets.UTF_8).length,
            ((Number) ends.get(ends.size() - 1)).intValue());
      }
      assertEquals(60, n);
    }
  }

  @Test
  void refusesToMixTwoRunsInOneOutput() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> PreparePipeline.run(spark, config, corpus.toString(), teacher, targets, QUIET));
    assertTrue(e.getMessage().startsWith("Cannot prepare: output already exists"), e.getMessage());
  }

  static DistilleryConfig overwriting() {
    return ConfigLoader.load(Optional.empty(), List.of(
        "tokenizer.vocab-size=300", "model.max-tokens=400", "prepare.shards=2", "prepare.top-k=5",
        "prepare.samples=0", "decode.max-new-tokens=4", "prepare.overwrite=true"));
  }

  @Test
  void overwriteRefusesWhatPrepareDidNotWriteAndNeverAnInput() throws Exception {
    Path others = dir.resolve("others");
    Files.createDirectories(others);
    Files.writeString(others.resolve("notes.txt"), "someone's work");
    Path plain = dir.resolve("plain.txt");
    Files.writeString(plain, "a file");
    String teacherSha = dev.distillery.util.Hashing.sha256(teacher.resolve("model.zip"));
    Map<Path, String> refusals = new LinkedHashMap<>();
    refusals.put(others, "Cannot prepare: --overwrite replaces only a previous prepare output, and this directory "
        + "has no _manifest.json");
    refusals.put(plain, "Cannot prepare: the output is a file, not a directory");
    refusals.put(corpus.getParent(), "Cannot prepare: the output holds one of the run's inputs");
    refusals.put(teacher, "Cannot prepare: the output is one of the run's inputs");
    for (Map.Entry<Path, String> r : refusals.entrySet()) {
      ConfigException e = assertThrows(ConfigException.class,
          () -> PreparePipeline.run(spark, overwriting(), corpus.toString(), teacher, r.getKey(), QUIET));
      assertTrue(e.getMessage().startsWith(r.getValue()) && e.getMessage().endsWith(r.getKey().toString()),
          e.getMessage());
    }
    assertEquals("someone's work", Files.readString(others.resolve("notes.txt")));
    assertEquals("a file", Files.readString(plain));
    assertTrue(Files.isRegularFile(corpus));
    assertEquals(teacherSha, dev.distillery.util.Hashing.sha256(teacher.resolve("model.zip")));
  }

  @Test
  void aFailedOverwriteLeavesThePreviousTargetsAsTheyWere() throws Exception {
    Path out = dir.resolve("kept");
    PreparePipeline.run(spark, config, corpus.toString(), teacher, out, QUIET);
    Map<String, String> before = checksums(out);
    // The corpus is gone: the run fails after it has started writing its new output beside the old.
    assertThrows(Exception.class,
        () -> PreparePipeline.run(spark, overwriting(), dir.resolve("gone.jsonl").toString(), teacher, out, QUIET));
    assertEquals(before, checksums(out));
    try (Stream<Path> siblings = Files.list(dir)) {
      assertTrue(siblings.noneMatch(p -> p.getFileName().toString().startsWith(".kept.")),
          "no staging directory is left behind");
    }
  }

  @Test
  void anUnwritableOutputIsRefusedBeforeAnyTeacherWork() throws Exception {
    Path file = dir.resolve("a-file");
    Files.writeString(file, "x");
    ConfigException e = assertThrows(ConfigException.class,
        () -> PreparePipeline.run(spark, config, corpus.toString(), teacher, file.resolve("targets"), QUIET));
    assertTrue(e.getMessage().startsWith("Cannot prepare: the output location is not writable"), e.getMessage());
    assertTrue(e.getMessage().endsWith(file.toString()), e.getMessage());
  }

  @Test
  void inspectRefusesTargetsWithAMissingShardFileOrAnEditedTopK() throws Exception {
    Path copy = dir.resolve("inspect-copy");
    TestFiles.copyTree(targets, copy);
    Manifest m = Manifest.read(copy);
    Manifest.DataFile lost = m.files().get(m.files().size() - 1);
    Files.delete(copy.resolve(lost.path()));
    DataException e = assertThrows(DataException.class, () -> Inspect.run(spark, copy, 1));
    assertEquals("Cannot inspect: shard " + lost.shard() + " is incomplete: its file " + lost.path()
        + " listed in the manifest is missing: " + copy, e.getMessage());

    TestFiles.copyTree(targets, copy);
    Path manifestFile = copy.resolve(PreparePipeline.MANIFEST);
    Files.writeString(manifestFile, Files.readString(manifestFile).replace("\"topK\" : 5", "\"topK\" : 8"));
    e = assertThrows(DataException.class, () -> Inspect.run(spark, copy, 1));
    assertEquals("Cannot inspect: the stored top-k lists hold 5 entries where the manifest's topK is 8 "
        + "(field topK): " + copy, e.getMessage());
  }

  static Map<String, String> checksums(Path root) throws IOException {
    Map<String, String> out = new java.util.TreeMap<>();
    try (Stream<Path> files = Files.walk(root)) {
      for (Path p : files.filter(Files::isRegularFile).toList()) {
        out.put(root.relativize(p).toString(), dev.distillery.util.Hashing.sha256(p));
      }
    }
    return out;
  }

  @Test
  void overwriteReplacesTheOutputWhole() throws Exception {
    Path out = dir.resolve("replaced");
    PreparePipeline.run(spark, config, corpus.toString(), teacher, out, QUIET);
    Files.writeString(out.resolve("shard=0").resolve("stale.parquet"), "left over from an older run");
    DistilleryConfig overwrite = ConfigLoader.load(Optional.empty(), List.of(
        "tokenizer.vocab-size=300", "model.max-tokens=400", "prepare.shards=2", "prepare.top-k=5",
        "prepare.samples=0", "decode.max-new-tokens=4", "prepare.overwrite=true"));
    Manifest m = PreparePipeline.run(spark, overwrite, corpus.toString(), teacher, out, QUIET);
    assertEquals(2, m.shards());
    assertTrue(Files.notExists(out.resolve("shard=3")));
    assertTrue(Files.notExists(out.resolve("shard=0").resolve("stale.parquet")));
    assertEquals(60, spark.read().parquet(out.toString()).count());
  }

  @Test
  void gpuRequiredButNotScheduledFailsClearly() {
    DistilleryConfig gpu = ConfigLoader.load(Optional.empty(), List.of(
        "model.max-tokens=400", "prepare.device=gpu", "prepare.shards=2"));
    Exception e = assertThrows(Exception.class,
        () -> PreparePipeline.run(spark, gpu, corpus.toString(), teacher, dir.resolve("gpu"), QUIET));
    StringBuilder messages = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause()) {
      messages.append(t.getMessage()).append('\n');
    }
    assertTrue(messages.toString().contains("Cannot run on GPU: the task was scheduled no GPU"), messages.toString());
  }

  @Test
  void aTaskThatDiesHalfwayAndIsRetriedLeavesNoDuplicateRows() throws Exception {
    DistilleryConfig failing = ConfigLoader.load(Optional.empty(), List.of(
        "tokenizer.vocab-size=300", "model.max-tokens=400", "prepare.shards=4", "prepare.top-k=5",
        "prepare.samples=0", "decode.max-new-tokens=4"));
    Path out = dir.resolve("retried");
    Manifest m;
    PreparePipeline.failFirstAttemptOfShard = 1;
    try {
      m = PreparePipeline.run(spark, failing, corpus.toString(), teacher, out, QUIET);
    } finally {
      PreparePipeline.failFirstAttemptOfShard = -1;
    }
    Dataset<Row> written = spark.read().parquet(out.toString());
    assertEquals(60, m.rows());
    assertEquals(60, written.count());
    assertEquals(60, written.select("id").distinct().count());
    // The retried shard holds exactly the ids an undisturbed run puts there.
    assertEquals(
        spark.read().parquet(targets.toString()).filter("shard = 1").select("id").orderBy("id").collectAsList(),
        written.filter("shard = 1").select("id").orderBy("id").collectAsList());
    try (var files = Files.walk(out)) {
      assertTrue(files.noneMatch(p -> p.toString().contains("_temporary")), "attempt files left behind");
    }
  }

  @Test
  void inspectSummarizesTheTargets() throws Exception {
    Map<String, Object> report = Inspect.run(spark, targets, 2);
    assertEquals(60L, report.get("rows"));
    assertEquals(4L, report.get("shards"));
    assertEquals(5L, report.get("rejectedRows"));
    double coverage = (Double) report.get("meanTopkCoverage");
    assertTrue(coverage > 0 && coverage <= 1, "coverage " + coverage);
    @SuppressWarnings("unchecked")
    Map<String, Long> hist = (Map<String, Long>) report.get("entropyHistogramNats");
    assertEquals(manifest.positions().get("reference"), hist.values().stream().mapToLong(Long::longValue).sum());
    assertEquals(2, ((List<?>) report.get("examples")).size());
    assertTrue(Inspect.format(report).contains("rows 60 on 4 shards"));
  }

  private static int[] ints(List<?> list) {
    return list.stream().mapToInt(o -> ((Number) o).intValue()).toArray();
  }

  private static List<Object> list(Array a) throws Exception {
    Object[] values = (Object[]) a.getArray();
    return List.of(values);
  }

  /** A Spark array-of-arrays field as Java lists (Spark hands nested arrays out as Scala sequences). */
  private static List<List<Object>> nested(Row row, int field) {
    List<List<Object>> out = new ArrayList<>();
    for (Object inner : row.getList(field)) {
      out.add(new ArrayList<>(scala.collection.JavaConverters.seqAsJavaList((scala.collection.Seq<Object>) inner)));
    }
    return out;
  }

  private static List<List<Object>> nested(Array a) throws Exception {
    List<List<Object>> out = new ArrayList<>();
    for (Object inner : (Object[]) a.getArray()) {
      out.add(list((Array) inner));
    }
    return out;
  }
}
