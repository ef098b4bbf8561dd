package dev.distillery.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.model.TokenizedExample;
import dev.distillery.tokenizer.BpeTokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The bundled sample pairs (id, source, target). */
final class Samples {
  private Samples() {}

  static List<String[]> pairs(Path file, int limit) throws IOException {
    ObjectMapper json = new ObjectMapper();
    List<String[]> out = new ArrayList<>();
    for (String line : Files.readAllLines(file)) {
      JsonNode n = json.readTree(line);
      out.add(new String[] {n.get("id").asText(), n.get("source").asText(), n.get("target").asText()});
      if (out.size() == limit) {
        break;
      }
    }
    return out;
  }

  /** A BPE tokenizer trained on the sources and targets of {@code pairs}, as train would. */
  static BpeTokenizer tokenizer(List<String[]> pairs, DistilleryConfig.Tokenizer config) {
    List<String> texts = new ArrayList<>();
    for (String[] p : pairs) {
      texts.add(BpeTokenizer.normalize(p[1]));
      texts.add(BpeTokenizer.normalize(p[2]));
    }
    return BpeTokenizer.train(texts, config.vocabSize(), config.minPairCount());
  }

  /** The pairs tokenized, in order, keeping those of at most {@code maxTokens} tokens. */
  static List<TokenizedExample> tokenized(List<String[]> pairs, BpeTokenizer tok, int maxTokens) {
    List<TokenizedExample> out = new ArrayList<>();
    for (String[] p : pairs) {
      TokenizedExample e = TokenizedExample.of(p[0], tok.encode(BpeTokenizer.normalize(p[1])),
          tok.encode(BpeTokenizer.normalize(p[2])));
      if (e.tokens().length <= maxTokens) {
        out.add(e);
      }
    }
    return out;
  }
}
