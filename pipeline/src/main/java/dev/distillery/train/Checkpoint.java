package dev.distillery.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.storage.Location;
import dev.distillery.storage.Scratch;
import dev.distillery.util.FileTrees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Optional;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

/**
 * A training checkpoint: the graph with its updater (Adam) state, and where training stood.
 * Written to {@code step-N.tmp/} (on a remote file system: a hidden sibling) and renamed to
 * {@code step-N/} only when complete, so a crash while
 * writing leaves a directory that {@link #latest} ignores; a complete one damaged later (a lost
 * write, a truncated copy) is found by reading its files whole, and {@link #latest} then falls back
 * to the newest intact one, saying so. {@link #prune} keeps the newest few.
 *
 * @param epoch the epoch in progress (1-based)
 * @param nextIndex the first minibatch index of that epoch not yet fitted
 * @param step minibatches fitted so far, all workers together
 * @param tokens sequence positions fitted so far
 * @param examples training sequences fitted so far (0 in checkpoints before 0.1.1)
 * @param seconds training time so far, over every run that led here (0 before 0.1.1)
 */
public record Checkpoint(int epoch, long nextIndex, long step, long tokens, String configSha256, long examples,
    double seconds) {
  public Checkpoint(int epoch, long nextIndex, long step, long tokens, String configSha256) {
    this(epoch, nextIndex, step, tokens, configSha256, 0, 0);
  }

  static final String MODEL = "model.zip";
  static final String STATE = "state.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  public void write(Path dir, ComputationGraph graph) throws IOException {
    Files.createDirectories(dir);
    Path tmp = dir.resolve("step-" + step + ".tmp");
    Path done = dir.resolve("step-" + step);
    FileTrees.deleteRecursively(tmp);
    Files.createDirectories(tmp);
    writeFiles(tmp, graph);
    FileTrees.deleteRecursively(done);
    Files.move(tmp, done, StandardCopyOption.ATOMIC_MOVE);
  }

  /**
   * Writes {@code step-N/} under {@code dir} on any file system: a remote one gets a directory
   * written in local scratch space and renamed into place whole ({@link Location#replaceWith}).
   */
  public void write(Location dir, ComputationGraph graph) throws IOException {
    if (dir.isLocal()) {
      write(dir.localPath(), graph);
      return;
    }
    Path staged = Scratch.newDirectory("checkpoint");
    try {
      Path local = staged.resolve("step-" + step);
      Files.createDirectories(local);
      writeFiles(local, graph);
      dir.resolve("step-" + step).replaceWith(local);
    } finally {
      FileTrees.deleteRecursively(staged);
    }
  }

  private void writeFiles(Path local, ComputationGraph graph) throws IOException {
    ModelSerializer.writeModel(graph, local.resolve(MODEL).toFile(), true);
    JSON.writeValue(local.resolve(STATE).toFile(), this);
  }

  /** The newest intact checkpoint under {@code dir}, if any; damaged newer ones are reported on stderr. */
  public static Optional<Path> latest(Path dir) throws IOException {
    return latest(Location.of(dir), System.err::println).map(Location::localPath);
  }

  public static Optional<Path> latest(Path dir, java.util.function.Consumer<String> warnings) throws IOException {
    return latest(Location.of(dir), warnings).map(Location::localPath);
  }

  /**
   * The newest intact checkpoint under {@code dir}, if any.
   *
   * @param warnings receives one line for each newer checkpoint skipped as damaged
   */
  public static Optional<Location> latest(Location dir, java.util.function.Consumer<String> warnings)
      throws IOException {
    for (Location p : complete(dir)) {
      Optional<String> damage = damage(p);
      if (damage.isEmpty()) {
        return Optional.of(p);
      }
      warnings.accept("checkpoint " + p + " is damaged (" + damage.get() + "): falling back to an older one");
    }
    return Optional.empty();
  }

  /** Complete checkpoints ({@code step-N} with both files), newest first. */
  public static java.util.List<Path> complete(Path dir) throws IOException {
    return complete(Location.of(dir)).stream().map(Location::localPath).toList();
  }

  /** Complete checkpoints ({@code step-N} with both files), newest first; empty if {@code dir} is missing. */
  public static java.util.List<Location> complete(Location dir) throws IOException {
    java.util.List<Location> found = new java.util.ArrayList<>();
    for (Location p : dir.list()) {
      if (p.name().matches("step-\\d+") && p.resolve(STATE).isFile() && p.resolve(MODEL).isFile()) {
        found.add(p);
      }
    }
    found.sort(Comparator.comparingLong((Location p) -> Long.parseLong(p.name().substring(5))).reversed());
    return found;
  }

  /**
   * What is wrong with a complete checkpoint, if anything: its state must parse and every entry of
   * its model zip must read to the end with a matching CRC (a truncated or overwritten zip fails).
   */
  static Optional<String> damage(Location checkpoint) {
    try {
      readState(checkpoint);
    } catch (IOException | RuntimeException e) {
      return Optional.of(STATE + ": " + e.getMessage());
    }
    // A remote checkpoint is read from its local copy, which readGraph then reuses.
    try (java.util.zip.ZipFile zip = new java.util.zip.ZipFile(checkpoint.resolve(MODEL).localCopy().toFile())) {
      byte[] buffer = new byte[1 << 16];
      for (var entries = zip.entries(); entries.hasMoreElements(); ) {
        try (var in = zip.getInputStream(entries.nextElement())) {
          while (in.read(buffer) >= 0) {
            // reading to the end checks the entry's CRC
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      return Optional.of(MODEL + ": " + e.getMessage());
    }
    return Optional.empty();
  }

  /** Deletes all but the newest {@code keep} complete checkpoints under {@code dir}; returns those deleted. */
  public static java.util.List<Path> prune(Path dir, int keep) throws IOException {
    return prune(Location.of(dir), keep).stream().map(Location::localPath).toList();
  }

  public static java.util.List<Location> prune(Location dir, int keep) throws IOException {
    java.util.List<Location> all = complete(dir);
    java.util.List<Location> deleted = new java.util.ArrayList<>();
    for (Location p : all.subList(Math.min(keep, all.size()), all.size())) {
      p.delete();
      deleted.add(p);
    }
    return deleted;
  }

  public static Checkpoint readState(Location checkpoint) throws IOException {
    return JSON.readValue(checkpoint.resolve(STATE).readBytes(), Checkpoint.class);
  }

  public static ComputationGraph readGraph(Location checkpoint) throws IOException {
    return dev.distillery.model.ModelZip.restore(checkpoint.resolve(MODEL).localCopy());
  }

  public static Checkpoint readState(Path checkpoint) throws IOException {
    return readState(Location.of(checkpoint));
  }

  public static ComputationGraph readGraph(Path checkpoint) throws IOException {
    return readGraph(Location.of(checkpoint));
  }

}
