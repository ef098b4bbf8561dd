package dev.distillery.corpus;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.distillery.testing.TestSpark;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

class TextNormalizerTest {
  @Test
  void stripsMarkupAndKeepsPlainTextAndOtherColumns() {
    StructType schema = new StructType().add("id", DataTypes.StringType).add("source", DataTypes.StringType)
        .add("target", DataTypes.StringType).add("offset", DataTypes.LongType);
    List<Row> rows = List.of(
        RowFactory.create("a", "Y dijo Dios: Sea la luz", "God said, “Let there be light,” and there was light.", 1L),
        RowFactory.create("b", "el <i>espíritu</i> de Dios", "the <i>Spirit</i> of God", 2L),
        RowFactory.create("c", null, "plain text row", 3L));
    Map<String, Row> out = TextNormalizer.normalize(TestSpark.get().createDataFrame(rows, schema))
        .collectAsList().stream().collect(Collectors.toMap(r -> r.getAs("id"), r -> r));

    assertEquals("Y dijo Dios: Sea la luz", out.get("a").<String>getAs("source"));
    assertEquals("God said, “Let there be light,” and there was light.", out.get("a").<String>getAs("target"));
    assertEquals("el espíritu de Dios", out.get("b").<String>getAs("source"));
    assertEquals("the Spirit of God", out.get("b").<String>getAs("target"));
    assertEquals(null, out.get("c").<String>getAs("source"));
    assertEquals("plain text row", out.get("c").<String>getAs("target"));
    assertEquals(2L, out.get("b").<Long>getAs("offset"));
  }

  @Test
  void splitsLongPlainTextIntoSentencesNamedAfterTheDocument() {
    StructType schema = new StructType().add("id", DataTypes.StringType).add("source", DataTypes.StringType)
        .add("target", DataTypes.StringType);
    String doc = "In the beginning God created the heavens and the earth. The earth was formless and empty. "
        + "God said, let there be light, and there was light.";
    List<Row> rows = List.of(
        RowFactory.create("long", null, doc),
        RowFactory.create("short", null, "A short text. Two sentences."),
        RowFactory.create("pair", "Una frase larga. Y otra más. Y otra.", "A long sentence. And another. And one more."));
    Map<String, String> out = TextNormalizer.splitSentences(TestSpark.get().createDataFrame(rows, schema), 40)
        .collectAsList().stream().collect(Collectors.toMap(r -> r.getAs("id"), r -> r.getAs("target")));

    assertEquals(Map.of(
        "long#0", "In the beginning God created the heavens and the earth.",
        "long#1", "The earth was formless and empty.",
        "long#2", "God said, let there be light, and there was light.",
        "short", "A short text. Two sentences.",
        "pair", "A long sentence. And another. And one more."), out);
  }
}
