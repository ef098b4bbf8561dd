package dev.distillery.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
  @TempDir Path dir;

  @Test
  void defaultsComeFromReferenceConf() {
    DistilleryConfig c = ConfigLoader.defaults();
    assertEquals("lstm", c.model().architecture());
    assertTrue(c.train().epochs() > 0);
    assertEquals("local[*]", c.spark().master());
  }

  @Test
  void setOverridesWithOrWithoutRootPrefix() {
    DistilleryConfig c = ConfigLoader.load(Optional.empty(),
        List.of("train.epochs=7", "distillery.model.hidden=96", "decode.strategy=greedy"));
    assertEquals(7, c.train().epochs());
    assertEquals(96, c.model().hidden());
    assertEquals("greedy", c.decode().strategy());
  }

  @Test
  void laterSetWinsOverFileAndEarlierSet() throws Exception {
    Path f = dir.resolve("c.conf");
    Files.writeString(f, "train { epochs = 3 }\n");
    DistilleryConfig c = ConfigLoader.load(Optional.of(f), List.of("train.epochs=4", "train.epochs=5"));
    assertEquals(5, c.train().epochs());
  }

  @Test
  void rejectsUnknownKeyNamingItAndSuggestingTheClosest() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Optional.empty(), List.of("train.epoch=3")));
    assertEquals("Cannot load config: unknown key: distillery.train.epoch (did you mean distillery.train.epochs?)",
        e.getMessage());
  }

  @Test
  void rejectsUnknownKeyInFile() throws Exception {
    Path f = dir.resolve("c.conf");
    Files.writeString(f, "distillery.modle.hidden = 3\n");
    ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.load(Optional.of(f), List.of()));
    assertTrue(e.getMessage().startsWith("Cannot load config: unknown key: distillery.modle.hidden"), e.getMessage());
  }

  @Test
  void rejectsOutOfRangeValueNamingKeyAndValue() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Optional.empty(), List.of("train.epochs=0")));
    assertEquals("Cannot configure train: train.epochs must be positive: 0", e.getMessage());
    ConfigException ratio = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Optional.empty(), List.of("distill.prefix-length-ratio=0")));
    assertEquals("Cannot configure distill: distill.prefix-length-ratio must be a positive number: 0.0",
        ratio.getMessage());
  }

  @Test
  void rejectsWrongTypeNamingKey() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Optional.empty(), List.of("train.epochs=many")));
    assertTrue(e.getMessage().contains("train.epochs"), e.getMessage());
  }

  @Test
  void rejectsEnumValueOutsideItsChoices() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Optional.empty(), List.of("model.architecture=gru")));
    assertEquals("Cannot configure model: model.architecture must be one of lstm, transformer: gru", e.getMessage());
  }

  @Test
  void rejectsMissingConfigFile() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Optional.of(dir.resolve("nope.conf")), List.of()));
    assertEquals("Cannot load config: no such file: " + dir.resolve("nope.conf"), e.getMessage());
  }

  @Test
  void rejectsSetWithoutEquals() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Optional.empty(), List.of("train.epochs")));
    assertEquals("Cannot apply --set: expected key=value: train.epochs", e.getMessage());
  }

  @Test
  void hashChangesWithConfigAndNotOtherwise() {
    DistilleryConfig a = ConfigLoader.defaults();
    DistilleryConfig b = ConfigLoader.defaults();
    DistilleryConfig c = ConfigLoader.load(Optional.empty(), List.of("train.seed=1"));
    assertEquals(a.hash(), b.hash());
    assertNotEquals(a.hash(), c.hash());
  }

  @Test
  void everyReferenceKeyHasAComment() throws Exception {
    List<String> lines;
    try (var in = ConfigLoader.class.getResourceAsStream("/reference.conf")) {
      lines = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).lines().toList();
    }
    for (int i = 0; i < lines.size(); i++) {
      String l = lines.get(i).trim();
      if (l.matches("[a-z-]+ = .*")) {
        assertTrue(lines.get(i - 1).trim().startsWith("#"), "no comment above: " + l);
      }
    }
  }

  @Test
  void exampleConfigsLoad() throws Exception {
    Path examples = dev.distillery.testing.TestSpark.sample("es-en.tiny.jsonl").getParent().getParent().getParent()
        .resolve("conf").resolve("examples");
    try (var files = Files.list(examples)) {
      List<Path> confs = files.filter(p -> p.toString().endsWith(".conf")).toList();
      assertTrue(!confs.isEmpty());
      for (Path p : confs) {
        ConfigLoader.load(Optional.of(p), List.of());
      }
    }
  }

  @Test
  void temperatureOtherThanOneIsRefusedForLossesOnStoredBuckets() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(Optional.empty(), List.of("distill.loss=kl", "distill.temperature=2")));
    assertEquals("Cannot configure distill: distill.temperature must be 1 for distill.loss = kl (the targets store "
        + "the tail's mass, not the tail of the softened distribution): 2.0", e.getMessage());
    // Losses that never soften the stored buckets take any temperature.
    assertEquals(2.0, ConfigLoader.load(Optional.empty(), List.of("distill.loss=seqkd", "distill.temperature=2"))
        .distill().temperature());
    // Every loss: refused exactly where it reads the stored buckets (ce, seqkd and okd do not).
    for (String loss : Objective.NAMES) {
      boolean stored = !List.of("ce", "seqkd", "okd").contains(loss);
      List<String> settings = List.of("distill.loss=" + loss, "distill.temperature=2");
      if (stored) {
        assertThrows(ConfigException.class, () -> ConfigLoader.load(Optional.empty(), settings), loss);
      } else {
        assertEquals(2.0, ConfigLoader.load(Optional.empty(), settings).distill().temperature(), loss);
      }
    }
  }
  @Test
  void aConfigFromAnOlderModelDirectoryLoadsWithoutItsRetiredKeys() {
    DistilleryConfig c = ConfigLoader.load(java.util.Optional.empty(),
        java.util.List.of("prepare.fail-first-attempt-of-shard=-1", "prepare.shards=3"));
    assertEquals(3, c.prepare().shards());
    assertTrue(!c.toHocon().contains("fail-first-attempt-of-shard"), c.toHocon());
  }
  @Test
  void everyObjectiveIsDocumentedInReferenceConfAndAnUnknownOneIsRefusedListingThemAll() throws Exception {
    String reference;
    try (var in = ConfigLoader.class.getResourceAsStream("/reference.conf")) {
      reference = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    }
    String comment = reference.substring(reference.indexOf("# Student loss:"), reference.indexOf("loss = kl"));
    for (String loss : Objective.NAMES) {
      assertTrue(comment.matches("(?s).*\\b" + loss + "\\b.*"), loss + " in: " + comment);
      assertEquals(loss, ConfigLoader.load(java.util.Optional.empty(), java.util.List.of("distill.loss=" + loss))
          .distill().objective().name());
    }
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(java.util.Optional.empty(), java.util.List.of("distill.loss=kld")));
    assertEquals("Cannot configure distill: distill.loss must be one of " + String.join(", ", Objective.NAMES)
        + ": kld", e.getMessage());
  }

  @Test
  void eachObjectiveCarriesOnlyItsOwnSettings() {
    var hybrid = ConfigLoader.load(java.util.Optional.empty(), java.util.List.of("distill.loss=hybrid",
        "distill.gate=fixed", "distill.gate-value=0.3")).distill().objective();
    assertEquals(new Objective.Hybrid(new Objective.Gate.Fixed(0.3)), hybrid);
    var js = ConfigLoader.load(java.util.Optional.empty(), java.util.List.of("distill.loss=js",
        "distill.prefix=student")).distill();
    assertEquals(new Objective.FDivergence(Objective.Kind.JS, Objective.Prefix.STUDENT, 0.5), js.objective());
    assertTrue(js.onPolicy());
    // A gate means nothing to kl: it is not part of the objective at all.
    assertEquals(new Objective.TokenKd(0.5), ConfigLoader.load(java.util.Optional.empty(),
        java.util.List.of("distill.loss=kl", "distill.gate=learned")).distill().objective());
  }
}
