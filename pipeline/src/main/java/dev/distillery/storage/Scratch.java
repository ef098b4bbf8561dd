package dev.distillery.storage;

import dev.distillery.util.FileTrees;
import dev.distillery.util.Hashing;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Local scratch space for the files a library must see on a local disk: Spark's own scratch
 * directory ({@code spark.local.dir}, or the worker's per-application directory on a cluster,
 * deleted with the application) when a Spark JVM runs, else {@code java.io.tmpdir}. Nothing
 * Distillery writes to a remote location stays here: outputs are staged and uploaded, inputs are
 * cached copies.
 */
public final class Scratch {
  private static final ConcurrentHashMap<String, Object> LOCKS = new ConcurrentHashMap<>();
  private static final String COMPLETE = ".complete";

  private Scratch() {}

  /** The root of this JVM's scratch space, created if needed. */
  public static Path root() throws IOException {
    var env = org.apache.spark.SparkEnv.get();
    Path base = env != null
        ? Path.of(org.apache.spark.util.Utils.getLocalDir(env.conf()))
        : Path.of(System.getProperty("java.io.tmpdir"));
    Path root = base.resolve("distillery-" + ProcessHandle.current().pid());
    Files.createDirectories(root);
    return root;
  }

  /** A fresh empty directory under {@link #root}; the caller deletes it. */
  public static Path newDirectory(String prefix) throws IOException {
    return Files.createTempDirectory(root(), prefix + "-");
  }

  /**
   * A local copy of a remote file or tree, downloaded once per JVM and kept while the remote
   * listing (paths, sizes, modification times) is unchanged.
   */
  static Path cached(Location remote) throws IOException {
    String key = Hashing.sha256(remote.uri()).substring(0, 16);
    synchronized (LOCKS.computeIfAbsent(key, k -> new Object())) {
      String signature = remote.listingSignature();
      Path dir = root().resolve("cache").resolve(key);
      Path marker = dir.resolve(COMPLETE);
      Path copy = dir.resolve(remote.name());
      if (Files.isRegularFile(marker) && Files.readString(marker, StandardCharsets.UTF_8).equals(signature)) {
        return copy;
      }
      FileTrees.deleteRecursively(dir);
      Files.createDirectories(dir);
      remote.copyTo(copy);
      Files.writeString(marker, signature, StandardCharsets.UTF_8);
      return copy;
    }
  }

  /**
   * Writes files into the directory {@code target} with {@code writer}: in place when local, else
   * into a staging directory here whose files are then uploaded one by one, each renamed over its
   * old version ({@link Location#write}); other files already in {@code target} stay.
   */
  public static void writeFiles(Location target, TreeWriter writer) throws IOException {
    if (target.isLocal()) {
      writer.write(target.localPath());
      return;
    }
    Path staged = newDirectory("upload");
    try {
      writer.write(staged);
      try (var files = Files.list(staged)) {
        for (Path f : files.sorted().toList()) {
          Location to = target.resolve(f.getFileName().toString());
          if (Files.isDirectory(f)) {
            to.replaceWith(f);
          } else {
            to.write(out -> Files.copy(f, out));
          }
        }
      }
    } finally {
      FileTrees.deleteRecursively(staged);
    }
  }

  /** Writes a file or directory at a local path it may create. */
  @FunctionalInterface
  public interface TreeWriter {
    void write(Path local) throws IOException;
  }
}
