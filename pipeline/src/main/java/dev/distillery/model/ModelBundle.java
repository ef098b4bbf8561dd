package dev.distillery.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.storage.Location;
import dev.distillery.storage.Scratch;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.util.Hashing;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

/**
 * A model directory: {@code model.zip} (DL4J graph JSON and parameters, no Java serialization),
 * {@code tokenizer.json}, {@code config.conf} (the effective configuration) and {@code model.json}
 * (shape, tokenizer hash, provenance). Loading refuses a tokenizer whose hash differs from the one
 * recorded at training time, so a teacher and its students provably share one vocabulary.
 */
public final class ModelBundle {
  public static final String MODEL_FILE = "model.zip";
  public static final String TOKENIZER_FILE = "tokenizer.json";
  public static final String META_FILE = "model.json";
  public static final String CONFIG_FILE = "config.conf";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private ModelBundle() {}

  /**
   * Writes the bundle into {@code dir} (created if missing). Files are written under temporary
   * names and renamed, so a crash never leaves a half-written model that looks complete.
   */
  public static void save(
      Path dir, LanguageModel model, DistilleryConfig config, Map<String, Object> provenance)
      throws IOException {
    Files.createDirectories(dir);
    Path tmpModel = dir.resolve(MODEL_FILE + ".tmp");
    // No updater state: a finished model is for inference and distill.init; checkpoints keep Adam's state.
    ModelSerializer.writeModel(model.graph(), tmpModel.toFile(), false);
    model.tokenizer().save(dir.resolve(TOKENIZER_FILE + ".tmp"));
    Files.writeString(dir.resolve(CONFIG_FILE + ".tmp"), config.toHocon());
    Map<String, Object> meta = new LinkedHashMap<>();
    meta.put("format", "distillery-model");
    meta.put("version", 1);
    meta.put("architecture", model.shape().architecture());
    meta.put("shape", model.shape());
    meta.put("vocabSize", model.vocabSize());
    meta.put("parameters", model.graph().numParams());
    meta.put("tokenizerSha256", model.tokenizer().sha256());
    meta.put("configSha256", config.hash());
    meta.put("provenance", provenance);
    JSON.writeValue(dir.resolve(META_FILE + ".tmp").toFile(), meta);
    for (String f : new String[] {MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE, META_FILE}) {
      Files.move(dir.resolve(f + ".tmp"), dir.resolve(f),
          StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
  }

  /** {@link #save(Path, LanguageModel, DistilleryConfig, Map)} into a directory on any file system. */
  public static void save(
      Location dir, LanguageModel model, DistilleryConfig config, Map<String, Object> provenance)
      throws IOException {
    Scratch.writeFiles(dir, local -> save(local, model, config, provenance));
  }

  /**
   * Loads a bundle from any file system: the directory's files are checked where they are, then
   * read from a local copy ({@link Location#localCopy}, the directory itself when local).
   */
  public static LanguageModel load(Location dir) throws IOException {
    if (!dir.isLocal()) {
      if (!dir.resolve(LoraAdapter.FILE).isFile()) {
        for (String f : new String[] {MODEL_FILE, TOKENIZER_FILE, META_FILE}) {
          if (!dir.resolve(f).isFile()) {
            throw new IOException("Cannot load model: missing " + f + " in model directory: " + dir);
          }
        }
      }
    }
    return load(dir.localCopy());
  }

  /** Loads a bundle written by {@link #save}, or a {@link LoraAdapter} directory. */
  public static LanguageModel load(Path dir) throws IOException {
    if (LoraAdapter.isAdapter(dir)) {
      return LoraAdapter.load(dir);
    }
    for (String f : new String[] {MODEL_FILE, TOKENIZER_FILE, META_FILE}) {
      if (!Files.isRegularFile(dir.resolve(f))) {
        throw new IOException("Cannot load model: missing " + f + " in model directory: " + dir);
      }
    }
    Map<?, ?> meta;
    try {
      meta = JSON.readValue(dir.resolve(META_FILE).toFile(), Map.class);
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new dev.distillery.errors.DataException("Cannot load model: " + META_FILE + " is not valid JSON ("
          + e.getOriginalMessage() + "): " + dir.resolve(META_FILE));
    }
    if (!"distillery-model".equals(meta.get("format"))) {
      throw new IOException("Cannot load model: not a Distillery model (format " + meta.get("format") + "): " + dir);
    }
    TextTokenizer tokenizer = TextTokenizer.load(dir.resolve(TOKENIZER_FILE));
    if (!tokenizer.sha256().equals(meta.get("tokenizerSha256"))) {
      throw new IOException("Cannot load model: tokenizer.json does not match the tokenizer the model was trained with (sha256 "
          + tokenizer.sha256() + " vs " + meta.get("tokenizerSha256") + "): " + dir);
    }
    DistilleryConfig.Model shape = JSON.convertValue(meta.get("shape"), DistilleryConfig.Model.class);
    ComputationGraph graph = ModelZip.restore(dir.resolve(MODEL_FILE));
    return new LanguageModel(graph, shape, tokenizer);
  }

  /** The recorded metadata of a bundle ({@code model.json}) on any file system. */
  public static Map<?, ?> metadata(Location dir) throws IOException {
    return JSON.readValue(dir.resolve(META_FILE).readBytes(), Map.class);
  }

  /** The recorded metadata of a bundle ({@code model.json}). */
  public static Map<?, ?> metadata(Path dir) throws IOException {
    return JSON.readValue(dir.resolve(META_FILE).toFile(), Map.class);
  }

  /** {@link #fingerprint(Path)} of a bundle on any file system, read where it is. */
  public static String fingerprint(Location dir) throws IOException {
    if (dir.isLocal()) {
      return fingerprint(dir.localPath());
    }
    if (dir.resolve(LoraAdapter.FILE).isFile()) {
      return fingerprint(dir.localCopy());
    }
    try (var in = dir.resolve(MODEL_FILE).open()) {
      return Hashing.sha256(in);
    }
  }

  /** sha256 of the model's parameters file (an adapter's: see {@link LoraAdapter#fingerprint}): the teacher fingerprint recorded by later jobs. */
  public static String fingerprint(Path dir) throws IOException {
    return LoraAdapter.isAdapter(dir) ? LoraAdapter.fingerprint(dir) : Hashing.sha256(dir.resolve(MODEL_FILE));
  }
}
