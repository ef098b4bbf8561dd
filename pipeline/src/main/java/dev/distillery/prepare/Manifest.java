package dev.distillery.prepare;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;

/**
 * {@code _manifest.json}: what a targets directory holds and how it was made. Written last, under a
 * temporary name and renamed, so its presence means the directory is complete.
 *
 * @param positions stored positions per kind of output ({@code reference}, {@code beam}, {@code samples})
 * @param wallSeconds wall time of the whole prepare run
 * @param split plain-text documents split into sentences: {@code documents} and the {@code rows} they became
 *     ({@code inputRows = rows − split.rows + split.documents + rejected})
 */
public record Manifest(
    int schemaVersion, String input, String teacher, String teacherFingerprint, String tokenizerSha256,
    int vocabSize, int topK, Map<String, Object> decoding, int shards, long rows, Map<String, Long> positions,
    long inputRows, Map<String, Long> rejectedByReason, Map<String, Long> split, double wallSeconds,
    String gitCommit, String createdAt, String configSha256) {
  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(SerializationFeature.INDENT_OUTPUT)
      .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

  public long rejectedRows() {
    return rejectedByReason.values().stream().mapToLong(Long::longValue).sum();
  }

  public void write(Path file) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    JSON.writeValue(tmp.toFile(), this);
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  /** Reads a targets directory's manifest; a directory without one is incomplete or not a targets directory. */
  public static Manifest read(Path targetsDir) throws IOException {
    Path file = targetsDir.resolve(PreparePipeline.MANIFEST);
    if (!Files.isRegularFile(file)) {
      throw new IOException("Cannot read targets: no " + PreparePipeline.MANIFEST
          + " (not a prepare output, or an interrupted one): " + targetsDir);
    }
    Manifest m = JSON.readValue(file.toFile(), Manifest.class);
    if (m.schemaVersion() > TargetsSchema.VERSION) {
      throw new IOException("Cannot read targets: schema version " + m.schemaVersion()
          + " is newer than this Distillery reads (" + TargetsSchema.VERSION + "): " + targetsDir);
    }
    return m;
  }
}
