package dev.distillery.corpus;

import com.johnsnowlabs.nlp.DocumentAssembler;
import com.johnsnowlabs.nlp.Finisher;
import com.johnsnowlabs.nlp.annotators.DocumentNormalizer;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.element_at;
import static org.apache.spark.sql.functions.when;

/**
 * Normalizes the text columns of accepted rows with a Spark NLP pipeline built only from rule-based
 * annotators (no model download): {@code DocumentAssembler} (whitespace shrinking) then
 * {@code DocumentNormalizer} (strips markup tags such as {@code <i>}) and a {@code Finisher} back to
 * plain strings. Unicode NFC and whitespace collapsing already happened in {@link RowValidator}, so
 * train, evaluate and prepare see the same text.
 */
public final class TextNormalizer {
  private TextNormalizer() {}

  /** Normalized {@code source} (when present) and {@code target}; every other column is kept. */
  public static Dataset<Row> normalize(Dataset<Row> rows) {
    Dataset<Row> out = rows;
    for (String column : new String[] {"source", "target"}) {
      PipelineModel model = pipeline(column).fit(out.limit(0));
      Dataset<Row> done = model.transform(out);
      // An all-markup text normalizes to nothing: keep the original rather than an empty string.
      done = done.withColumn(column, when(
          element_at(col(column + "_normalized"), 1).isNotNull()
              .and(element_at(col(column + "_normalized"), 1).notEqual("")),
          element_at(col(column + "_normalized"), 1)).otherwise(col(column)));
      out = done.drop(column + "_normalized");
    }
    return out;
  }

  /**
   * Splits plain-text rows (no source) longer than {@code overChars} characters into one row per
   * sentence with Spark NLP's rule-based {@code SentenceDetector}; the pieces are named
   * {@code id#0}, {@code id#1}, ... Pairs and shorter texts pass through unchanged.
   */
  public static Dataset<Row> splitSentences(Dataset<Row> rows, int overChars) {
    org.apache.spark.sql.Column isLong = col("source").isNull()
        .and(org.apache.spark.sql.functions.length(col("target")).gt(overChars));
    Dataset<Row> keep = rows.filter(org.apache.spark.sql.functions.not(isLong));
    DocumentAssembler assembler = new DocumentAssembler();
    assembler.setInputCol("target");
    assembler.setOutputCol("split_document");
    com.johnsnowlabs.nlp.annotators.sbd.pragmatic.SentenceDetector sentences =
        new com.johnsnowlabs.nlp.annotators.sbd.pragmatic.SentenceDetector();
    sentences.setInputCols(new String[] {"split_document"});
    sentences.setOutputCol("split_sentences");
    Finisher finisher = new Finisher();
    finisher.setInputCols(new String[] {"split_sentences"});
    finisher.setOutputCols(new String[] {"split_texts"});
    finisher.setOutputAsArray(true);
    Pipeline pipeline = new Pipeline().setStages(new PipelineStage[] {assembler, sentences, finisher});
    Dataset<Row> longRows = rows.filter(isLong);
    Dataset<Row> split = pipeline.fit(longRows.limit(0)).transform(longRows)
        .selectExpr("*", "posexplode(split_texts) AS (split_n, split_text)")
        .withColumn("id", org.apache.spark.sql.functions.concat_ws("#", col("id"), col("split_n").cast("string")))
        .withColumn("target", col("split_text"))
        .drop("split_texts", "split_n", "split_text");
    return keep.unionByName(split.select(keep.columns()[0],
        java.util.Arrays.copyOfRange(keep.columns(), 1, keep.columns().length)));
  }

  private static Pipeline pipeline(String column) {
    DocumentAssembler assembler = new DocumentAssembler();
    assembler.setInputCol(column);
    assembler.setOutputCol(column + "_document");
    assembler.setCleanupMode("shrink_full");
    DocumentNormalizer normalizer = new DocumentNormalizer();
    normalizer.setInputCols(new String[] {column + "_document"});
    normalizer.setOutputCol(column + "_clean");
    normalizer.setPatterns(new String[] {"<[^>]{1,64}>"});
    normalizer.setReplacement(" ");
    normalizer.setPolicy("pretty_all");
    normalizer.setLowercase(false);
    Finisher finisher = new Finisher();
    finisher.setInputCols(new String[] {column + "_clean"});
    finisher.setOutputCols(new String[] {column + "_normalized"});
    finisher.setOutputAsArray(true);
    finisher.setCleanAnnotations(true);
    return new Pipeline().setStages(new PipelineStage[] {assembler, normalizer, finisher});
  }
}
