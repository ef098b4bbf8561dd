package dev.distillery.jobs;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.storage.Location;
import dev.distillery.util.Progress;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "prepare", mixinStandardHelpOptions = true,
    description = "Run the teacher over a corpus and write its outputs and top-k distributions as sharded Parquet.")
final class PrepareCommand implements Callable<Integer> {
  @Mixin CommonOptions common;

  @Option(names = "--input", required = true, paramLabel = "CORPUS", description = "JSON Lines or Parquet corpus.")
  String input;

  @Option(names = "--teacher", required = true, paramLabel = "MODEL_DIR", description = "The teacher's model directory.")
  String teacher;

  @Option(names = "--output", required = true, paramLabel = "TARGETS_DIR", description = "Directory for the targets.")
  String output;

  @Option(names = "--overwrite", description = "Replace a previous prepare output in TARGETS_DIR, only once the new one is complete (same as prepare.overwrite=true).")
  boolean overwrite;

  @Override
  public Integer call() throws Exception {
    if (overwrite) {
      common.overrides.add("prepare.overwrite=true");
    }
    DistilleryConfig config = common.load();
    var spark = common.spark(config);
    PreparePipeline.run(spark, config, input, Location.of(teacher), Location.of(output), new Progress(System.out));
    return 0;
  }
}
