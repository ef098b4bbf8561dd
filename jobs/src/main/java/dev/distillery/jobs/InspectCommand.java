package dev.distillery.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.prepare.Inspect;
import dev.distillery.storage.Location;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "inspect", mixinStandardHelpOptions = true,
    description = "Summarize a targets directory: rows, tokens, shards, storage, top-k coverage, entropy, examples.")
final class InspectCommand implements Callable<Integer> {
  @Mixin CommonOptions common;

  @Parameters(index = "0", paramLabel = "TARGETS_DIR", description = "A prepare output directory.")
  String targets;

  @Option(names = "--json", description = "Print JSON instead of text.")
  boolean json;

  @Option(names = "--examples", defaultValue = "3", paramLabel = "N", description = "Decoded examples to show (default: ${DEFAULT-VALUE}).")
  int examples;

  @Option(names = "--student-tokenizer", paramLabel = "FILE",
      description = "A student tokenizer of its own (a Distillery BPE or a tokenizer.json): report how the teacher's "
          + "references align with its tokens and how much of the teacher's top-k mass maps to them.")
  String studentTokenizer;

  @Override
  public Integer call() throws Exception {
    DistilleryConfig config = common.load();
    var spark = common.spark(config);
    Map<String, Object> report = Inspect.run(spark, Location.of(targets), examples,
        studentTokenizer == null ? null : dev.distillery.tokenizer.TextTokenizer.load(Location.of(studentTokenizer)));
    System.out.println(json
        ? new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report)
        : Inspect.format(report));
    return 0;
  }
}
