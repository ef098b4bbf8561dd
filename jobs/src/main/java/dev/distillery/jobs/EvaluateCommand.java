package dev.distillery.jobs;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.eval.EvaluatePipeline;
import dev.distillery.storage.Location;
import dev.distillery.util.Progress;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "evaluate", mixinStandardHelpOptions = true,
    description = "Decode held-out sources with a model and print corpus BLEU and chrF (sacreBLEU conventions).")
final class EvaluateCommand implements Callable<Integer> {
  @Mixin CommonOptions common;

  @Option(names = "--model", required = true, paramLabel = "MODEL_DIR", description = "A model directory (from train or distill, or an adapted teacher's teacher-lora/ from distill.loss = okd).")
  String model;

  @Option(names = "--input", required = true, paramLabel = "CORPUS", description = "Held-out JSON Lines or Parquet pairs.")
  String input;

  @Option(names = "--report", paramLabel = "FILE", description = "Also write the scores and outputs as JSON.")
  String report;

  @Override
  public Integer call() throws Exception {
    DistilleryConfig config = common.load();
    var spark = common.spark(config);
    EvaluatePipeline.run(spark, config, Location.of(model), input, report == null ? null : Location.of(report),
        new Progress(System.out));
    return 0;
  }
}
