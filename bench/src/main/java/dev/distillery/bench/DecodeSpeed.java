package dev.distillery.bench;

import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.decode.Decoder;
import dev.distillery.decode.Hypothesis;
import dev.distillery.model.LanguageModel;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.export.HfTokenizerJson;
import dev.distillery.export.OnnxExport;
import dev.distillery.teacher.OnnxCausalModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.function.Function;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Decoding speed of a transformer, one thread: new tokens per second for beam search (width 4) and
 * nucleus sampling at up to 96 new tokens, re-running the prefix at every step against the
 * key/value cache, on the same prompts (real sample sources) and the same model; then the same
 * model exported to ONNX with past key values, run by ONNX Runtime (one thread), re-running the
 * prefix against feeding the past. Args: [prompts].
 */
public final class DecodeSpeed {
  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 8;
    Nd4j.setDefaultDataTypes(DataType.FLOAT, DataType.FLOAT);
    DistilleryConfig c = ConfigLoader.load(Optional.empty(), List.of(
        "model.architecture=transformer", "model.hidden=128", "model.layers=2", "model.heads=4",
        "model.max-tokens=256", "tokenizer.vocab-size=1000", "decode.max-new-tokens=96", "decode.batch-size=8"));
    List<String[]> pairs = Samples.pairs(Path.of("data/sample/es-en.train.jsonl"), 2000);
    BpeTokenizer tok = Samples.tokenizer(pairs, c.tokenizer());
    List<int[]> prompts = new ArrayList<>();
    for (var e : Samples.tokenized(pairs, tok, 120).subList(0, n)) {
      prompts.add(e.prompt());
    }
    // Fresh weights: speed depends on shapes only, and </s> (1 in 1,000) rarely ends an output early.
    LanguageModel model = LanguageModel.create(c.model(), tok, 42, 1e-3);
    Decoder cached = new Decoder(model, c.decode());
    Decoder recompute = cached.recomputing();

    Table table = new Table("Transformer decoding speed (128 x 2, vocabulary 1000, one thread)",
        "decoding", "recompute new tokens/s", "cache new tokens/s", "cache / recompute");
    List<Function<Decoder, List<Hypothesis>>> runs = List.of(d -> d.beam(prompts, 4), d -> d.sample(prompts, new Random(5)));
    String[] names = {"beam 4", "sampling (top-p)"};
    for (int i = 0; i < runs.size(); i++) {
      row(table, names[i], recompute, cached, runs.get(i));
    }
    Path export = Files.createTempDirectory("decode-speed-onnx");
    Files.write(export.resolve(OnnxCausalModel.MODEL_FILE), OnnxExport.build(model, true, Map.of()).toByteArray());
    Files.writeString(export.resolve(OnnxCausalModel.TOKENIZER_FILE), HfTokenizerJson.of(tok));
    try (OnnxCausalModel onnx = new OnnxCausalModel(export, -1, c.model().maxTokens())) {
      Decoder past = new Decoder(onnx, c.decode());
      for (int i = 0; i < runs.size(); i++) {
        row(table, "ONNX Runtime, " + names[i], past.recomputing(), past, runs.get(i));
      }
    }
    table.note(n + " prompts (sample sources, " + prompts.stream().mapToInt(p -> p.length).sum() / n
        + " tokens on average) decoded together, up to 96 new tokens each; "
        + "one warm-up run, then the best of 2; new tokens = tokens in the returned outputs; freshly initialized weights; "
        + "ONNX rows: the same model exported with past key values (bin/distillery export --with-past), the cache column feeding the past");
    table.publish("decode-speed", ("bin/bench decode-speed " + String.join(" ", args)).trim());
  }

  private static void row(Table table, String name, Decoder slow, Decoder fast,
      Function<Decoder, List<Hypothesis>> run) {
    double recompute = tokensPerSecond(slow, run);
    double cache = tokensPerSecond(fast, run);
    table.row(name, recompute, cache, String.format(java.util.Locale.ROOT, "%.1fx", cache / recompute));
    System.err.printf("bench: %s: recompute %.0f, cache %.0f new tokens/s%n", name, recompute, cache);
  }

  private static double tokensPerSecond(Decoder d, Function<Decoder, List<Hypothesis>> run) {
    run.apply(d);
    double best = 0;
    for (int r = 0; r < 2; r++) {
      long start = System.nanoTime();
      List<Hypothesis> out = run.apply(d);
      double seconds = (System.nanoTime() - start) / 1e9;
      long tokens = out.stream().mapToLong(h -> h.tokens().length).sum();
      best = Math.max(best, tokens / seconds);
    }
    return best;
  }

  private DecodeSpeed() {}
}
