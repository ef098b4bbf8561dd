package dev.distillery.prepare;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.distillery.spark.Device;
import dev.distillery.storage.Location;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.SparkEnv;

/**
 * {@code _manifest.json}: what a targets directory holds and how it was made. Written last, under a
 * temporary name and renamed, so its presence means the directory is complete.
 *
 * @param positions stored positions per kind of output ({@code reference}, {@code beam}, {@code samples})
 * @param wallSeconds wall time of the whole prepare run
 * @param split plain-text documents split into sentences: {@code documents} and the {@code rows} they became
 *     ({@code inputRows = rows − split.rows + split.documents + rejected})
 * @param input the corpus's absolute URI ({@code file:/…}, {@code hdfs://…}; a plain path before 0.2)
 * @param teacher the teacher directory's absolute URI, where distill's live teacher reads it
 * @param placement where each shard's teacher task ran (executor, host, process id, device), by shard
 * @param files every Parquet file of the targets with its size and sha256, so a missing, extra or
 *     damaged file is found before training ({@link TargetsCheck}); empty in manifests before 0.1.1
 */
public record Manifest(
    int schemaVersion, String input, String teacher, String teacherFingerprint, String tokenizerSha256,
    int vocabSize, int topK, Map<String, Object> decoding, int shards, long rows, Map<String, Long> positions,
    long inputRows, Map<String, Long> rejectedByReason, Map<String, Long> split, List<Placement> placement,
    List<DataFile> files, double wallSeconds,
    String gitCommit, String createdAt, String configSha256) {
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(SerializationFeature.INDENT_OUTPUT)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  /**
   * Where one shard's teacher task ran. {@code executor} is Spark's executor id ({@code driver} in
   * local mode); {@code pid} tells executors in separate JVMs apart.
   */
  public record Placement(int shard, String executor, String host, long pid, String device)
      implements java.io.Serializable {
    static Placement here(int shard, Device device) {
      SparkEnv env = SparkEnv.get();
      return new Placement(shard, env == null ? "driver" : env.executorId(),
          org.apache.spark.util.Utils.localHostName(), ProcessHandle.current().pid(), device.toString());
    }

    /** One entry per shard, by shard; a shard recomputed after a lost executor keeps its last success. */
    static List<Placement> lastPerShard(List<Placement> placements) {
      Map<Integer, Placement> byShard = new TreeMap<>();
      placements.forEach(p -> byShard.put(p.shard(), p));
      return List.copyOf(byShard.values());
    }
  }

  /**
   * One Parquet file of the targets.
   *
   * @param path relative to the targets directory, e.g. {@code shard=3/part-00003-….zstd.parquet}
   * @param bytes its size
   */
  public record DataFile(int shard, String path, long bytes, String sha256) {}

  public Manifest {
    placement = placement == null ? List.of() : List.copyOf(placement); // absent in manifests before 0.1.0
    files = files == null ? List.of() : List.copyOf(files); // absent in manifests before 0.1.1
  }

  public long rejectedRows() {
    return rejectedByReason.values().stream().mapToLong(Long::longValue).sum();
  }

  public void write(Location file) throws IOException {
    file.write(JSON.writeValueAsBytes(this));
  }

  public static Manifest read(Path targetsDir) throws IOException {
    return read(Location.of(targetsDir));
  }

  /** Reads a targets directory's manifest; a directory without one is incomplete or not a targets directory. */
  public static Manifest read(Location targetsDir) throws IOException {
    Location file = targetsDir.resolve(PreparePipeline.MANIFEST);
    if (!file.isFile()) {
      throw new IOException("Cannot read targets: no " + PreparePipeline.MANIFEST
          + " (not a prepare output, or an interrupted one): " + targetsDir);
    }
    Manifest m;
    try {
      m = JSON.readValue(file.readBytes(), Manifest.class);
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new dev.distillery.errors.DataException("Cannot read targets: " + PreparePipeline.MANIFEST
          + " is not a valid manifest (" + e.getOriginalMessage() + "): " + file);
    }
    if (m.schemaVersion() > TargetsSchema.VERSION) {
      throw new IOException("Cannot read targets: schema version " + m.schemaVersion()
          + " is newer than this Distillery reads (" + TargetsSchema.VERSION + "): " + targetsDir);
    }
    return m;
  }
}
