package dev.distillery.jobs;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.distill.DistillPipeline;
import dev.distillery.eval.EvaluatePipeline;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.spark.Sessions;
import dev.distillery.train.TrainPipeline;
import dev.distillery.util.Progress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "The whole pipeline on the bundled sample (data/sample) with the shipped teacher (or, without it, a "
        + "small one trained first): evaluate the teacher, prepare its targets, distill a ce baseline and KD students, "
        + "and compare them on verses the teacher never saw.")
final class DemoCommand implements Callable<Integer> {
  @Option(names = "--sample", paramLabel = "DIR", defaultValue = "data/sample",
      description = "Folder with es-en.train.jsonl and es-en.heldout.jsonl (default: ${DEFAULT-VALUE}).")
  Path sample;

  @Option(names = "--config", paramLabel = "FILE", defaultValue = "conf/examples/demo.conf",
      description = "Config for the demo (default: ${DEFAULT-VALUE}).")
  Path config;

  @Option(names = "--output", paramLabel = "DIR", defaultValue = "runs/demo",
      description = "Where models, targets and reports go; replaced on every run (default: ${DEFAULT-VALUE}).")
  Path output;

  @Option(names = "--distill-rows", paramLabel = "N", defaultValue = "1000",
      description = "Training pairs the teacher labels for the students (default: ${DEFAULT-VALUE}).")
  int distillRows;

  @Option(names = "--losses", paramLabel = "LOSS", split = ",", defaultValue = "kl,seqkd,hybrid",
      description = "KD losses to compare with the ce baseline (default: ${DEFAULT-VALUE}).")
  List<String> losses;

  @Option(names = "--student-epochs", paramLabel = "N", defaultValue = "4",
      description = "Epochs for the students, which see far fewer pairs than the teacher; hybrid, whose epoch is twice "
          + "the steps (every pair at token and at sentence level), gets half as many (default: ${DEFAULT-VALUE}).")
  int studentEpochs;

  @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override one config key (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Option(names = Distillery.VERBOSE, description = "Print a failure's stack trace, not only its one-line message.")
  boolean verbose;

  @Option(names = "--master", paramLabel = "URL", description = "Spark master (default: local[*]).")
  String master;

  @Option(names = "--teacher", paramLabel = "MODEL_DIR", defaultValue = "models/teacher-es-en",
      description = "The teacher to distill (default: the shipped one, ${DEFAULT-VALUE}); if it is not there, the "
          + "demo first trains a small teacher on the sample.")
  Path teacherDir;

  @Override
  public Integer call() throws Exception {
    List<String> o = new ArrayList<>(overrides);
    o.add("prepare.overwrite=true");
    DistilleryConfig conf = ConfigLoader.load(Optional.of(config), o);
    replaceable(output, List.of(teacherDir, sample, config));
    SparkSession spark = Sessions.get(conf.spark(), Optional.ofNullable(master));
    Progress progress = new Progress(System.out);
    Path train = sample.resolve("es-en.train.jsonl");
    boolean shipped = Files.isRegularFile(teacherDir.resolve(dev.distillery.model.ModelBundle.META_FILE));
    // The shipped teacher saw every book but the dev and test books: judge everything on test-book verses.
    Path heldout = shipped && Files.isRegularFile(sample.resolve("es-en.test.jsonl"))
        ? sample.resolve("es-en.test.jsonl") : sample.resolve("es-en.heldout.jsonl");
    dev.distillery.util.FileTrees.deleteRecursively(output);
    Files.createDirectories(output);
    Files.writeString(output.resolve(MARKER), "written by bin/distillery demo; a rerun replaces this directory\n");
    int stages = 5 + losses.size();

    Path teacherModel;
    if (shipped) {
      teacherModel = teacherDir;
      progress.line("demo 1/%d: the shipped teacher %s (%s)", stages, teacherDir,
          dev.distillery.model.ModelBundle.metadata(teacherDir).get("shape"));
    } else {
      teacherModel = output.resolve("teacher");
      progress.line("demo 1/%d: no teacher at %s; train a small one on %s", stages, teacherDir, train);
      TrainPipeline.run(spark, conf, train.toString(), teacherModel, progress);
    }
    progress.line("demo 2/%d: evaluate the teacher on %s", stages, heldout);
    EvaluatePipeline.Result teacher = EvaluatePipeline.run(spark, conf, teacherModel, heldout.toString(),
        output.resolve("teacher-eval.json"), progress);

    Path slice = output.resolve("distill-input.jsonl");
    List<String> lines = Files.readAllLines(train);
    Files.write(slice, lines.subList(0, Math.min(distillRows, lines.size())));
    progress.line("demo 3/%d: prepare the teacher's targets for %d pairs", stages, Math.min(distillRows, lines.size()));
    PreparePipeline.run(spark, conf, slice.toString(), teacherModel, output.resolve("targets"), progress);

    Map<String, dev.distillery.distill.SystemScores> students = new LinkedHashMap<>();
    Map<String, EvaluatePipeline.Result> unseen = new LinkedHashMap<>();
    List<String> all = new ArrayList<>(List.of("ce"));
    all.addAll(losses);
    int stage = 4;
    for (String loss : all) {
      progress.line("demo %d/%d: distill a student with loss %s", stage++, stages, loss);
      List<String> lo = new ArrayList<>(o);
      lo.add("distill.loss=" + loss);
      lo.add("train.epochs=" + (loss.equals("hybrid") ? Math.max(1, studentEpochs / 2) : studentEpochs));
      // The students' recipe (demo.conf's train.* keys also train the small fallback teacher). Measured on the
      // demo's targets, 120 steps of ce: validation cross-entropy 5.53 at a peak rate of 0.003, 5.16 at 0.005, where
      // 240 steps at 0.001 reached 5.61. One parameter averaging per epoch (every 16 minibatches): Adam's moments
      // travel between rounds, so rarer rounds cost no loss and save the rounds' overhead.
      lo.addAll(List.of("train.learning-rate=0.005", "train.schedule=cosine", "train.warmup-steps=20",
          "train.averaging-frequency=16"));
      DistilleryConfig c = ConfigLoader.load(Optional.of(config), lo);
      Path dir = output.resolve("student-" + loss);
      DistillPipeline.Summary s = DistillPipeline.run(spark, c, output.resolve("targets"), dir, false, null, progress);
      students.put(loss, s.table().get(s.table().size() - 1));
      unseen.put(loss, EvaluatePipeline.run(spark, c, dir.resolve("model"), heldout.toString(),
          dir.resolve("eval-unseen.json"), progress));
    }
    progress.line("%non %d held-out pairs %s (%s decoding):", teacher.examples(), heldout, conf.decode().strategy());
    progress.line("%-16s %9s %9s %9s %10s %10s %9s", "system", "BLEU", "chrF", "len ratio", "vocab KL", "ref ppl",
        "</s> top");
    progress.line("%-16s %9.2f %9.2f %9.2f %10s %10s %9s", "copy the source", teacher.copySource().bleu(),
        teacher.copySource().chrf(), teacher.copySource().lengthRatio(), "", "", "");
    progress.line("%-16s %9.2f %9.2f %9.2f %10s %10.2f %9s", "teacher", teacher.model().bleu(), teacher.model().chrf(),
        teacher.model().lengthRatio(), "", Math.exp(teacher.referenceCrossEntropy()), "");
    for (String loss : all) {
      EvaluatePipeline.Result r = unseen.get(loss);
      dev.distillery.distill.SystemScores s = students.get(loss);
      progress.line("%-16s %9.2f %9.2f %9.2f %10s %10.2f %9s", "student " + loss, r.model().bleu(), r.model().chrf(),
          r.model().lengthRatio(), fmt(s.vocabKl()), Math.exp(r.referenceCrossEntropy()), fmt(100 * s.eosArgmax()) + "%");
    }
    progress.line("(len ratio: output characters / reference characters; vocab KL and </s> top: on the targets' own "
        + "held-out split, against the live teacher)");
    double ce = unseen.get("ce").model().chrf();
    for (String loss : losses) {
      double kd = unseen.get(loss).model().chrf();
      if (kd > ce) {
        progress.line("student %s beats ce by %.2f chrF (one seed: not a significance test)", loss, kd - ce);
      } else {
        dev.distillery.distill.SystemScores s = students.get(loss);
        dev.distillery.distill.SystemScores base = students.get("ce");
        progress.line("student %s does not beat ce here (%.2f chrF below): its outputs are %.2f of the references' "
            + "length against ce's %.2f, its KL to the teacher is %s against ce's %s and its argmax is </s> at %s%% of "
            + "positions against %s%%; with %d pairs and %d epochs the students see little of the teacher (one seed: "
            + "not a significance test)", loss, ce - kd, unseen.get(loss).model().lengthRatio(),
            unseen.get("ce").model().lengthRatio(), fmt(s.vocabKl()), fmt(base.vocabKl()), fmt(100 * s.eosArgmax()),
            fmt(100 * base.eosArgmax()), Math.min(distillRows, lines.size()), studentEpochs);
      }
    }
    String best = all.get(0);
    for (String loss : all) {
      if (unseen.get(loss).model().chrf() > unseen.get(best).model().chrf()) {
        best = loss;
      }
    }
    Path bestModel = output.resolve("student-" + best).resolve("model");
    boolean withPast = "transformer".equals(dev.distillery.model.ModelBundle.metadata(bestModel).get("architecture"));
    progress.line("demo %d/%d: export the best student (%s, chrF %.2f) to ONNX", stage, stages, best,
        unseen.get(best).model().chrf());
    dev.distillery.export.ModelExport.run(bestModel, output.resolve("export"), withPast, false, progress);
    progress.line("serve it with ONNX Runtime and Hugging Face tokenizers: %s (README.md there; the README's "
        + "\"Export and serve\" section)", output.resolve("export"));
    progress.line("demo done in %.0f s; everything is in %s (report.html per student)", progress.elapsedSeconds(), output);
    return 0;
  }

  /** Marks a directory the demo wrote, which a rerun may delete and write again. */
  static final String MARKER = ".distillery-demo";

  /** Refuses to delete an output that holds an input or files the demo did not write. */
  private static void replaceable(Path output, List<Path> inputs) throws java.io.IOException {
    Path out = output.toAbsolutePath().normalize();
    for (Path input : inputs) {
      if (input.toAbsolutePath().normalize().startsWith(out)) {
        throw new dev.distillery.config.ConfigException("Cannot run the demo: --output holds one of its inputs ("
            + input + "), which a rerun would delete: " + output);
      }
    }
    if (Files.isRegularFile(out)) {
      throw new dev.distillery.config.ConfigException("Cannot run the demo: --output is a file: " + output);
    }
    // Demos before the marker are recognized by their targets.
    boolean demo = Files.isRegularFile(out.resolve(MARKER))
        || Files.isRegularFile(out.resolve("targets").resolve(PreparePipeline.MANIFEST));
    if (Files.isDirectory(out) && !demo) {
      try (var entries = Files.list(out)) {
        if (entries.findAny().isPresent()) {
          throw new dev.distillery.config.ConfigException("Cannot run the demo: --output holds files the demo did not "
              + "write (no " + MARKER + "), which a rerun would delete: " + output);
        }
      }
    }
  }

  private static String fmt(double v) {
    return Double.isNaN(v) ? "-" : String.format(java.util.Locale.ROOT, "%.2f", v);
  }
}
