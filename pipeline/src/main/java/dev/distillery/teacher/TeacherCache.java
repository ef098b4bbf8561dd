package dev.distillery.teacher;

import dev.distillery.model.CausalModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.spark.Device;
import dev.distillery.storage.Location;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Teachers per executor JVM and device: loaded from the model directory the first time a task
 * needs one (weights are never broadcast), then lent to tasks with {@link #borrow}. On the CPU every
 * task slot that scores at once gets its own copy of a Distillery model (copied in memory from the
 * first, never reloaded), so {@code local[2]} or a 2-core executor scores two shards in parallel; a
 * GPU teacher and an ONNX teacher are one shared model that tasks take turns on.
 */
public final class TeacherCache {
  private static final ConcurrentHashMap<String, Pool> POOLS = new ConcurrentHashMap<>();
  private static final AtomicInteger LOADS = new AtomicInteger();

  private TeacherCache() {}

  /** A teacher lent to one task until {@link #close}; the model is the task's alone meanwhile. */
  public static final class Lease implements AutoCloseable {
    private final Pool pool;
    private final CausalModel model;

    private Lease(Pool pool, CausalModel model) {
      this.pool = pool;
      this.model = model;
    }

    public CausalModel model() {
      return model;
    }

    @Override
    public void close() {
      pool.giveBack(model);
    }
  }

  /** The models of one teacher on one device: the loaded one and its idle copies. */
  private static final class Pool {
    private final CausalModel first;
    private final boolean copies;
    private final java.util.concurrent.ConcurrentLinkedDeque<CausalModel> idle =
        new java.util.concurrent.ConcurrentLinkedDeque<>();
    private final java.util.concurrent.locks.ReentrantLock shared = new java.util.concurrent.locks.ReentrantLock();

    Pool(CausalModel first, Device device) {
      this.first = first;
      this.copies = !device.isGpu() && first instanceof dev.distillery.model.LanguageModel;
      if (copies) {
        idle.add(first);
      }
    }

    CausalModel take() {
      if (!copies) {
        shared.lock();
        return first;
      }
      CausalModel m = idle.pollFirst();
      return m != null ? m : ((dev.distillery.model.LanguageModel) first).copy();
    }

    void giveBack(CausalModel m) {
      if (copies) {
        idle.addFirst(m);
      } else {
        shared.unlock();
      }
    }
  }

  /**
   * Lends the teacher in {@code modelDir} on {@code device} to the calling task (load on first use):
   * use it only inside try-with-resources.
   *
   * @param maxTokens the context length of an ONNX teacher ({@code model.max-tokens}); a Distillery
   *     model knows its own
   */
  public static Lease borrow(Location modelDir, Device device, int maxTokens) {
    String key = modelDir.uri() + "@" + device;
    pin(device); // per call: CUDA device selection is per thread, and each task has its own thread
    Pool pool = POOLS.computeIfAbsent(key, k -> {
      try {
        LOADS.incrementAndGet();
        return new Pool(open(modelDir, device, maxTokens), device);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
    return new Lease(pool, pool.take());
  }

  /**
   * Opens a teacher without caching: a Distillery model directory ({@code model.zip}) or a Hugging
   * Face ONNX export ({@code model.onnx} and {@code tokenizer.json}), on the given device.
   */
  public static Lease borrow(Path modelDir, Device device, int maxTokens) {
    return borrow(Location.of(modelDir), device, maxTokens);
  }

  /**
   * Opens a teacher without caching: a Distillery model directory ({@code model.zip}) or a Hugging
   * Face ONNX export ({@code model.onnx} and {@code tokenizer.json}), on the given device. A remote
   * directory is read from this JVM's local copy ({@link Location#localCopy}).
   */
  public static CausalModel open(Location dir, Device device, int maxTokens) throws IOException {
    if (OnnxCausalModel.isOnnxDirectory(dir)) {
      return new OnnxCausalModel(dir.localCopy(), device.isGpu() ? device.index() : -1, maxTokens);
    }
    return ModelBundle.load(dir);
  }

  public static CausalModel open(Path dir, Device device, int maxTokens) throws IOException {
    return open(Location.of(dir), device, maxTokens);
  }

  /** sha256 of the teacher's weights file ({@code model.zip} or {@code model.onnx}): its fingerprint. */
  public static String fingerprint(Location dir) throws IOException {
    if (OnnxCausalModel.isOnnxDirectory(dir)) {
      try (var in = dir.resolve(OnnxCausalModel.MODEL_FILE).open()) {
        return dev.distillery.util.Hashing.sha256(in);
      }
    }
    return ModelBundle.fingerprint(dir);
  }

  public static String fingerprint(Path dir) throws IOException {
    return fingerprint(Location.of(dir));
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
