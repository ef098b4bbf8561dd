package dev.distillery.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.testing.TinyModels;
import dev.distillery.tokenizer.BpeTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

class ModelBundleTest {
  @TempDir Path dir;

  @Test
  void savedModelReloadsWithIdenticalOutputsAndProvenance() throws Exception {
    DistilleryConfig config = TinyModels.config();
    BpeTokenizer tok = TinyModels.tokenizer(300);
    LanguageModel model = TinyModels.model(config, tok);
    List<int[]> rows = TinyModels.examples(tok, 3, 120).stream().map(TokenizedExample::tokens).toList();

    ModelBundle.save(dir, model, config, Map.of("job", "test"));
    LanguageModel loaded = ModelBundle.load(dir);

    INDArray a = model.logProbs(rows);
    INDArray b = loaded.logProbs(rows);
    assertEquals(0.0, a.sub(b).amaxNumber().doubleValue(), 1e-6);
    assertEquals(tok.sha256(), loaded.tokenizer().sha256());
    Map<?, ?> meta = ModelBundle.metadata(dir);
    assertEquals("lstm", meta.get("architecture"));
    assertEquals(config.hash(), meta.get("configSha256"));
    assertEquals(Map.of("job", "test"), meta.get("provenance"));
    try (var files = Files.list(dir)) {
      assertTrue(files.noneMatch(p -> p.toString().endsWith(".tmp")), "temporary files left behind");
    }
  }

  @Test
  void refusesATokenizerThatIsNotTheOneTheModelWasTrainedWith() throws Exception {
    DistilleryConfig config = TinyModels.config();
    LanguageModel model = TinyModels.model(config, TinyModels.tokenizer(300));
    ModelBundle.save(dir, model, config, Map.of());
    // Same vocabulary size, different merges: a swapped tokenizer would silently garble text.
    List<String> other = List.of("zzzz yyyy xxxx", "wwww vvvv");
    BpeTokenizer.train(other, 300, 1).save(dir.resolve(ModelBundle.TOKENIZER_FILE));

    IOException e = assertThrows(IOException.class, () -> ModelBundle.load(dir));
    assertTrue(e.getMessage().startsWith("Cannot load model: tokenizer.json does not match"), e.getMessage());
  }

  /** Records that Java deserialization ran its code: what a hostile model zip would exploit. */
  static final class Tripwire implements java.io.Serializable {
    static volatile boolean deserialized;

    private void readObject(java.io.ObjectInputStream in) throws IOException, ClassNotFoundException {
      in.defaultReadObject();
      deserialized = true;
    }
  }

  @Test
  void refusesAModelZipCarryingAJavaSerializedObject() throws Exception {
    DistilleryConfig config = TinyModels.config();
    ModelBundle.save(dir, TinyModels.model(config, TinyModels.tokenizer(300)), config, Map.of());
    Path zip = dir.resolve(ModelBundle.MODEL_FILE);
    var bytes = new java.io.ByteArrayOutputStream();
    try (var out = new java.io.ObjectOutputStream(bytes)) {
      out.writeObject(new Tripwire());
    }
    try (var fs = java.nio.file.FileSystems.newFileSystem(zip)) {
      Files.write(fs.getPath("preprocessor.bin"), bytes.toByteArray());
    }
    // The danger is real: DL4J's own loader deserializes the entry, running the class's code.
    Tripwire.deserialized = false;
    try {
      org.deeplearning4j.util.ModelSerializer.restoreComputationGraph(zip.toFile(), true);
    } catch (Exception e) {
      // it fails afterwards (not a DataSetPreProcessor), once the object's code has run
    }
    assertTrue(Tripwire.deserialized, "DL4J deserialized preprocessor.bin");

    Tripwire.deserialized = false;
    IOException e = assertThrows(IOException.class, () -> ModelBundle.load(dir));
    assertTrue(e.getMessage().startsWith("Cannot load model: unexpected entry in the model zip"), e.getMessage());
    assertTrue(e.getMessage().endsWith("model.zip!preprocessor.bin"), e.getMessage());
    assertEquals(false, Tripwire.deserialized, "Distillery's loader ran no deserialization");
  }

  @Test
  void aTruncatedModelZipOrGarbageModelJsonIsRefusedNamingTheFile() throws Exception {
    DistilleryConfig config = TinyModels.config();
    ModelBundle.save(dir, TinyModels.model(config, TinyModels.tokenizer(300)), config, Map.of());
    Path zip = dir.resolve(ModelBundle.MODEL_FILE);
    byte[] bytes = Files.readAllBytes(zip);
    Files.write(zip, java.util.Arrays.copyOf(bytes, bytes.length - 100)); // a lost write
    dev.distillery.errors.DataException e = assertThrows(dev.distillery.errors.DataException.class,
        () -> ModelBundle.load(dir));
    assertTrue(e.getMessage().startsWith("Cannot load model: model.zip is damaged or not a model (")
        && e.getMessage().endsWith(zip.toString()), e.getMessage());

    Files.writeString(dir.resolve(ModelBundle.META_FILE), "{\"format\": ");
    e = assertThrows(dev.distillery.errors.DataException.class, () -> ModelBundle.load(dir));
    assertTrue(e.getMessage().startsWith("Cannot load model: model.json is not valid JSON (")
        && e.getMessage().endsWith(dir.resolve(ModelBundle.META_FILE).toString()), e.getMessage());
  }

  @Test
  void refusesADirectoryWithoutModel() {
    IOException e = assertThrows(IOException.class, () -> ModelBundle.load(dir));
    assertEquals("Cannot load model: missing model.zip in model directory: " + dir, e.getMessage());
  }
}
