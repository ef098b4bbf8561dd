package dev.distillery.jobs;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.spark.Sessions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Option;

/** Options every job takes: configuration and Spark master. */
final class CommonOptions {
  @Option(names = "--config", paramLabel = "FILE", description = "HOCON config file (defaults: reference.conf).")
  Path config;

  @Option(names = "--set", paramLabel = "KEY=VALUE",
      description = "Override one config key, e.g. --set train.epochs=2 (repeatable).")
  List<String> overrides = new ArrayList<>();

  @Option(names = "--master", paramLabel = "URL",
      description = "Spark master when not under spark-submit (default: spark.master in config, local[*]).")
  String master;

  @Option(names = Distillery.VERBOSE, description = "Print a failure's stack trace, not only its one-line message.")
  boolean verbose;

  DistilleryConfig load() {
    return ConfigLoader.load(Optional.ofNullable(config), overrides);
  }

  SparkSession spark(DistilleryConfig config) {
    return Sessions.get(config.spark(), Optional.ofNullable(master));
  }
}
