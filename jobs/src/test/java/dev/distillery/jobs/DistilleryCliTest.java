package dev.distillery.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DistilleryCliTest {
  @TempDir Path dir;
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return Distillery.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
  }

  static Path repo(String relative) {
    for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
      if (Files.exists(p.resolve(relative))) {
        return p.resolve(relative);
      }
    }
    throw new IllegalStateException("Cannot find " + relative);
  }

  @Test
  void helpListsTheCommandsAndExitsZero() {
    assertEquals(0, run("--help"));
    assertTrue(out.toString().contains("train"), out.toString());
    assertTrue(out.toString().contains("evaluate"), out.toString());
  }

  @Test
  void eachCommandHasHelp() {
    assertEquals(0, run("train", "--help"));
    assertTrue(out.toString().contains("--input"), out.toString());
    assertTrue(out.toString().contains("--set"), out.toString());
  }

  @Test
  void distillHelpNamesEveryObjective() {
    assertEquals(0, run("distill", "--help"));
    for (String loss : dev.distillery.config.Objective.NAMES) {
      assertTrue(out.toString().matches("(?s).*\\b" + loss + "\\b.*"), loss + " in: " + out);
    }
  }

  @Test
  void missingCommandIsAUsageError() {
    assertEquals(2, run());
    assertTrue(err.toString().contains("Cannot run: missing command"), err.toString());
  }

  @Test
  void missingRequiredOptionIsAUsageError() {
    assertEquals(2, run("train", "--input", "x.jsonl"));
    assertTrue(err.toString().contains("--output"), err.toString());
  }

  @Test
  void mistypedConfigKeyExitsTwoNamingTheKey() {
    assertEquals(2, run("train", "--input", "x.jsonl", "--output", dir.toString(), "--set", "train.epoks=2"));
    assertTrue(err.toString().contains("Cannot load config: unknown key: distillery.train.epoks"), err.toString());
  }

  @Test
  void damagedFilesFailInOneLineNamingTheFileAndVerboseAddsTheStackTrace() throws Exception {
    Path targets = dir.resolve("targets");
    Files.createDirectories(targets);
    Files.writeString(targets.resolve("_manifest.json"), "{\"rows\": ");
    Path model = dir.resolve("model");
    Files.createDirectories(model);
    for (String f : new String[] {"model.zip", "tokenizer.json", "model.json"}) {
      Files.writeString(model.resolve(f), "garbage");
    }
    String[][] cases = {
      {"inspect", "--master", "local[1]", targets.toString()},
      {"evaluate", "--master", "local[1]", "--model", model.toString(), "--input",
          repo("data/sample/es-en.tiny.jsonl").toString()},
    };
    String[] expected = {
      "distillery: Cannot read targets: _manifest.json is not a valid manifest",
      "distillery: Cannot load model: model.json is not valid JSON",
    };
    String[] file = {targets.resolve("_manifest.json").toString(), model.resolve("model.json").toString()};
    for (int i = 0; i < cases.length; i++) {
      err.getBuffer().setLength(0);
      assertEquals(1, run(cases[i]), err.toString());
      String[] lines = err.toString().strip().split("\n");
      assertEquals(1, lines.length, err.toString());
      assertTrue(lines[0].startsWith(expected[i]) && lines[0].endsWith(file[i]), lines[0]);
    }
    err.getBuffer().setLength(0);
    String[] verbose = java.util.Arrays.copyOf(cases[0], cases[0].length + 1);
    verbose[verbose.length - 1] = "--verbose";
    assertEquals(1, run(verbose));
    assertTrue(err.toString().contains("\tat dev.distillery.prepare.Manifest.read"), err.toString());
  }

  @Test
  void demoRefusesToDeleteAnOutputItDidNotWrite() throws Exception {
    Path mine = dir.resolve("mine");
    Files.createDirectories(mine);
    Files.writeString(mine.resolve("thesis.tex"), "years of work");
    assertEquals(2, run("demo", "--output", mine.toString(), "--sample", repo("data/sample").toString(),
        "--config", repo("conf/examples/demo.conf").toString(), "--teacher", repo("models/teacher-es-en").toString()));
    assertTrue(err.toString().contains("Cannot run the demo: --output holds files the demo did not write"),
        err.toString());
    assertEquals("years of work", Files.readString(mine.resolve("thesis.tex")));
  }

  @Test
  void unusableCorpusExitsOneWithTheReason() throws Exception {
    Path bad = dir.resolve("bad.jsonl");
    Files.writeString(bad, "not json\nnor this\n");
    assertEquals(1, run("train", "--master", "local[2]", "--input", bad.toString(), "--output",
        dir.resolve("m").toString()));
    assertTrue(err.toString().contains("Cannot use corpus: no usable rows"), err.toString());
  }

  @Test
  void trainThenEvaluateOnTheBundledSampleWritesAReport() throws Exception {
    Path model = dir.resolve("model");
    Path report = dir.resolve("report.json");
    String conf = repo("conf/examples/tiny.conf").toString();
    int trained = run("train", "--master", "local[2]", "--config", conf,
        "--input", repo("data/sample/es-en.tiny.jsonl").toString(), "--output", model.toString(),
        "--set", "train.epochs=1");
    assertEquals(0, trained, err.toString());
    assertTrue(Files.exists(model.resolve("model.zip")));
    assertTrue(Files.exists(model.resolve("tokenizer.json")));
    assertTrue(Files.isDirectory(model.resolve("_rejected")));

    int evaluated = run("evaluate", "--master", "local[2]", "--config", conf, "--model", model.toString(),
        "--input", repo("data/sample/es-en.tiny-heldout.jsonl").toString(), "--report", report.toString(),
        "--set", "decode.max-new-tokens=8");
    assertEquals(0, evaluated, err.toString());
    JsonNode json = new ObjectMapper().readTree(report.toFile());
    assertTrue(json.get("bleu").isNumber());
    assertTrue(json.get("chrf").isNumber());
    assertEquals(100, json.get("examples").size());
    assertEquals("Genesis 1:4", json.get("examples").get(0).get("id").asText());
    JsonNode meta = new ObjectMapper().readTree(model.resolve("model.json").toFile());
    assertEquals(300, meta.at("/provenance/corpus/inputRows").asInt());
    assertEquals(meta.at("/provenance/corpus/inputRows").asInt(),
        meta.at("/provenance/corpus/acceptedRows").asInt()
            + meta.at("/provenance/corpus/rejectedByReason/too_many_tokens").asInt(0));
  }

  @Test
  void exportWritesTheShippedTeacherAsOnnxAndReplacesOnlyWithOverwrite() throws Exception {
    Path export = dir.resolve("teacher-onnx");
    String teacher = repo("models/teacher-es-en").toString();
    assertEquals(0, run("export", "--model", teacher, "--output", export.toString(), "--with-past"), err.toString());
    assertTrue(java.nio.file.Files.size(export.resolve("model.onnx")) > 1_000_000);
    assertTrue(java.nio.file.Files.readString(export.resolve("README.md")).contains("with past key values"));
    assertEquals(2, run("export", "--model", teacher, "--output", export.toString()));
    assertTrue(err.toString().contains("Cannot export: output already exists"), err.toString());
    assertEquals(0, run("export", "--model", teacher, "--output", export.toString(), "--overwrite"), err.toString());
    assertTrue(!java.nio.file.Files.readString(export.resolve("README.md")).contains("with past key values"));
  }
}
