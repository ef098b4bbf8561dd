package dev.distillery.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.storage.Location;
import dev.distillery.storage.Scratch;
import dev.distillery.util.FileTrees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The parameters of the epoch with the lowest validation loss so far ({@code train.keep-best}). With
 * a directory (the run's checkpoints) it is also written to {@code best/} there, replaced atomically,
 * so that a resumed run still ends with the best epoch of the whole run.
 */
final class BestEpoch {
  static final String DIR = "best";
  private static final String PARAMS = "params.bin";
  private static final String STATE = "best.json";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Location dir;
  private int epoch;
  private double loss = Double.POSITIVE_INFINITY;
  private INDArray params;

  private BestEpoch(Location dir) {
    this.dir = dir;
  }

  /** Tracks the best epoch, in memory only ({@code dir} null) or also in {@code dir}, which it resumes from. */
  static BestEpoch in(Path dir) {
    return in(dir == null ? null : Location.of(dir));
  }

  /** {@link #in(Path)} on any file system. */
  static BestEpoch in(Location dir) {
    BestEpoch b = new BestEpoch(dir);
    try {
      if (dir != null && dir.resolve(STATE).isFile() && dir.resolve(PARAMS).isFile()) {
        Map<?, ?> state = JSON.readValue(dir.resolve(STATE).readBytes(), Map.class);
        b.epoch = ((Number) state.get("epoch")).intValue();
        b.loss = ((Number) state.get("validationLoss")).doubleValue();
        b.params = Nd4j.readBinary(dir.resolve(PARAMS).localCopy().toFile());
      }
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException("Cannot resume the best epoch: " + e.getMessage() + ": " + dir, e);
    }
    return b;
  }

  /** Keeps {@code net}'s parameters if {@code loss} is lower than every earlier offer's; returns whether it did. */
  boolean offer(int epoch, double loss, ComputationGraph net) throws IOException {
    return offer(epoch, loss, net, true);
  }

  /**
   * @param persist also write it to the directory; false for a point inside an epoch (a
   *     {@code train.max-steps} stop), which a resumed run must not compare against whole epochs
   */
  boolean offer(int epoch, double loss, ComputationGraph net, boolean persist) throws IOException {
    if (!(loss < this.loss)) {
      return false;
    }
    this.epoch = epoch;
    this.loss = loss;
    this.params = net.params().dup();
    if (dir != null && persist) {
      // Written whole beside the old one, then swapped in: a crash leaves the previous best intact.
      Path staged = Scratch.newDirectory("best");
      try {
        Path tmp = staged.resolve(dir.name());
        Files.createDirectories(tmp);
        Nd4j.saveBinary(params, tmp.resolve(PARAMS).toFile());
        JSON.writeValue(tmp.resolve(STATE).toFile(), Map.of("epoch", epoch, "validationLoss", loss));
        dir.replaceWith(tmp);
      } finally {
        FileTrees.deleteRecursively(staged);
      }
    }
    return true;
  }

  /** Puts the best parameters into {@code net}; false if they are its current ones (or there are none). */
  boolean restoreInto(ComputationGraph net) {
    if (params == null || params.equals(net.params())) {
      return false;
    }
    net.setParams(params);
    return true;
  }

  /** The best epoch (1-based; 0 = none offered). */
  int epoch() {
    return epoch;
  }

  double loss() {
    return loss;
  }
}
