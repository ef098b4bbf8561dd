package dev.distillery.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

/**
 * Reads DL4J model zips as data only. DL4J's {@link ModelSerializer} would Java-deserialize a
 * {@code preprocessor.bin} entry (an {@code ObjectInputStream.readObject} of any class on the
 * classpath), so a model directory from elsewhere could run code; Distillery never writes that entry
 * and refuses any zip holding more than the JSON configuration and the parameter and updater arrays.
 */
public final class ModelZip {
  /** What {@link ModelSerializer#writeModel} writes for a graph without a normalizer. */
  static final Set<String> DATA_ENTRIES = Set.of("configuration.json", "coefficients.bin", "updaterState.bin");

  private ModelZip() {}

  /** Restores a graph (with its updater state) after checking the zip holds only data entries. */
  public static ComputationGraph restore(Path zip) throws IOException {
    // A truncated or overwritten file is named here, not left to DL4J's bare "zip END header not found".
    try (ZipFile file = new ZipFile(zip.toFile())) {
      for (ZipEntry entry : java.util.Collections.list(file.entries())) {
        if (!DATA_ENTRIES.contains(entry.getName())) {
          throw new IOException("Cannot load model: unexpected entry in the model zip (only "
              + new java.util.TreeSet<>(DATA_ENTRIES) + " are read, never Java-serialized objects): "
              + zip + "!" + entry.getName());
        }
      }
    } catch (java.util.zip.ZipException | java.io.EOFException e) {
      throw damaged(zip, e);
    }
    try {
      // DL4J reads every entry to its end, which checks each entry's CRC.
      return ModelSerializer.restoreComputationGraph(zip.toFile(), true);
    } catch (java.util.zip.ZipException | java.io.EOFException e) {
      throw damaged(zip, e);
    } catch (RuntimeException e) {
      throw new dev.distillery.errors.DataException("Cannot load model: " + zip.getFileName()
          + " holds no readable DL4J graph (" + e + "): " + zip);
    }
  }

  private static dev.distillery.errors.DataException damaged(Path zip, IOException e) {
    return new dev.distillery.errors.DataException("Cannot load model: " + zip.getFileName()
        + " is damaged or not a model (" + e.getMessage() + "): " + zip);
  }
}
