package dev.distillery.spark;

import dev.distillery.config.DistilleryConfig;
import java.util.Optional;
import org.apache.spark.sql.SparkSession;

/** The one place that builds a SparkSession for Distillery's jobs. */
public final class Sessions {
  private Sessions() {}

  /**
   * Under spark-submit the master and settings come from spark-submit; otherwise from
   * {@code --master} or {@code spark.master} in the config (default {@code local[*]}).
   */
  public static SparkSession get(DistilleryConfig.Spark config, Optional<String> master) {
    SparkSession.Builder builder = SparkSession.builder().appName(config.appName());
    boolean underSubmit = System.getProperty("spark.master") != null;
    if (master.isPresent()) {
      builder.master(master.get());
    } else if (!underSubmit) {
      builder.master(config.master());
    }
    if (!underSubmit) {
      builder
          .config("spark.ui.enabled", System.getProperty("spark.ui.enabled", "false"))
          .config("spark.ui.showConsoleProgress", "false")
          // Small local jobs: 200 shuffle partitions would be 200 tiny tasks.
          .config("spark.sql.shuffle.partitions", "8")
          .config("spark.driver.maxResultSize", "2g");
    }
    SparkSession spark = builder.getOrCreate();
    spark.sparkContext().setLogLevel(System.getProperty("distillery.spark.log", "WARN"));
    return spark;
  }
}
