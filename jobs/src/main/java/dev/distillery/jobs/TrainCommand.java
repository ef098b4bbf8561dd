package dev.distillery.jobs;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.storage.Location;
import dev.distillery.train.TrainPipeline;
import dev.distillery.util.Progress;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true,
    description = "Train a model (a teacher, or the reference-only baseline) on source/target pairs with cross-entropy.")
final class TrainCommand implements Callable<Integer> {
  @Mixin CommonOptions common;

  @Option(names = "--input", required = true, paramLabel = "CORPUS", description = "JSON Lines or Parquet corpus.")
  String input;

  @Option(names = "--output", required = true, paramLabel = "MODEL_DIR", description = "Directory for the trained model.")
  String output;

  @Option(names = "--resume",
      description = "Continue from the newest checkpoint in MODEL_DIR/checkpoints (train.checkpoint-every > 0 writes them).")
  boolean resume;

  @Override
  public Integer call() throws Exception {
    DistilleryConfig config = common.load();
    var spark = common.spark(config);
    TrainPipeline.run(spark, config, input, Location.of(output), resume, new Progress(System.out));
    return 0;
  }
}
