package dev.distillery.prepare;

import dev.distillery.errors.DataException;
import dev.distillery.storage.Location;
import dev.distillery.util.Hashing;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Verifies a targets directory against its manifest before anything trains on it or reports it:
 * every Parquet file the manifest lists is there with its size and sha256 and no other is; the
 * rows and positions add up to the manifest's counts; every stored top-k list has the manifest's
 * {@code topK} entries and every output has one distribution per position. A mismatch is a
 * {@link DataException} naming the shard, file or field.
 */
public final class TargetsCheck {
  private TargetsCheck() {}

  /** The Parquet files under {@code dir}'s {@code shard=N} directories, with sizes and sha256, by path. */
  public static List<Manifest.DataFile> dataFiles(Location dir) throws IOException {
    List<Manifest.DataFile> files = new ArrayList<>();
    for (Location shardDir : dir.list()) {
      if (!shardDir.name().matches("shard=\\d+") || !shardDir.isDirectory()) {
        continue;
      }
      for (Location p : shardDir.list()) {
        if (p.name().endsWith(".parquet") && p.isFile()) {
          String sha256;
          try (var in = p.open()) {
            sha256 = Hashing.sha256(in);
          }
          files.add(new Manifest.DataFile(Integer.parseInt(shardDir.name().substring("shard=".length())),
              p.relativeTo(dir), p.length(), sha256));
        }
      }
    }
    files.sort(java.util.Comparator.comparing(Manifest.DataFile::path));
    return files;
  }

  public static List<Manifest.DataFile> dataFiles(Path dir) throws IOException {
    return dataFiles(Location.of(dir));
  }

  /**
   * @param job the command refusing, for the message ({@code distill}, {@code inspect})
   * @throws DataException naming the first shard, file or field that differs from the manifest
   */
  public static void verify(SparkSession spark, Path dir, Manifest m, String job) throws IOException {
    verify(spark, Location.of(dir), m, job);
  }

  public static void verify(SparkSession spark, Location dir, Manifest m, String job) throws IOException {
    if (!m.files().isEmpty()) {
      Map<String, Manifest.DataFile> found = new TreeMap<>();
      dataFiles(dir).forEach(f -> found.put(f.path(), f));
      for (Manifest.DataFile listed : m.files()) {
        Manifest.DataFile actual = found.remove(listed.path());
        if (actual == null) {
          throw new DataException("Cannot " + job + ": shard " + listed.shard() + " is incomplete: its file "
              + listed.path() + " listed in the manifest is missing: " + dir);
        }
        if (actual.bytes() != listed.bytes() || !actual.sha256().equals(listed.sha256())) {
          throw new DataException("Cannot " + job + ": shard " + listed.shard() + " is damaged: "
              + (actual.bytes() != listed.bytes() ? actual.bytes() + " bytes where the manifest has " + listed.bytes()
                  : "its sha256 differs from the manifest's") + ": " + dir.resolve(listed.path()));
        }
      }
      if (!found.isEmpty()) {
        Manifest.DataFile extra = found.values().iterator().next();
        throw new DataException("Cannot " + job + ": shard " + extra.shard() + " holds a file the manifest does not "
            + "list (not written by the prepare run that wrote it): " + dir.resolve(extra.path()));
      }
    }
    Row r = spark.read().parquet(dir.toString()).selectExpr(
        "count(*)",
        "sum(size(reference.ids) + 1)",
        "sum(size(beam.ids) + 1)",
        "sum(aggregate(samples, 0L, (acc, s) -> acc + size(s.ids) + 1))",
        "min(least(" + minK("reference") + ", " + minK("beam") + ", " + samplesK("array_min") + "))",
        "max(greatest(" + maxK("reference") + ", " + maxK("beam") + ", " + samplesK("array_max") + "))",
        "sum(if(" + misaligned("reference") + " or " + misaligned("beam") + " or exists(samples, s -> "
            + misaligned("s") + "), 1, 0))",
        "collect_set(shard)").first();
    long rows = r.getLong(0);
    if (rows != m.rows()) {
      List<Integer> shards = r.getList(7);
      throw new DataException("Cannot " + job + ": the targets hold " + rows + " rows in " + shards.size()
          + " shards where the manifest has " + m.rows() + " rows in " + m.shards() + " (a shard lost or added?): "
          + dir);
    }
    long[] positions = {r.getLong(1), r.getLong(2), r.isNullAt(3) ? 0 : r.getLong(3)};
    String[] kinds = {"reference", "beam", "samples"};
    for (int i = 0; i < kinds.length; i++) {
      Long expected = m.positions().get(kinds[i]);
      if (expected != null && expected != positions[i]) {
        throw new DataException("Cannot " + job + ": the targets hold " + positions[i] + " " + kinds[i]
            + " positions where the manifest has " + expected + " (field positions." + kinds[i] + "): " + dir);
      }
    }
    if (rows > 0 && (r.getInt(4) != m.topK() || r.getInt(5) != m.topK())) {
      throw new DataException("Cannot " + job + ": the stored top-k lists hold " + r.getInt(4)
          + (r.getInt(4) == r.getInt(5) ? "" : " to " + r.getInt(5)) + " entries where the manifest's topK is "
          + m.topK() + " (field topK): " + dir);
    }
    if (r.getLong(6) > 0) {
      throw new DataException("Cannot " + job + ": " + r.getLong(6) + " rows have an output whose topk_ids, "
          + "topk_logprobs and tail_mass do not have one entry per position (ids + 1): " + dir);
    }
  }

  private static String minK(String output) {
    return "least(array_min(transform(" + output + ".topk_ids, x -> size(x))), "
        + "array_min(transform(" + output + ".topk_logprobs, x -> size(x))))";
  }

  private static String maxK(String output) {
    return "greatest(array_max(transform(" + output + ".topk_ids, x -> size(x))), "
        + "array_max(transform(" + output + ".topk_logprobs, x -> size(x))))";
  }

  /** The least or greatest top-k length over every sample's positions (null without samples). */
  private static String samplesK(String fn) {
    return fn + "(flatten(transform(samples, s -> concat(transform(s.topk_ids, x -> size(x)), "
        + "transform(s.topk_logprobs, x -> size(x))))))";
  }

  private static String misaligned(String output) {
    return "(size(" + output + ".topk_ids) != size(" + output + ".ids) + 1 or size(" + output
        + ".topk_logprobs) != size(" + output + ".ids) + 1 or size(" + output + ".tail_mass) != size("
        + output + ".ids) + 1)";
  }
}
