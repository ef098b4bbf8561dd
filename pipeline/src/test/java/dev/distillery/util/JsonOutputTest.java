package dev.distillery.util;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.storage.Location;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonOutputTest {
  @TempDir Path dir;

  record Scores(double perplexity, float kl) {}

  @Test
  void nonFiniteNumbersAreWrittenAsNullAndFiniteOnesAsNumbers() throws Exception {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("loss", Double.NaN);
    m.put("curve", List.of(1.5, Double.POSITIVE_INFINITY));
    m.put("row", new Scores(Double.NEGATIVE_INFINITY, Float.NaN));
    m.put("steps", 7);
    Path file = dir.resolve("summary.json");
    Location.of(file).writeJson(m);

    JsonNode n = new ObjectMapper().readTree(file.toFile());
    assertTrue(n.get("loss").isNull(), n.toString());
    assertEquals(1.5, n.get("curve").get(0).asDouble());
    assertTrue(n.get("curve").get(0).isNumber() && n.get("curve").get(1).isNull(), n.toString());
    assertTrue(n.get("row").get("perplexity").isNull() && n.get("row").get("kl").isNull(), n.toString());
    assertEquals(7, n.get("steps").asInt());
    assertTrue(new ObjectMapper().readTree(Json.MAPPER.writeValueAsString(new Scores(2.25, 0.5f))).get("kl").isNumber());
  }

  @Test
  void provenanceNamesTheBuildsVersion() {
    String version = (String) Provenance.base().get("distilleryVersion");
    assertTrue(version.matches("\\d+\\.\\d+\\.\\d+.*"), version);
  }
}
