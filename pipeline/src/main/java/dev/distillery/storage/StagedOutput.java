package dev.distillery.storage;

import dev.distillery.config.ConfigException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.List;
import java.util.UUID;

/**
 * An output directory written beside the one it replaces and swapped in only when complete, so an
 * interrupted or failed run leaves the previous output as it was.
 *
 * <p>{@link #begin} refuses, before any work, an output that Distillery must not replace: a plain
 * file, a non-empty directory without the marker file of this kind of output (a targets
 * directory's {@code _manifest.json}, a model directory's {@code model.json}), any existing
 * output without {@code overwrite}, and a path that is, or holds, one of the run's inputs (the
 * corpus, the teacher). It then creates the staging directory {@code .NAME.staging-RANDOM} next to
 * the output, which is also the check that the location is writable. {@link #commit} renames the
 * old output aside, the staging directory into place, and deletes the old one (each rename one
 * atomic step on local disks and HDFS); {@link #close} without a commit deletes the staging
 * directory. Any file system Hadoop serves ({@link Location}).
 */
public final class StagedOutput implements AutoCloseable {
  private final String job;
  private final Location output;
  private final Location staging;
  private boolean committed;

  private StagedOutput(String job, Location output, Location staging) {
    this.job = job;
    this.output = output;
    this.staging = staging;
  }

  /**
   * @param job the command, for messages ({@code prepare})
   * @param marker the file every complete output of this kind holds, e.g. {@code _manifest.json}
   * @param overwrite whether an existing complete output may be replaced
   * @param inputs locations the run reads; the output may be none of them and may hold none of them
   */
  public static StagedOutput begin(String job, Location output, String marker, boolean overwrite,
      List<Location> inputs) {
    Location target = real(output);
    for (Location input : inputs) {
      Location in = real(input);
      if (target.contains(in)) {
        throw new ConfigException("Cannot " + job + ": the output " + (in.equals(target) ? "is" : "holds")
            + " one of the run's inputs (" + in + "), which it would replace: " + output);
      }
    }
    try {
      if (target.exists()) {
        if (!target.isDirectory()) {
          throw new ConfigException("Cannot " + job + ": the output is a file, not a directory: " + output);
        }
        if (!target.list().isEmpty()) {
          if (!overwrite) {
            throw new ConfigException("Cannot " + job + ": output already exists (pass --overwrite to replace a "
                + "previous " + job + " output, or choose another directory): " + output);
          }
          if (!target.resolve(marker).isFile()) {
            throw new ConfigException("Cannot " + job + ": --overwrite replaces only a previous " + job + " output, and "
                + "this directory has no " + marker + " (it is not one, or an interrupted one): " + output);
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot " + job + ": cannot read the output location (" + e.getMessage() + "): "
          + output, e);
    }
    Location parent = target.parent();
    Location staging = parent.resolve("." + target.name() + ".staging-" + UUID.randomUUID().toString().substring(0, 8));
    try {
      parent.mkdirs();
      staging.mkdirs();
    } catch (IOException e) { // permission denied, read-only file system, a file on the way
      throw new ConfigException("Cannot " + job + ": the output location is not writable ("
          + e.getClass().getSimpleName() + "): " + parent);
    }
    return new StagedOutput(job, target, staging);
  }

  /** {@link #begin(String, Location, String, boolean, List)} for local paths. */
  public static StagedOutput begin(String job, java.nio.file.Path output, String marker, boolean overwrite,
      List<java.nio.file.Path> inputs) {
    return begin(job, Location.of(output), marker, overwrite, inputs.stream().map(Location::of).toList());
  }

  /**
   * Creates {@code dir} if needed and proves a file can be written in it, before any work: a
   * directory a run cannot write fails here in one line instead of after hours of training.
   */
  public static void requireWritable(String job, Location dir) {
    try {
      dir.mkdirs();
      Location probe = dir.resolve(".write-check-" + UUID.randomUUID().toString().substring(0, 8));
      try (var out = probe.create()) {
        out.write(0);
      }
      probe.delete();
    } catch (IOException e) {
      throw new ConfigException("Cannot " + job + ": the output location is not writable ("
          + e.getClass().getSimpleName() + "): " + dir);
    }
  }

  public static void requireWritable(String job, java.nio.file.Path dir) {
    requireWritable(job, Location.of(dir));
  }

  /** Where the run writes; it becomes the output at {@link #commit}. */
  public Location staging() {
    return staging;
  }

  /** Swaps the staged output in; the previous output, if any, is deleted only after that. */
  public void commit() throws IOException {
    Location aside = null;
    if (output.exists()) {
      aside = output.sibling("." + output.name() + ".replaced-" + UUID.randomUUID().toString().substring(0, 8));
      output.renameTo(aside);
    }
    try {
      staging.renameTo(output);
    } catch (IOException e) {
      if (aside != null) {
        aside.renameTo(output); // put the previous output back
      }
      throw new IOException("Cannot " + job + ": could not move the new output into place (kept in " + staging
          + "): " + output, e);
    }
    committed = true;
    if (aside != null) {
      aside.delete();
    }
  }

  /** Deletes the staging directory unless it was committed. */
  @Override
  public void close() {
    if (!committed) {
      try {
        staging.delete();
      } catch (IOException | UncheckedIOException e) {
        // Leaving a hidden staging directory behind loses nothing; the run's own error matters more.
      }
    }
  }

  /** A local location with its symbolic links resolved (they compare by what they point to). */
  private static Location real(Location l) {
    if (!l.isLocal()) {
      return l;
    }
    try {
      java.nio.file.Path p = l.localPath();
      return Files.exists(p) ? Location.of(p.toRealPath()) : l;
    } catch (IOException e) {
      return l;
    }
  }
}
