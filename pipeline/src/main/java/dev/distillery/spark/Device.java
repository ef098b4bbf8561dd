package dev.distillery.spark;

import dev.distillery.config.ConfigException;
import java.io.Serializable;
import java.util.Map;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

/**
 * Where a model runs: the CPU, or the GPU address Spark scheduled for the current task. Built from
 * {@link TaskContext#resources()}, so a task uses exactly the GPU Spark gave it and two tasks on one
 * executor never share a GPU by accident.
 */
public record Device(String kind, int index) implements Serializable {
  public static final Device CPU = new Device("cpu", -1);

  public static Device gpu(int index) {
    if (index < 0) {
      throw new IllegalArgumentException("Cannot use GPU: index must be >= 0: " + index);
    }
    return new Device("gpu", index);
  }

  /**
   * The device for the running Spark task. With {@code requested = "gpu"} the task must have been
   * scheduled a GPU ({@code spark.task.resource.gpu.amount} and an executor GPU discovery script);
   * otherwise this fails and says how to ask for one.
   */
  public static Device forTask(String requested, TaskContext task) {
    if (requested.equals("cpu")) {
      return CPU;
    }
    Map<String, ResourceInformation> resources =
        task == null ? Map.of() : scala.collection.JavaConverters.mapAsJavaMap(task.resources());
    ResourceInformation gpu = resources.get("gpu");
    if (gpu == null || gpu.addresses().length == 0) {
      throw new ConfigException(
          "Cannot run on GPU: the task was scheduled no GPU; set spark.executor.resource.gpu.amount, "
              + "spark.task.resource.gpu.amount and spark.executor.resource.gpu.discoveryScript "
              + "(conf/gpu-discovery.sh), or prepare.device = cpu: "
              + (task == null ? "no task" : "stage " + task.stageId() + " partition " + task.partitionId()));
    }
    String address = gpu.addresses()[0];
    try {
      return gpu(Integer.parseInt(address.trim()));
    } catch (NumberFormatException e) {
      throw new IllegalStateException("Cannot run on GPU: Spark gave a GPU address that is not a number: " + address, e);
    }
  }

  public boolean isGpu() {
    return kind.equals("gpu");
  }

  @Override
  public String toString() {
    return isGpu() ? "gpu:" + index : "cpu";
  }
}
