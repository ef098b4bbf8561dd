package dev.distillery.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.testing.TestHdfs;
import dev.distillery.testing.TestSpark;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocationTest {
  private static Location hdfs(String name) {
    return Location.of(TestHdfs.uri() + "/location-test-" + UUID.randomUUID().toString().substring(0, 8) + "/" + name);
  }

  @Test
  void aLocalPathBecomesAnAbsoluteFileUriAndPrintsAsThePath(@TempDir Path dir) {
    Location l = Location.of(dir.resolve("a").resolve("..").resolve("b"));
    assertEquals("file:" + dir.resolve("b"), l.uri());
    assertEquals(dir.resolve("b").toString(), l.toString());
    assertEquals(dir.resolve("b"), l.localPath());
    assertEquals(l, Location.of(dir.resolve("b").toString()));
    assertEquals(l, Location.of("file://" + dir.resolve("b")));
  }

  @Test
  void aPathWithoutSchemeIsQualifiedAgainstSparksDefaultFileSystem() {
    var conf = TestSpark.get().sparkContext().hadoopConfiguration();
    String before = conf.get("fs.defaultFS");
    conf.set("fs.defaultFS", TestHdfs.uri());
    try {
      Location l = Location.of("/runs/demo/teacher");
      assertEquals(TestHdfs.uri() + "/runs/demo/teacher", l.uri());
      assertFalse(l.isLocal());
      assertThrows(IllegalStateException.class, l::localPath);
    } finally {
      conf.set("fs.defaultFS", before);
    }
    assertTrue(Location.of("/runs/demo/teacher").isLocal());
  }

  @Test
  void writesReplaceAFileWholeAndLeaveNoTemporaryBehindOnHdfs() throws Exception {
    Location file = hdfs("dir/_manifest.json");
    file.writeString("first");
    file.writeString("second");
    assertEquals("second", file.readString());
    assertEquals(List.of(file), file.parent().list());
    assertTrue(file.isFile());
    assertTrue(file.parent().isDirectory());
    assertEquals(6, file.length());
  }

  @Test
  void appendedLinesReadBackInOrderLocallyAndOnHdfs(@TempDir Path dir) throws Exception {
    for (Location log : List.of(Location.of(dir.resolve("logs/metrics.jsonl")), hdfs("logs/metrics.jsonl"))) {
      assertEquals(List.of(), log.readLines());
      log.appendLine("{\"step\":1}");
      log.appendLine("{\"step\":2}");
      assertEquals(List.of("{\"step\":1}", "{\"step\":2}"), log.readLines(), log.uri());
    }
  }

  @Test
  void aTreeReplacesTheOldOneWholeAndTheFilesUnderItAreListedRelativeToIt(@TempDir Path dir) throws Exception {
    Location target = hdfs("model");
    Path v1 = Files.createDirectories(dir.resolve("v1/sub"));
    Files.writeString(v1.resolve("a.txt"), "old");
    Files.writeString(dir.resolve("v1/stale.txt"), "gone after the swap");
    target.replaceWith(dir.resolve("v1"));
    Path v2 = Files.createDirectories(dir.resolve("v2/sub"));
    Files.writeString(v2.resolve("a.txt"), "new");
    target.replaceWith(dir.resolve("v2"));
    assertEquals(List.of("sub/a.txt"), target.files().stream().map(f -> f.relativeTo(target)).toList());
    assertEquals("new", target.resolve("sub/a.txt").readString());
    assertEquals(List.of(target), target.parent().list(), "no staging or replaced copy left beside it");
  }

  @Test
  void aRemoteTreeIsCopiedToScratchOnceAndAgainWhenItChanges() throws Exception {
    Location dir = hdfs("teacher");
    dir.resolve("model.zip").write("v1".getBytes(StandardCharsets.UTF_8));
    Path first = dir.localCopy();
    assertTrue(first.startsWith(Scratch.root()), first.toString());
    assertEquals("v1", Files.readString(first.resolve("model.zip")));
    Files.writeString(first.resolve("marker"), "kept while the remote tree is unchanged");
    assertEquals(first, dir.localCopy());
    assertTrue(Files.exists(first.resolve("marker")));
    dir.resolve("model.zip").write("version 2".getBytes(StandardCharsets.UTF_8));
    Path second = dir.localCopy();
    assertEquals("version 2", Files.readString(second.resolve("model.zip")));
    assertFalse(Files.exists(second.resolve("marker")), "a changed tree is copied afresh");
  }

  @Test
  void filesWrittenThroughScratchLandOnHdfsAndTheStagingIsDeleted() throws Exception {
    Location dir = hdfs("bundle");
    dir.resolve("keep.txt").writeString("other files stay");
    Scratch.writeFiles(dir, local -> {
      Files.createDirectories(local);
      Files.write(local.resolve("weights.bin"), new byte[] {1, 2, 3});
    });
    assertArrayEquals(new byte[] {1, 2, 3}, dir.resolve("weights.bin").readBytes());
    assertEquals("other files stay", dir.resolve("keep.txt").readString());
    try (var staged = Files.list(Scratch.root())) {
      assertTrue(staged.noneMatch(p -> p.getFileName().toString().startsWith("upload-")), "staging deleted");
    }
  }

  @Test
  void containsMeansTheSameOrBelowNotAPrefixOfTheName() {
    Location runs = Location.of("/data/runs");
    assertTrue(runs.contains(Location.of("/data/runs")));
    assertTrue(runs.contains(Location.of("/data/runs/demo/teacher")));
    assertFalse(runs.contains(Location.of("/data/runs-old")));
    assertNotEquals(runs, Location.of("/data/runs-old"));
  }
}
