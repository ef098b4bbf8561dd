package dev.distillery.bench;

import com.fasterxml.jackson.databind.JsonNode;
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
}
