package dev.distillery.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.distillery.config.ConfigException;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.model.TransformerArchitecture;
import dev.distillery.model.TransformerBlock;
import dev.distillery.storage.Location;
import dev.distillery.storage.Scratch;
import dev.distillery.storage.StagedOutput;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.tokenizer.HfVocabulary;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.util.Hashing;
import dev.distillery.util.Progress;
import dev.distillery.util.Provenance;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code export}: a Distillery model directory as a directory in the layout Hugging Face
 * {@code optimum} gives exported decoders, so serving stacks load it without Distillery:
 * {@code model.onnx} ({@link OnnxExport}), {@code tokenizer.json} ({@link HfTokenizerJson}) and
 * {@code tokenizer_config.json}, {@code config.json} and {@code generation_config.json} (the special
 * ids and the longest sequence), a {@code README.md} model card with the provenance the model
 * directory keeps (teacher, targets, loss, data fingerprint, and the scores of the distill run it
 * came from), and {@code distillery.json} (the source's {@code model.json} plus the export's own
 * facts, and the marker that lets {@code --overwrite} replace a previous export and nothing else).
 *
 * <p>The export is written beside its destination and swapped in complete ({@link StagedOutput}).
 * {@code evaluate}, {@code prepare --teacher} and {@code distill} open it through the ONNX path.
 */
public final class ModelExport {
  public static final String MARKER = "distillery.json";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private ModelExport() {}

  /** What was written. */
  public record Result(Location output, long onnxBytes, boolean withPast) {}

  public static Result run(Path modelDir, Path output, boolean withPast, boolean overwrite, Progress progress)
      throws IOException {
    return run(Location.of(modelDir), Location.of(output), withPast, overwrite, progress);
  }

  /** Exports {@code modelDir} into {@code output}; both on any file system ({@link Location}). */
  public static Result run(Location modelDir, Location output, boolean withPast, boolean overwrite,
      Progress progress) throws IOException {
    LanguageModel model = ModelBundle.load(modelDir);
    requireExportableTokenizer(model.tokenizer(), modelDir);
    if (withPast && !(model.architecture() instanceof TransformerArchitecture)) {
      throw new ConfigException("Cannot export with --with-past: only a transformer has past keys and values"
          + " (an LSTM export re-runs the prefix): " + model.shape().architecture());
    }
    Map<?, ?> source = ModelBundle.metadata(modelDir);
    try (StagedOutput staged = StagedOutput.begin("export", output, MARKER, overwrite, List.of(modelDir))) {
      long[] bytes = new long[1];
      Scratch.writeFiles(staged.staging(), dir -> bytes[0] = write(dir, model, source, modelDir, withPast));
      staged.commit();
      progress.line("export done: %s (model.onnx %.1f MB, %s, %s past key values)", output, bytes[0] / 1e6,
          model.shape().architecture(), withPast ? "with" : "without");
      return new Result(output, bytes[0], withPast);
    }
  }

  /** Writes the export's files into the local directory {@code dir}; returns model.onnx's size. */
  private static long write(Path dir, LanguageModel model, Map<?, ?> source, Location modelDir, boolean withPast)
      throws IOException {
    Map<String, String> onnxMetadata = new LinkedHashMap<>();
    onnxMetadata.put("distillery.architecture", model.shape().architecture());
    onnxMetadata.put("distillery.tokenizerSha256", model.tokenizer().sha256());
    String sourceSha256 = ModelBundle.fingerprint(modelDir);
    onnxMetadata.put("distillery.modelSha256", sourceSha256);
    Path onnx = dir.resolve("model.onnx");
    Files.write(onnx, OnnxExport.build(model, withPast, onnxMetadata).toByteArray());
    writeTokenizer(model.tokenizer(), dir.resolve("tokenizer.json"));
    JSON.writeValue(dir.resolve("tokenizer_config.json").toFile(), tokenizerConfig(model));
    JSON.writeValue(dir.resolve("config.json").toFile(), config(model, withPast));
    JSON.writeValue(dir.resolve("generation_config.json").toFile(), generationConfig(model));
    Map<String, Object> summary = distillSummary(modelDir);
    Files.writeString(dir.resolve("README.md"), ModelCard.render(model, source, targetsManifest(source), summary,
        withPast));
    Map<String, Object> marker = new LinkedHashMap<>();
    marker.put("format", "distillery-export");
    marker.put("version", 1);
    marker.put("source", modelDir.uri());
    marker.put("sourceModelSha256", sourceSha256);
    marker.put("onnxSha256", Hashing.sha256(onnx));
    marker.put("withPast", withPast);
    marker.put("exported", Provenance.base());
    marker.put("model", source);
    JSON.writeValue(dir.resolve(MARKER).toFile(), marker);
    return Files.size(onnx);
  }

  /**
   * Refuses, before any work, a tokenizer whose ids the logits do not index: a Hugging Face
   * teacher's own, which Distillery shifts by five.
   */
  private static void requireExportableTokenizer(TextTokenizer tokenizer, Location modelDir) {
    if (tokenizer instanceof BpeTokenizer || tokenizer instanceof HfVocabulary v && v.isDistilleryLayout()) {
      return;
    }
    throw new ConfigException("Cannot export: the model uses a Hugging Face teacher's own tokenizer, whose ids"
        + " Distillery shifts by five, so its logits do not index that tokenizer's ids: " + modelDir);
  }

  /**
   * The export's {@code tokenizer.json}: Distillery's BPE translated, or, for a student of an
   * exported teacher, that teacher's file as it is (it already holds Distillery's ids).
   */
  private static void writeTokenizer(TextTokenizer tokenizer, Path file) throws IOException {
    if (tokenizer instanceof BpeTokenizer bpe) {
      Files.writeString(file, HfTokenizerJson.of(bpe));
    } else {
      tokenizer.save(file);
    }
  }

  private static Map<String, Object> tokenizerConfig(LanguageModel model) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("tokenizer_class", "PreTrainedTokenizerFast");
    c.put("bos_token", HfTokenizerJson.SPECIALS.get(TextTokenizer.BOS));
    c.put("eos_token", HfTokenizerJson.SPECIALS.get(TextTokenizer.EOS));
    c.put("pad_token", HfTokenizerJson.SPECIALS.get(TextTokenizer.PAD));
    c.put("unk_token", HfTokenizerJson.SPECIALS.get(TextTokenizer.UNK));
    c.put("sep_token", HfTokenizerJson.SPECIALS.get(TextTokenizer.SEP));
    c.put("model_max_length", model.maxTokens());
    return c;
  }

  private static Map<String, Object> config(LanguageModel model, boolean withPast) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("model_type", "distillery-" + model.shape().architecture());
    c.put("vocab_size", model.vocabSize());
    c.put("hidden_size", model.shape().hidden());
    c.put("num_hidden_layers", model.shape().layers());
    if (model.architecture() instanceof TransformerArchitecture) {
      TransformerBlock block = (TransformerBlock) model.graph().getLayer("block0").conf().getLayer();
      c.put("num_attention_heads", block.getHeads());
      c.put("head_dim", block.getHidden() / block.getHeads());
    } else {
      c.put("embedding_size", model.shape().embedding());
    }
    c.put("max_position_embeddings", model.maxTokens());
    c.put("bos_token_id", TextTokenizer.BOS);
    c.put("eos_token_id", TextTokenizer.EOS);
    c.put("pad_token_id", TextTokenizer.PAD);
    c.put("sep_token_id", TextTokenizer.SEP);
    c.put("use_cache", withPast);
    c.put("prompt_format", "<s> source <sep>, then the target until </s>");
    return c;
  }

  private static Map<String, Object> generationConfig(LanguageModel model) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("bos_token_id", TextTokenizer.BOS);
    c.put("eos_token_id", TextTokenizer.EOS);
    c.put("pad_token_id", TextTokenizer.PAD);
    c.put("max_length", model.maxTokens());
    return c;
  }

  /**
   * The manifest of the targets a student was distilled from (its provenance names them), with its
   * own sha256 added: the fingerprint of the data, since it lists every Parquet file's sha256. Null
   * when the model is not a student or its targets are no longer there.
   */
  @SuppressWarnings("unchecked")
  private static Map<String, Object> targetsManifest(Map<?, ?> source) throws IOException {
    if (!(source.get("provenance") instanceof Map<?, ?> provenance) || !(provenance.get("targets") instanceof String t)) {
      return null;
    }
    Location manifest = Location.of(t).resolve("_manifest.json"); // a URI; a local path before 0.2
    if (!manifest.isFile()) {
      return null;
    }
    byte[] bytes = manifest.readBytes();
    Map<String, Object> m = JSON.readValue(bytes, Map.class);
    m.put("manifestSha256", Hashing.sha256(new java.io.ByteArrayInputStream(bytes)));
    return m;
  }

  /** The {@code summary.json} of the distill run that wrote {@code modelDir}, if it sits in one. */
  @SuppressWarnings("unchecked")
  private static Map<String, Object> distillSummary(Location modelDir) throws IOException {
    Location summary = modelDir.sibling("summary.json");
    if (!summary.isFile()) {
      return null;
    }
    return JSON.readValue(summary.readBytes(), Map.class);
  }
}
