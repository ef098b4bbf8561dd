package dev.distillery.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.distill.DistillPipeline;
import dev.distillery.eval.EvaluatePipeline;
import dev.distillery.export.ModelExport;
import dev.distillery.model.ModelBundle;
import dev.distillery.prepare.Manifest;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.testing.TestHdfs;
import dev.distillery.testing.TestSpark;
import dev.distillery.train.Checkpoint;
import dev.distillery.train.TrainPipeline;
import dev.distillery.util.Progress;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

/**
 * The whole pipeline with every location on a real HDFS (a {@code MiniDFSCluster}): what each job
 * writes lands there, manifests and provenance name absolute {@code hdfs://} URIs, a distill run
 * resumes from checkpoints on HDFS, and nothing is written to the local working directory.
 */
class HdfsPipelineTest {
  static final Progress QUIET = new Progress(new PrintStream(OutputStream.nullOutputStream()));

  static DistilleryConfig config(String... more) {
    List<String> all = new ArrayList<>(List.of(
        "tokenizer.vocab-size=300", "model.embedding=16", "model.hidden=32", "model.max-tokens=400",
        "train.batch-per-worker=16", "train.progress-every=2", "train.averaging-frequency=2",
        "train.learning-rate=0.01", "train.checkpoint-every=4", "prepare.shards=2", "prepare.top-k=4",
        "prepare.samples=1", "decode.beam-width=2", "decode.max-new-tokens=8", "distill.eval-examples=4",
        "distill.student.embedding=16", "distill.student.hidden=24", "distill.checkpoint-every=2",
        "corpus.validation-fraction=0.1"));
    all.addAll(List.of(more));
    return ConfigLoader.load(Optional.empty(), all);
  }

  @Test
  void trainPrepareDistillResumeEvaluateAndExportKeepEveryArtifactOnHdfs() throws Exception {
    SparkSession spark = TestSpark.get();
    Path cwd = Path.of("").toAbsolutePath();
    long start = System.currentTimeMillis() - 1000;
    Location runs = Location.of(TestHdfs.uri() + "/runs/" + java.util.UUID.randomUUID().toString().substring(0, 8));
    Location corpus = runs.resolve("corpus/train.jsonl");
    corpus.write(Files.readAllBytes(TestSpark.sample("es-en.tiny.jsonl")));
    Location heldout = runs.resolve("corpus/heldout.jsonl");
    heldout.write(Files.readAllBytes(TestSpark.sample("es-en.tiny-heldout.jsonl")));

    Location teacher = runs.resolve("teacher");
    TrainPipeline.run(spark, config("train.epochs=1"), corpus.uri(), teacher, false, QUIET);
    for (String f : List.of(ModelBundle.MODEL_FILE, ModelBundle.TOKENIZER_FILE, ModelBundle.META_FILE,
        ModelBundle.CONFIG_FILE, "metrics.jsonl", "checkpoints/" + ModelBundle.TOKENIZER_FILE)) {
      assertTrue(teacher.resolve(f).isFile(), f);
    }
    assertFalse(Checkpoint.complete(teacher.resolve(TrainPipeline.CHECKPOINTS)).isEmpty());

    Location targets = runs.resolve("targets");
    Manifest manifest = PreparePipeline.run(spark, config(), corpus.uri(), teacher, targets, QUIET);
    assertEquals(teacher.uri(), manifest.teacher());
    assertEquals(corpus.uri(), manifest.input());
    assertTrue(manifest.teacher().startsWith("hdfs://"), manifest.teacher());
    Manifest read = Manifest.read(targets);
    assertEquals(manifest.files(), read.files());
    assertEquals(manifest.teacher(), read.teacher());
    assertTrue(targets.resolve(PreparePipeline.TOKENIZER).isFile());
    assertEquals(manifest.files().size(), targets.files().stream()
        .filter(f -> f.relativeTo(targets).startsWith("shard=") && f.name().endsWith(".parquet")).count());
    assertEquals(List.of(targets), runs.list().stream().filter(l -> l.name().contains("targets")).toList(),
        "the staging directory was renamed into place");

    Location student = runs.resolve("student");
    DistillPipeline.Summary first = DistillPipeline.run(spark, config("distill.loss=kl", "train.epochs=1"),
        targets, student, false, null, QUIET);
    DistillPipeline.Summary resumed = DistillPipeline.run(spark, config("distill.loss=kl", "train.epochs=2"),
        targets, student, true, null, QUIET);
    assertTrue(resumed.steps() > first.steps(), first.steps() + " then " + resumed.steps());
    assertEquals(resumed.steps(), Checkpoint.readState(Checkpoint.latest(student.resolve("checkpoints"), w -> { })
        .orElseThrow()).step(), "the resumed run continued the HDFS checkpoints");
    for (String f : List.of("model/model.zip", "model/model.json", "metrics.jsonl", DistillPipeline.EVALUATION,
        "summary.json", "report.html", "checkpoints/config.conf")) {
      assertTrue(student.resolve(f).isFile(), f);
    }
    Map<?, ?> provenance = (Map<?, ?>) ModelBundle.metadata(student.resolve("model")).get("provenance");
    assertEquals(targets.uri(), provenance.get("targets"));
    assertEquals(resumed.steps(), student.resolve("metrics.jsonl").readLines().stream()
        .mapToLong(l -> Long.parseLong(l.replaceAll(".*\"step\":(\\d+).*", "$1"))).max().orElse(0),
        "one metrics curve across the resume");

    Location report = runs.resolve("eval/student.json");
    EvaluatePipeline.Result scores = EvaluatePipeline.run(spark, config(), student.resolve("model"), heldout.uri(),
        report, QUIET);
    assertTrue(report.readString().contains("\"chrf\""));
    assertTrue(scores.examples() > 0);

    Location export = runs.resolve("export");
    ModelExport.run(student.resolve("model"), export, false, false, QUIET);
    for (String f : List.of("model.onnx", "tokenizer.json", "config.json", "README.md", ModelExport.MARKER)) {
      assertTrue(export.resolve(f).isFile(), f);
    }

    try (Stream<Path> written = Files.walk(cwd)) {
      List<Path> local = written.filter(p -> !p.startsWith(cwd.resolve("target")) && Files.isRegularFile(p))
          .filter(p -> p.toFile().lastModified() >= start).toList();
      assertEquals(List.of(), local, "nothing written to the working directory");
    }
    try (Stream<Path> scratch = Files.list(Scratch.root())) {
      assertEquals(List.of(), scratch.map(p -> p.getFileName().toString()).filter(n -> !n.equals("cache")).toList(),
          "staged uploads are deleted; only cached copies of remote inputs stay in scratch");
    }
  }
}
