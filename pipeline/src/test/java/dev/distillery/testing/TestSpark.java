package dev.distillery.testing;

import java.nio.file.Path;
import org.apache.spark.sql.SparkSession;

/** One local[2] SparkSession shared by every test in the JVM (starting Spark costs seconds). */
public final class TestSpark {
  private static SparkSession session;

  private TestSpark() {}

  public static synchronized SparkSession get() {
    if (session == null) {
      session = SparkSession.builder()
          .master("local[2,2]")
          .appName("distillery-tests")
          .config("spark.ui.enabled", "false")
          .config("spark.sql.shuffle.partitions", "4")
          .getOrCreate();
      session.sparkContext().setLogLevel("ERROR");
    }
    return session;
  }

  /** The bundled sample data, {@code data/sample/NAME} at the repository root. */
  public static Path sample(String name) {
    Path here = Path.of("").toAbsolutePath();
    for (Path p = here; p != null; p = p.getParent()) {
      Path candidate = p.resolve("data").resolve("sample").resolve(name);
      if (java.nio.file.Files.exists(candidate)) {
        return candidate;
      }
    }
    throw new IllegalStateException("Cannot find sample data: not under any parent of " + here + ": " + name);
  }
}
