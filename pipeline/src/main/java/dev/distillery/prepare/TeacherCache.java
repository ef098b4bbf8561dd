package dev.distillery.prepare;

import dev.distillery.model.ModelBundle;
import dev.distillery.model.CausalModel;
import dev.distillery.spark.Device;
import dev.distillery.teacher.OnnxCausalModel;
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
  private static final ConcurrentHashMap<String, CausalModel> TEACHERS = new ConcurrentHashMap<>();
  private static final AtomicInteger LOADS = new AtomicInteger();

  private TeacherCache() {}

  /**
   * @param maxTokens the context length of an ONNX teacher ({@code model.max-tokens}); a Distillery
   *     model knows its own
   */
  public static CausalModel get(Path modelDir, Device device, int maxTokens) {
    String key = modelDir.toAbsolutePath().normalize() + "@" + device;
    pin(device); // per call: CUDA device selection is per thread, and each task has its own thread
    return TEACHERS.computeIfAbsent(key, k -> {
      try {
        LOADS.incrementAndGet();
        return open(modelDir, device, maxTokens);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }

  /**
   * Opens a teacher without caching: a Distillery model directory ({@code model.zip}) or a Hugging
   * Face ONNX export ({@code model.onnx} and {@code tokenizer.json}), on the given device.
   */
  public static CausalModel open(Path dir, Device device, int maxTokens) throws IOException {
    if (OnnxCausalModel.isOnnxDirectory(dir)) {
      return new OnnxCausalModel(dir, device.isGpu() ? device.index() : -1, maxTokens);
    }
    return ModelBundle.load(dir);
  }

  /** sha256 of the teacher's weights file ({@code model.zip} or {@code model.onnx}): its fingerprint. */
  public static String fingerprint(Path dir) throws IOException {
    return OnnxCausalModel.isOnnxDirectory(dir)
        ? dev.distillery.util.Hashing.sha256(dir.resolve(OnnxCausalModel.MODEL_FILE))
        : ModelBundle.fingerprint(dir);
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
