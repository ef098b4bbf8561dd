package dev.distillery.jobs;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.distill.DistillPipeline;
import dev.distillery.storage.Location;
import dev.distillery.util.Progress;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "distill", mixinStandardHelpOptions = true,
    description = {"Train a student from prepare's targets with a distillation loss (distill.loss), then evaluate it "
        + "beside the teacher and an optional baseline.",
        "Losses: ce (baseline), kl, seqkd, hybrid, rkl, js, tvd, skl, srkl, gjsd (distill.prefix = teacher or student), "
            + "uld (universal logit distillation, for a student with its own vocabulary: distill.student.tokenizer = "
            + "own or a file), and okd (online KD: LoRA modules on the frozen transformer teacher train with the "
            + "student; the adapted teacher is saved to STUDENT_DIR/teacher-lora)."})
final class DistillCommand implements Callable<Integer> {
  @Mixin CommonOptions common;

  @Option(names = "--targets", required = true, paramLabel = "TARGETS_DIR", description = "A prepare output.")
  String targets;

  @Option(names = "--output", required = true, paramLabel = "STUDENT_DIR", description = "Directory for the student.")
  String output;

  @Option(names = "--resume", description = "Continue from the newest checkpoint in STUDENT_DIR/checkpoints.")
  boolean resume;

  @Option(names = "--baseline", paramLabel = "MODEL_DIR", description = "A reference-only student to compare with.")
  String baseline;

  @Override
  public Integer call() throws Exception {
    DistilleryConfig config = common.load();
    // Locations are qualified once Spark is up, against the file system its configuration names.
    var spark = common.spark(config);
    DistillPipeline.run(spark, config, Location.of(targets), Location.of(output), resume,
        baseline == null ? null : Location.of(baseline), new Progress(System.out));
    return 0;
  }
}
