package dev.distillery.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.util.FileTrees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Optional;
import java.util.stream.Stream;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

/**
 * A training checkpoint: the graph with its updater (Adam) state, and where training stood.
 * Written to {@code step-N.tmp/} and renamed to {@code step-N/} only when complete, so a crash while
 * writing leaves a directory that {@link #latest} ignores.
 *
 * @param epoch the epoch in progress (1-based)
 * @param nextIndex the first minibatch index of that epoch not yet fitted
 * @param step minibatches fitted so far, all workers together
 * @param tokens sequence positions fitted so far
 */
public record Checkpoint(int epoch, long nextIndex, long step, long tokens, String configSha256) {
  static final String MODEL = "model.zip";
  static final String STATE = "state.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  public void write(Path dir, ComputationGraph graph) throws IOException {
    Files.createDirectories(dir);
    Path tmp = dir.resolve("step-" + step + ".tmp");
    Path done = dir.resolve("step-" + step);
    FileTrees.deleteRecursively(tmp);
    Files.createDirectories(tmp);
    ModelSerializer.writeModel(graph, tmp.resolve(MODEL).toFile(), true);
    JSON.writeValue(tmp.resolve(STATE).toFile(), this);
    FileTrees.deleteRecursively(done);
    Files.move(tmp, done, StandardCopyOption.ATOMIC_MOVE);
  }

  /** The newest complete checkpoint under {@code dir}, if any. */
  public static Optional<Path> latest(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return Optional.empty();
    }
    try (Stream<Path> entries = Files.list(dir)) {
      return entries
          .filter(p -> p.getFileName().toString().matches("step-\\d+"))
          .filter(p -> Files.isRegularFile(p.resolve(STATE)) && Files.isRegularFile(p.resolve(MODEL)))
          .max(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().substring(5))));
    }
  }

  public static Checkpoint readState(Path checkpoint) throws IOException {
    return JSON.readValue(checkpoint.resolve(STATE).toFile(), Checkpoint.class);
  }

  public static ComputationGraph readGraph(Path checkpoint) throws IOException {
    return dev.distillery.model.ModelZip.restore(checkpoint.resolve(MODEL));
  }

}
