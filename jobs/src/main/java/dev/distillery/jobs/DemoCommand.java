package dev.distillery.jobs;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.eval.EvaluatePipeline;
import dev.distillery.spark.Sessions;
import dev.distillery.train.Progress;
import dev.distillery.train.TrainPipeline;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Run the whole pipeline on the bundled sample (data/sample): train a teacher, evaluate it.")
final class DemoCommand implements Callable<Integer> {
  @Option(names = "--sample", paramLabel = "DIR", defaultValue = "data/sample",
      description = "Folder with es-en.train.jsonl and es-en.heldout.jsonl (default: ${DEFAULT-VALUE}).")
  Path sample;

  @Option(names = "--config", paramLabel = "FILE", defaultValue = "conf/examples/demo.conf",
      description = "Config for the demo (default: ${DEFAULT-VALUE}).")
  Path config;

  @Option(names = "--output", paramLabel = "DIR", defaultValue = "runs/demo",
      description = "Where models and reports go (default: ${DEFAULT-VALUE}).")
  Path output;

  @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Override one config key (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--master", paramLabel = "URL", description = "Spark master (default: local[*]).")
  String master;

  @Override
  public Integer call() throws Exception {
    DistilleryConfig conf = ConfigLoader.load(Optional.of(config), overrides);
    SparkSession spark = Sessions.get(conf.spark(), Optional.ofNullable(master));
    Progress progress = new Progress(System.out);
    Path train = sample.resolve("es-en.train.jsonl");
    Path heldout = sample.resolve("es-en.heldout.jsonl");
    Files.createDirectories(output);
    progress.line("demo 1/2: train a teacher on %s", train);
    TrainPipeline.run(spark, conf, train.toString(), output.resolve("teacher"), progress);
    progress.line("demo 2/2: evaluate it on %s", heldout);
    EvaluatePipeline.Result r = EvaluatePipeline.run(spark, conf, output.resolve("teacher"), heldout.toString(),
        output.resolve("teacher-eval.json"), progress);
    progress.line("demo done in %.0f s: teacher chrF %.2f vs copy-source %.2f; outputs in %s",
        progress.elapsedSeconds(), r.model().chrf(), r.copySource().chrf(), output);
    return 0;
  }
}
