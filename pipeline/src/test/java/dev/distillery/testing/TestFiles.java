package dev.distillery.testing;

import dev.distillery.util.FileTrees;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** Copies of output directories for tests that damage one. */
public final class TestFiles {
  private TestFiles() {}

  /** Replaces {@code to} with a copy of the tree {@code from}. */
  public static void copyTree(Path from, Path to) throws IOException {
    FileTrees.deleteRecursively(to);
    try (Stream<Path> s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Path t = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(t);
        } else {
          Files.copy(p, t);
        }
      }
    }
  }
}
