package dev.distillery.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.ConfigLoader;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.TokenizedExample;
import dev.distillery.tokenizer.BpeTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Small real models and data for tests: built from the bundled sample, never downloaded. */
public final class TinyModels {
  private static final ObjectMapper JSON = new ObjectMapper();

  private TinyModels() {}

  /** (source, target) pairs from the bundled tiny sample. */
  public static List<String[]> pairs(int n) {
    try {
      List<String[]> out = new ArrayList<>();
      for (String line : Files.readAllLines(TestSpark.sample("es-en.tiny.jsonl"))) {
        JsonNode node = JSON.readTree(line);
        out.add(new String[] {node.get("id").asText(), node.get("source").asText(), node.get("target").asText()});
        if (out.size() == n) {
          break;
        }
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static BpeTokenizer tokenizer(int vocab) {
    List<String> texts = new ArrayList<>();
    for (String[] p : pairs(300)) {
      texts.add(BpeTokenizer.normalize(p[1]));
      texts.add(BpeTokenizer.normalize(p[2]));
    }
    return BpeTokenizer.train(texts, vocab, 2);
  }

  public static List<TokenizedExample> examples(BpeTokenizer tok, int n, int maxTokens) {
    List<TokenizedExample> out = new ArrayList<>();
    for (String[] p : pairs(300)) {
      TokenizedExample e = TokenizedExample.of(p[0], tok.encode(BpeTokenizer.normalize(p[1])),
          tok.encode(BpeTokenizer.normalize(p[2])));
      if (e.tokens().length <= maxTokens) {
        out.add(e);
      }
      if (out.size() == n) {
        break;
      }
    }
    return out;
  }

  public static DistilleryConfig config(String... overrides) {
    List<String> all = new ArrayList<>(List.of(
        "model.embedding=16", "model.hidden=24", "model.layers=1", "model.max-tokens=200",
        "tokenizer.vocab-size=300", "train.batch-per-worker=8", "train.averaging-frequency=2",
        "train.progress-every=4", "decode.max-new-tokens=12", "decode.batch-size=4"));
    all.addAll(List.of(overrides));
    return ConfigLoader.load(Optional.empty(), all);
  }

  public static LanguageModel model(DistilleryConfig config, BpeTokenizer tok) {
    return LanguageModel.create(config.model(), tok, config.train().seed(), config.train().learningRate());
  }
}
