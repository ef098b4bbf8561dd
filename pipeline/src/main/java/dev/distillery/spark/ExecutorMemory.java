package dev.distillery.spark;

import dev.distillery.errors.DataException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.network.util.JavaUtils;

/**
 * Refuses, before any work, a model that cannot fit in an executor. ND4J keeps its arrays off the
 * Java heap, capped by JavaCPP at {@code -Dorg.bytedeco.javacpp.maxbytes}, which defaults to the
 * JVM's {@code -Xmx}, that is {@code spark.executor.memory}. Without this check a too-small executor
 * dies deep inside a task with an OutOfMemoryError that names neither the model nor the setting.
 */
public final class ExecutorMemory {
  private static final Pattern MAX_BYTES = Pattern.compile("-Dorg\\.bytedeco\\.javacpp\\.maxbytes=(\\S+)");

  private ExecutorMemory() {}

  /**
   * @param what what is being done, for the message ("distill", "prepare")
   * @param model the model, for the message ("the student, 18,041,844 parameters")
   * @param bytesNeeded off-heap bytes the model needs on one executor
   * @param advice what to change besides executor memory ("or shrink distill.student")
   */
  public static void require(SparkContext sc, String what, String model, long bytesNeeded, String advice) {
    if (sc.isLocal()) {
      return; // the driver is the executor: its JVM already holds the model
    }
    long available = offHeapLimit(sc.getConf());
    if (bytesNeeded > available) {
      throw new DataException(String.format(
          "Cannot %s: %s needs about %d MiB off-heap per executor, more than the %d MiB ND4J may use there "
              + "(set by spark.executor.memory = %s, or -Dorg.bytedeco.javacpp.maxbytes in "
              + "spark.executor.extraJavaOptions); raise it%s: %d MiB needed",
          what, model, bytesNeeded >> 20, available >> 20, sc.getConf().get("spark.executor.memory", "1g"),
          advice, bytesNeeded >> 20));
    }
  }

  /** The bytes ND4J may allocate off-heap on one executor. */
  static long offHeapLimit(SparkConf conf) {
    Matcher m = MAX_BYTES.matcher(conf.get("spark.executor.extraJavaOptions", ""));
    if (m.find()) {
      return JavaUtils.byteStringAsBytes(m.group(1));
    }
    return conf.getSizeAsBytes("spark.executor.memory", "1g");
  }
}
