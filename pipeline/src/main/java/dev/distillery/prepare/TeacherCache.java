package dev.distillery.prepare;

import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.spark.Device;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One teacher per executor JVM and device: loaded from the model directory the first time a task
 * needs it, then shared by every later task of that JVM (weights are never broadcast). Callers
 * synchronize on the returned model, which is not thread-safe.
 */
public final class TeacherCache {
  private static final ConcurrentHashMap<String, LanguageModel> TEACHERS = new ConcurrentHashMap<>();
  private static final AtomicInteger LOADS = new AtomicInteger();

  private TeacherCache() {}

  public static LanguageModel get(Path modelDir, Device device) {
    String key = modelDir.toAbsolutePath().normalize() + "@" + device;
    pin(device); // per call: CUDA device selection is per thread, and each task has its own thread
    return TEACHERS.computeIfAbsent(key, k -> {
      try {
        LOADS.incrementAndGet();
        return ModelBundle.load(modelDir);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }

  /** How many teachers this JVM has loaded: tests use it to prove one load per executor. */
  public static int loads() {
    return LOADS.get();
  }

  /**
   * Makes ND4J allocate on the task's GPU. The CPU backend has a single device, so there is nothing
   * to pin; the CUDA backend (the {@code cuda} profile) switches the calling thread's device.
   */
  static void pin(Device device) {
    if (device.isGpu() && Nd4j.getAffinityManager().getNumberOfDevices() > device.index()) {
      Nd4j.getAffinityManager().unsafeSetDevice(device.index());
    }
  }
}
