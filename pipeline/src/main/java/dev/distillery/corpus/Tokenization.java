package dev.distillery.corpus;

import dev.distillery.model.TokenizedExample;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.util.Hashing;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/** Tokenizes accepted corpus rows into model sequences; rows over the token limit are rejected. */
public final class Tokenization {
  private Tokenization() {}

  /** Trains the tokenizer on the driver from at most {@code maxRows} rows (source and target texts). */
  public static BpeTokenizer trainTokenizer(Dataset<Row> accepted, int vocabSize, int minPairCount, int maxRows) {
    return BpeTokenizer.train(texts(accepted, maxRows), vocabSize, minPairCount);
  }

  /** The source (where there is one) and target texts of at most {@code maxRows} rows, collected on the driver. */
  public static List<String> texts(Dataset<Row> rows, int maxRows) {
    rows.sparkSession().sparkContext().setJobDescription("Collect texts for tokenizer training");
    List<String> texts = new ArrayList<>();
    for (Row r : rows.select("source", "target").limit(maxRows).collectAsList()) {
      if (!r.isNullAt(0)) {
        texts.add(r.getString(0));
      }
      texts.add(r.getString(1));
    }
    return texts;
  }

  /**
   * One tokenized row with the corpus row it came from; {@code example == null} when it was
   * rejected, with the reason in {@code detail}.
   */
  public record Result(TokenizedExample example, Row row, String detail) implements java.io.Serializable {}

  /** Rejected rows in the {@link CorpusReader} rejected layout. */
  public static Dataset<Row> rejectedRows(org.apache.spark.sql.SparkSession spark, JavaRDD<Result> results) {
    JavaRDD<Row> rows = results.filter(r -> r.example() == null).map(r -> org.apache.spark.sql.RowFactory.create(
        r.row().<String>getAs("file"), r.row().<Long>getAs("offset"), r.row().<String>getAs("id"),
        RejectReason.TOO_MANY_TOKENS.code(), r.detail(), null));
    return spark.createDataFrame(rows, REJECTED);
  }

  static final org.apache.spark.sql.types.StructType REJECTED = new org.apache.spark.sql.types.StructType(
      java.util.Arrays.stream(CorpusReader.PARSED.fields())
          .filter(f -> !f.name().equals("source") && !f.name().equals("target"))
          .toArray(org.apache.spark.sql.types.StructField[]::new));

  public static JavaRDD<Result> tokenize(Dataset<Row> accepted, Broadcast<? extends TextTokenizer> tokenizer, int maxTokens) {
    return accepted.toJavaRDD().map(r -> {
      TextTokenizer tok = tokenizer.value();
      String id = r.getAs("id");
      String src = r.getAs("source");
      int[] source = src == null ? null : tok.encode(src);
      int[] target = tok.encode(r.<String>getAs("target"));
      TokenizedExample e = TokenizedExample.of(id, source, target);
      if (e.tokens().length > maxTokens) {
        return new Result(null, r, "sequence has " + e.tokens().length + " tokens, limit model.max-tokens " + maxTokens);
      }
      return new Result(e, r, null);
    });
  }

  /** Whether a row belongs to the validation split: a stable hash of its id, the same on every run. */
  public static boolean isValidation(String id, double fraction) {
    long bucket = Math.floorMod(Hashing.stableHash64(id), 1_000_000L);
    return bucket < fraction * 1_000_000L;
  }
}
