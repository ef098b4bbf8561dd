package dev.distillery.jobs;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.distill.DistillPipeline;
import dev.distillery.eval.EvaluatePipeline;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.spark.Sessions;
import dev.distillery.train.Progress;
import dev.distillery.train.TrainPipeline;
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
    description = "The whole pipeline on the bundled sample (data/sample): train a teacher, evaluate it, prepare its "
        + "targets, distill a ce baseline and two KD students, and print the comparison.")
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

  @Option(names = "--losses", paramLabel = "LOSS", split = ",", defaultValue = "seqkd,hybrid",
      description = "KD losses to compare with the ce baseline (default: ${DEFAULT-VALUE}).")
  List<String> losses;

  @Option(names = "--student-epochs", paramLabel = "N", defaultValue = "5",
      description = "Epochs for the students, which see far fewer pairs than the teacher (default: ${DEFAULT-VALUE}).")
  int studentEpochs;

  @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override one config key (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--master", paramLabel = "URL", description = "Spark master (default: local[*]).")
  String master;

  @Override
  public Integer call() throws Exception {
    List<String> o = new ArrayList<>(overrides);
    o.add("prepare.overwrite=true");
    DistilleryConfig conf = ConfigLoader.load(Optional.of(config), o);
    SparkSession spark = Sessions.get(conf.spark(), Optional.ofNullable(master));
    Progress progress = new Progress(System.out);
    Path train = sample.resolve("es-en.train.jsonl");
    Path heldout = sample.resolve("es-en.heldout.jsonl");
    dev.distillery.util.FileTrees.deleteRecursively(output);
    Files.createDirectories(output);
    int stages = 4 + losses.size();

    progress.line("demo 1/%d: train a teacher on %s", stages, train);
    TrainPipeline.run(spark, conf, train.toString(), output.resolve("teacher"), progress);
    progress.line("demo 2/%d: evaluate the teacher on %s", stages, heldout);
    EvaluatePipeline.Result teacher = EvaluatePipeline.run(spark, conf, output.resolve("teacher"), heldout.toString(),
        output.resolve("teacher-eval.json"), progress);

    Path slice = output.resolve("distill-input.jsonl");
    List<String> lines = Files.readAllLines(train);
    Files.write(slice, lines.subList(0, Math.min(distillRows, lines.size())));
    progress.line("demo 3/%d: prepare the teacher's targets for %d pairs", stages, Math.min(distillRows, lines.size()));
    PreparePipeline.run(spark, conf, slice.toString(), output.resolve("teacher"), output.resolve("targets"), progress);

    Map<String, DistillPipeline.Scores> students = new LinkedHashMap<>();
    List<String> all = new ArrayList<>(List.of("ce"));
    DistillPipeline.Scores teacherOnSplit = null;
    all.addAll(losses);
    int stage = 4;
    for (String loss : all) {
      progress.line("demo %d/%d: distill a student with loss %s", stage++, stages, loss);
      List<String> lo = new ArrayList<>(o);
      lo.add("distill.loss=" + loss);
      lo.add("train.epochs=" + studentEpochs);
      DistilleryConfig c = ConfigLoader.load(Optional.of(config), lo);
      DistillPipeline.Summary s = DistillPipeline.run(spark, c, output.resolve("targets"), output.resolve("student-" + loss),
          false, null, progress);
      students.put(loss, s.table().get(1));
      teacherOnSplit = s.table().get(0);
    }
    progress.line("%nteacher on the %d held-out pairs: %s chrF %.2f, copying the source %.2f", teacher.examples(),
        conf.decode().strategy(), teacher.model().chrf(), teacher.copySource().chrf());
    progress.line("on the targets' held-out split (distill.eval-examples at most):");
    progress.line("%-16s %11s %11s %9s %9s %10s", "system", "greedy BLEU", "greedy chrF", "beam BLEU", "beam chrF",
        "ref ppl");
    progress.line("%-16s %11s %11s %9.2f %9.2f %10.2f", "teacher", fmt(teacherOnSplit.greedyBleu()),
        fmt(teacherOnSplit.greedyChrf()), teacherOnSplit.beamBleu(), teacherOnSplit.beamChrf(),
        teacherOnSplit.referencePerplexity());
    for (Map.Entry<String, DistillPipeline.Scores> e : students.entrySet()) {
      DistillPipeline.Scores s = e.getValue();
      progress.line("%-16s %11.2f %11.2f %9.2f %9.2f %10.2f", "student " + e.getKey(), s.greedyBleu(), s.greedyChrf(),
          s.beamBleu(), s.beamChrf(), s.referencePerplexity());
    }
    progress.line("demo done in %.0f s; everything is in %s (report.html per student)", progress.elapsedSeconds(), output);
    return 0;
  }

  private static String fmt(double v) {
    return Double.isNaN(v) ? "-" : String.format(java.util.Locale.ROOT, "%.2f", v);
  }
}
