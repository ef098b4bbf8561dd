package dev.distillery.storage;

import dev.distillery.config.ConfigException;
import dev.distillery.util.FileTrees;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;

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
 * old output aside, the staging directory into place, and deletes the old one; {@link #close}
 * without a commit deletes the staging directory.
 */
public final class StagedOutput implements AutoCloseable {
  private final String job;
  private final Path output;
  private final Path staging;
  private boolean committed;

  private StagedOutput(String job, Path output, Path staging) {
    this.job = job;
    this.output = output;
    this.staging = staging;
  }

  /**
   * @param job the command, for messages ({@code prepare})
   * @param marker the file every complete output of this kind holds, e.g. {@code _manifest.json}
   * @param overwrite whether an existing complete output may be replaced
   * @param inputs paths the run reads; the output may be none of them and may hold none of them
   */
  public static StagedOutput begin(String job, Path output, String marker, boolean overwrite, List<Path> inputs) {
    Path target = absolute(output);
    for (Path input : inputs) {
      Path in = absolute(input);
      if (in.startsWith(target)) {
        throw new ConfigException("Cannot " + job + ": the output " + (in.equals(target) ? "is" : "holds")
            + " one of the run's inputs (" + in + "), which it would replace: " + output);
      }
    }
    if (Files.exists(target)) {
      if (!Files.isDirectory(target)) {
        throw new ConfigException("Cannot " + job + ": the output is a file, not a directory: " + output);
      }
      if (!isEmpty(target)) {
        if (!overwrite) {
          throw new ConfigException("Cannot " + job + ": output already exists (pass --overwrite to replace a "
              + "previous " + job + " output, or choose another directory): " + output);
        }
        if (!Files.isRegularFile(target.resolve(marker))) {
          throw new ConfigException("Cannot " + job + ": --overwrite replaces only a previous " + job + " output, and "
              + "this directory has no " + marker + " (it is not one, or an interrupted one): " + output);
        }
      }
    }
    Path parent = target.getParent();
    Path staging = parent.resolve("." + target.getFileName() + ".staging-" + UUID.randomUUID().toString().substring(0, 8));
    try {
      Files.createDirectories(parent);
      Files.createDirectory(staging);
    } catch (FileSystemException e) { // AccessDeniedException, read-only file system, a file on the way
      throw new ConfigException("Cannot " + job + ": the output location is not writable ("
          + e.getClass().getSimpleName() + "): " + parent);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot " + job + ": " + e.getMessage() + ": " + parent, e);
    }
    return new StagedOutput(job, target, staging);
  }

  /**
   * Creates {@code dir} if needed and proves a file can be written in it, before any work: a
   * directory a run cannot write fails here in one line instead of after hours of training.
   */
  public static void requireWritable(String job, Path dir) {
    try {
      Files.createDirectories(dir);
      Files.delete(Files.createTempFile(dir, ".write-check", ""));
    } catch (FileSystemException e) {
      throw new ConfigException("Cannot " + job + ": the output location is not writable ("
          + e.getClass().getSimpleName() + "): " + (e.getFile() == null ? dir : e.getFile()));
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot " + job + ": " + e.getMessage() + ": " + dir, e);
    }
  }

  /** Where the run writes; it becomes the output at {@link #commit}. */
  public Path staging() {
    return staging;
  }

  /** Swaps the staged output in; the previous output, if any, is deleted only after that. */
  public void commit() throws IOException {
    Path aside = null;
    if (Files.exists(output)) {
      aside = output.resolveSibling("." + output.getFileName() + ".replaced-" + UUID.randomUUID().toString().substring(0, 8));
      Files.move(output, aside, StandardCopyOption.ATOMIC_MOVE);
    }
    try {
      Files.move(staging, output, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      if (aside != null) {
        Files.move(aside, output, StandardCopyOption.ATOMIC_MOVE); // put the previous output back
      }
      throw new IOException("Cannot " + job + ": could not move the new output into place (kept in " + staging
          + "): " + output, e);
    }
    committed = true;
    if (aside != null) {
      FileTrees.deleteRecursively(aside);
    }
  }

  /** Deletes the staging directory unless it was committed. */
  @Override
  public void close() {
    if (!committed) {
      try {
        FileTrees.deleteRecursively(staging);
      } catch (IOException | UncheckedIOException e) {
        // Leaving a hidden staging directory behind loses nothing; the run's own error matters more.
      }
    }
  }

  private static Path absolute(Path p) {
    Path abs = p.toAbsolutePath().normalize();
    try {
      return Files.exists(abs) ? abs.toRealPath() : abs; // symbolic links compare by what they point to
    } catch (IOException e) {
      return abs;
    }
  }

  private static boolean isEmpty(Path dir) {
    try (Stream<Path> entries = Files.list(dir)) {
      return entries.findAny().isEmpty();
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot list the output: " + e.getMessage() + ": " + dir, e);
    }
  }
}
