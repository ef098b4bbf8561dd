package dev.distillery.jobs;

import dev.distillery.export.ModelExport;
import dev.distillery.storage.Location;
import dev.distillery.util.Progress;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "export", mixinStandardHelpOptions = true,
    description = {"Export a model directory to ONNX with a Hugging Face tokenizer.json (the optimum decoder layout):",
        "model.onnx, tokenizer.json, config.json, generation_config.json and a README.md model card.",
        "evaluate --model, prepare --teacher and distill open the export like any model directory."})
final class ExportCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, paramLabel = "MODEL_DIR",
      description = "A model directory from train or distill (a distill output's model/).")
  String model;

  @Option(names = "--output", required = true, paramLabel = "EXPORT_DIR", description = "Directory for the export.")
  String output;

  @Option(names = "--with-past",
      description = "Add past_key_values.N.key/value inputs and present.N.key/value outputs (transformer only), "
          + "so a serving stack decodes one token per step.")
  boolean withPast;

  @Option(names = "--overwrite", description = "Replace a previous export in EXPORT_DIR (and nothing else).")
  boolean overwrite;

  @Option(names = Distillery.VERBOSE, description = "Print a failure's stack trace, not only its one-line message.")
  boolean verbose;

  @Override
  public Integer call() throws Exception {
    ModelExport.run(Location.of(model), Location.of(output), withPast, overwrite, new Progress(System.out));
    return 0;
  }
}
