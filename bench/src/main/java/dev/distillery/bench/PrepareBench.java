package dev.distillery.bench;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.model.TokenizedExample;
import dev.distillery.prepare.Inspect;
import dev.distillery.prepare.Manifest;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.prepare.TeacherScorer;
import dev.distillery.spark.Sessions;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.train.TrainPipeline;
import dev.distillery.util.Progress;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * prepare's costs: teacher positions/s through the Spark job against the same scorer run plainly in
 * one JVM thread; stored bytes per position at k = 8, 32, 64 with the KL the bfloat16 log-prob
 * storage costs; peak heap as the corpus grows 10x.
 */
public final class PrepareBench {
  static final Progress QUIET = new Progress(new PrintStream(OutputStream.nullOutputStream()));

  public static void main(String[] args) throws Exception {
    int rows = args.length > 0 ? Integer.parseInt(args[0]) : 160;
    Path work = Path.of("runs", "bench-prepare");
    Path teacherDir = work.resolve("teacher");
    List<String> base = List.of("decode.beam-width=4", "decode.max-new-tokens=48", "decode.batch-size=32",
        "prepare.samples=1", "prepare.shards=4", "prepare.overwrite=true");
    DistilleryConfig trainConf = ConfigLoader.load(Optional.of(Path.of("conf/examples/demo.conf")),
        List.of("train.max-steps=80"));
    SparkSession spark = Sessions.get(trainConf.spark(), Optional.of("local[1]"));
    if (!Files.exists(teacherDir.resolve(ModelBundle.META_FILE))) {
      System.out.println("training a teacher for the benchmark (demo.conf, 80 steps) ...");
      TrainPipeline.run(spark, trainConf, "data/sample/es-en.train.jsonl", teacherDir, QUIET);
    }
    LanguageModel teacher = ModelBundle.load(teacherDir);
    dev.distillery.tokenizer.TextTokenizer tok = teacher.tokenizer();
    Path corpus = work.resolve("corpus-" + rows + ".jsonl");
    List<String> lines = Files.readAllLines(Path.of("data/sample/es-en.heldout.jsonl"));
    lines.addAll(Files.readAllLines(Path.of("data/sample/es-en.train.jsonl")));
    Files.write(corpus, lines.subList(0, rows));

    // 1. Throughput: plain scorer (one thread) vs the prepare job (local[1], then local[2]).
    DistilleryConfig conf = ConfigLoader.load(Optional.of(Path.of("conf/examples/demo.conf")), base);
    List<String[]> pairs = Samples.pairs(corpus, rows);
    List<String> ids = new ArrayList<>();
    List<int[]> prompts = new ArrayList<>();
    List<int[]> refs = new ArrayList<>();
    for (String[] p : pairs) {
      TokenizedExample e = TokenizedExample.of(p[0], tok.encode(BpeTokenizer.normalize(p[1])),
          tok.encode(BpeTokenizer.normalize(p[2])));
      ids.add(p[0]);
      prompts.add(e.prompt());
      refs.add(e.target());
    }
    TeacherScorer scorer = new TeacherScorer(teacher, conf.decode(), conf.prepare());
    scorer.score(ids.subList(0, 8), prompts.subList(0, 8), refs.subList(0, 8)); // warm-up
    long positions = 0;
    long t0 = System.nanoTime();
    int batch = conf.decode().batchSize();
    for (int i = 0; i < rows; i += batch) {
      int j = Math.min(rows, i + batch);
      for (TeacherScorer.Scored s : scorer.score(ids.subList(i, j), prompts.subList(i, j), refs.subList(i, j))) {
        positions += s.reference().positions() + s.beam().positions();
        for (var o : s.samples()) {
          positions += o.positions();
        }
      }
    }
    double plain = (System.nanoTime() - t0) / 1e9;
    Table speed = new Table("prepare throughput: teacher positions/s (" + rows + " examples, beam 4, 1 sample, top-8)",
        "setup", "seconds", "positions/s", "vs plain");
    speed.row("plain TeacherScorer loop, 1 thread, no Spark", plain, positions / plain, "1.00");
    double[] rate = new double[2];
    String[] masters = {"local[1]", "local[2]"};
    for (int mi = 0; mi < masters.length; mi++) {
      String master = masters[mi];
      spark.stop();
      spark = Sessions.get(conf.spark(), Optional.of(master));
      Manifest m = PreparePipeline.run(spark, conf, corpus.toString(), teacherDir, work.resolve("targets"), QUIET);
      long stored = m.positions().values().stream().mapToLong(Long::longValue).sum();
      rate[mi] = stored / m.wallSeconds();
      speed.row("prepare job, " + master + " (read, tokenize, shard, score, write Parquet, manifest)",
          m.wallSeconds(), stored / m.wallSeconds(),
          String.format(java.util.Locale.ROOT, "%.2f", (positions / plain) / (stored / m.wallSeconds())));
    }
    speed.note("'vs plain' = plain positions/s divided by prepare positions/s; 1.10 would be 10% overhead");
    speed.note(String.format(java.util.Locale.ROOT, "local[2] / local[1] = %.2fx: on the CPU each running task scores with "
        + "its own in-memory copy of the teacher (TeacherCache.borrow), so both cores work", rate[1] / rate[0]));

    // 2. Storage at k = 8, 32, 64 and the error of bfloat16 log-probs.
    Table storage = new Table("prepare storage per stored position (" + rows + " examples)",
        "k", "bytes/position", "bytes per (id, log-prob) entry", "mean top-k coverage",
        "KL(exact || stored) over k+1 buckets, nats/position");
    for (int k : new int[] {8, 32, 64}) {
      List<String> o = new ArrayList<>(base);
      o.add("prepare.top-k=" + k);
      DistilleryConfig c = ConfigLoader.load(Optional.of(Path.of("conf/examples/demo.conf")), o);
      Path out = work.resolve("targets-k" + k);
      PreparePipeline.run(spark, c, corpus.toString(), teacherDir, out, QUIET);
      Map<String, Object> report = Inspect.run(spark, out, 0);
      storage.row(k, report.get("bytesPerPosition"), report.get("bytesPerTopkEntry"), report.get("meanTopkCoverage"),
          storedKl(spark, out, teacher, k));
    }
    storage.note("bytes = all Parquet files of the targets (ids, texts, every output), zstd; DistillKit reports ~300 bytes per token at k = 128");
    storage.note("stored log-probs are bfloat16-rounded away from zero; the KL compares exact and stored k+1-bucket distributions along the references");

    // 3. Peak heap as the corpus grows 10x (cheap decoding so the large run stays short).
    Table memory = new Table("prepare peak JVM heap as the corpus grows (local[2], beam 1, 16 new tokens, no samples)",
        "examples", "seconds", "peak heap MiB");
    List<String> cheap = List.of("decode.beam-width=1", "decode.max-new-tokens=16", "prepare.samples=0",
        "prepare.shards=4", "prepare.overwrite=true");
    DistilleryConfig cheapConf = ConfigLoader.load(Optional.of(Path.of("conf/examples/demo.conf")), cheap);
    for (int n : new int[] {rows, rows * 10}) {
      Path c = work.resolve("corpus-mem-" + n + ".jsonl");
      Files.write(c, lines.subList(0, Math.min(n, lines.size())));
      System.gc();
      for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
        pool.resetPeakUsage();
      }
      Manifest m = PreparePipeline.run(spark, cheapConf, c.toString(), teacherDir, work.resolve("targets-mem"), QUIET);
      long peak = 0;
      for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
        if (pool.getType() == MemoryType.HEAP) {
          peak += pool.getPeakUsage().getUsed();
        }
      }
      memory.row(m.rows(), m.wallSeconds(), peak / 1024.0 / 1024.0);
    }
    memory.note("local mode: the executor is the driver JVM; peak = sum of heap pools' peaks (-Xmx12g, so the collector runs lazily)");
    spark.stop();

    String text = speed.render("bin/bench prepare " + rows) + "\n" + storage.render("bin/bench prepare " + rows)
        + "\n" + memory.render("bin/bench prepare " + rows);
    System.out.println(text);
    Files.createDirectories(Path.of("bench", "results"));
    Files.writeString(Path.of("bench", "results", "prepare-" + rows + ".md"), text);
  }

  /** Mean KL(exact || stored) per position over the k+1 buckets, for the reference outputs of 20 rows. */
  static double storedKl(SparkSession spark, Path targets, LanguageModel teacher, int k) {
    double sum = 0;
    long count = 0;
    for (Row r : spark.read().parquet(targets.toString()).orderBy("id").limit(20).collectAsList()) {
      Row ref = r.getAs("reference");
      int[] src = r.getList(r.fieldIndex("source_ids")).stream().mapToInt(o -> (Integer) o).toArray();
      int[] tgt = ref.getList(0).stream().mapToInt(o -> (Integer) o).toArray();
      TokenizedExample e = TokenizedExample.of("x", src, tgt);
      INDArray lp = teacher.logProbs(List.of(e.tokens()));
      List<Object> ids = ref.getList(3);
      List<Object> lps = ref.getList(4);
      List<Object> tails = ref.getList(5);
      for (int p = 0; p < tails.size(); p++) {
        List<Object> pid = scala.collection.JavaConverters.seqAsJavaList((scala.collection.Seq<Object>) ids.get(p));
        List<Object> plp = scala.collection.JavaConverters.seqAsJavaList((scala.collection.Seq<Object>) lps.get(p));
        double exactTop = 0;
        double kl = 0;
        for (int j = 0; j < k; j++) {
          double exact = Math.exp(lp.getDouble(0, (Integer) pid.get(j), e.targetStart() - 1 + p));
          double stored = Math.exp((Float) plp.get(j));
          exactTop += exact;
          kl += exact * Math.log(exact / stored);
        }
        double exactTail = Math.max(1e-12, 1 - exactTop);
        double storedTail = Math.max(1e-12, (Float) tails.get(p));
        kl += exactTail * Math.log(exactTail / storedTail);
        sum += kl;
        count++;
      }
    }
    return sum / Math.max(1, count);
  }

  private PrepareBench() {}
}
