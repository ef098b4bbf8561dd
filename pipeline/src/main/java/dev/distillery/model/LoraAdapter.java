package dev.distillery.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.distillery.storage.Location;
import dev.distillery.storage.Scratch;
import dev.distillery.util.Hashing;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A Transformer with LoRA modules, kept as a reference to its frozen base model plus the LoRA
 * weights alone: {@code adapter.json} (the base directory and the sha256 of its {@code model.zip},
 * rank, scale, and each module's layer, name and shape) and {@code lora.bin} (the modules' weights,
 * one flat ND4J binary array in the order listed). {@link ModelBundle#load} opens such a directory
 * as a {@link LanguageModel} like any other, refusing it when the base has changed since.
 */
public final class LoraAdapter {
  public static final String FILE = "adapter.json";
  public static final String WEIGHTS = "lora.bin";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** One LoRA matrix: the block it sits in, its parameter name and shape. */
  public record Module(String layer, String param, long[] shape) {}

  private LoraAdapter() {}

  public static boolean isAdapter(Path dir) {
    return Files.isRegularFile(dir.resolve(FILE));
  }

  /**
   * {@code base} with LoRA modules of the given rank and scale on every block, fresh: the
   * down-projections {@code A} random, the up-projections {@code B} zero, so it computes exactly
   * what {@code base} computes. The base weights are copied in and frozen.
   */
  public static LanguageModel attach(LanguageModel base, Architecture.Lora lora) {
    if (!(base.architecture() instanceof TransformerArchitecture)) {
      throw new IllegalArgumentException("Cannot attach LoRA modules: the model must be a transformer: "
          + base.shape().architecture());
    }
    // The seed only draws the fresh A matrices (B = 0 makes them inert); the learning rate is unused,
    // since an adapted teacher trains only inside the OKD pair graph.
    var conf = base.architecture().configure(base.shape(), base.vocabSize(), 1234, 1e-3,
        OutputHead.softmaxCrossEntropy(), lora);
    ComputationGraph graph = new ComputationGraph(conf);
    graph.init();
    copyLayers(base.graph(), graph, UnaryOperator.identity());
    return new LanguageModel(graph, base.shape(), base.tokenizer());
  }

  /**
   * Copies every parameter of {@code from}'s layers into the layer {@code rename} names in
   * {@code to} (layers it maps to null are skipped), reshaping where the two store one map
   * differently; a named layer or parameter {@code to} lacks is an error, parameters only
   * {@code to} has are left alone.
   */
  public static void copyLayers(ComputationGraph from, ComputationGraph to, UnaryOperator<String> rename) {
    for (org.deeplearning4j.nn.api.Layer layer : from.getLayers()) {
      String target = rename.apply(layer.conf().getLayer().getLayerName());
      if (target == null) {
        continue;
      }
      org.deeplearning4j.nn.api.Layer dst = to.getLayer(target);
      if (dst == null) {
        throw new IllegalArgumentException("Cannot copy parameters: no layer " + target + " in the target graph");
      }
      layer.paramTable().forEach((param, value) -> copy(value, dst.getParam(param), target + "/" + param));
    }
  }

  /** {@code dst ← src}, reshaped in row-major order when the element counts agree. */
  public static void copy(INDArray src, INDArray dst, String what) {
    if (dst == null || src.length() != dst.length()) {
      throw new IllegalArgumentException("Cannot copy parameter " + what + ": shapes differ: "
          + java.util.Arrays.toString(src.shape()) + " vs " + (dst == null ? "none" : java.util.Arrays.toString(dst.shape())));
    }
    dst.assign(src.reshape('c', dst.shape()));
  }

  /** The LoRA matrices of a graph, in layer order. */
  public static List<Module> modules(ComputationGraph graph) {
    List<Module> out = new ArrayList<>();
    for (org.deeplearning4j.nn.api.Layer layer : graph.getLayers()) {
      if (layer.conf().getLayer() instanceof TransformerBlock b && b.getLoraRank() > 0) {
        for (String p : TransformerBlock.LORA_PARAMS) {
          out.add(new Module(b.getLayerName(), p, layer.getParam(p).shape()));
        }
      }
    }
    return out;
  }

  /**
   * Writes {@code adapted}'s LoRA weights and a reference to {@code baseDir} (the model directory
   * the frozen weights came from) into {@code dir}.
   */
  public static void save(Location dir, LanguageModel adapted, Location base, Map<String, Object> provenance)
      throws IOException {
    Scratch.writeFiles(dir, local -> save(local, adapted, base, provenance));
  }

  public static void save(Path dir, LanguageModel adapted, Path base, Map<String, Object> provenance)
      throws IOException {
    save(dir, adapted, Location.of(base), provenance);
  }

  private static void save(Path dir, LanguageModel adapted, Location base, Map<String, Object> provenance)
      throws IOException {
    List<Module> modules = modules(adapted.graph());
    if (modules.isEmpty()) {
      throw new IllegalArgumentException("Cannot save LoRA adapter: the model has no LoRA modules: " + dir);
    }
    Files.createDirectories(dir);
    List<INDArray> parts = new ArrayList<>();
    for (Module m : modules) {
      parts.add(adapted.graph().getLayer(m.layer()).getParam(m.param()));
    }
    Path tmp = dir.resolve(WEIGHTS + ".tmp");
    Nd4j.saveBinary(Nd4j.toFlattened('c', parts), tmp.toFile());
    TransformerBlock first = (TransformerBlock) adapted.graph().getLayer(modules.get(0).layer()).conf().getLayer();
    Map<String, Object> meta = new LinkedHashMap<>();
    meta.put("format", "distillery-lora");
    meta.put("version", 1);
    meta.put("base", base.uri());
    meta.put("baseFingerprint", ModelBundle.fingerprint(base));
    meta.put("rank", first.getLoraRank());
    meta.put("scale", first.getLoraScale());
    meta.put("modules", modules);
    meta.put("parameters", parts.stream().mapToLong(INDArray::length).sum());
    meta.put("provenance", provenance);
    JSON.writeValue(dir.resolve(FILE + ".tmp").toFile(), meta);
    Files.move(tmp, dir.resolve(WEIGHTS), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    Files.move(dir.resolve(FILE + ".tmp"), dir.resolve(FILE), StandardCopyOption.REPLACE_EXISTING,
        StandardCopyOption.ATOMIC_MOVE);
  }

  /** Loads the base named in {@code adapter.json}, attaches the modules and fills in their weights. */
  public static LanguageModel load(Path dir) throws IOException {
    Map<?, ?> meta = JSON.readValue(dir.resolve(FILE).toFile(), Map.class);
    if (!"distillery-lora".equals(meta.get("format"))) {
      throw new IOException("Cannot load LoRA adapter: not a Distillery adapter (format " + meta.get("format") + "): " + dir);
    }
    Location base = Location.of(String.valueOf(meta.get("base"))); // a URI; a local path before 0.2
    if (!base.isDirectory()) {
      throw new IOException("Cannot load LoRA adapter: its base model directory is missing: " + base);
    }
    String fingerprint = ModelBundle.fingerprint(base);
    if (!fingerprint.equals(meta.get("baseFingerprint"))) {
      throw new IOException("Cannot load LoRA adapter: the base model changed since the adapter was trained "
          + "(baseFingerprint " + meta.get("baseFingerprint") + " vs " + fingerprint + "): " + base);
    }
    LanguageModel model = attach(ModelBundle.load(base),
        new Architecture.Lora(((Number) meta.get("rank")).intValue(), ((Number) meta.get("scale")).doubleValue()));
    INDArray flat = Nd4j.readBinary(dir.resolve(WEIGHTS).toFile());
    flat = flat.reshape(flat.length());
    long offset = 0;
    for (Object o : (List<?>) meta.get("modules")) {
      Module m = JSON.convertValue(o, Module.class);
      INDArray dst = model.graph().getLayer(m.layer()) == null ? null : model.graph().getLayer(m.layer()).getParam(m.param());
      long n = dst == null ? 0 : dst.length();
      if (dst == null || offset + n > flat.length() || !java.util.Arrays.equals(dst.shape(), m.shape())) {
        throw new IOException("Cannot load LoRA adapter: module " + m.layer() + "/" + m.param()
            + " does not fit the base model: " + dir);
      }
      dst.assign(flat.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(offset, offset + n)).reshape('c', dst.shape()));
      offset += n;
    }
    if (offset != flat.length()) {
      throw new IOException("Cannot load LoRA adapter: " + WEIGHTS + " holds " + flat.length()
          + " values but the modules take " + offset + ": " + dir);
    }
    return model;
  }

  /** The adapter's fingerprint: its base's and its own weights'. */
  public static String fingerprint(Path dir) throws IOException {
    Map<?, ?> meta = JSON.readValue(dir.resolve(FILE).toFile(), Map.class);
    return Hashing.sha256(meta.get("baseFingerprint") + ":" + Hashing.sha256(dir.resolve(WEIGHTS)));
  }
}
