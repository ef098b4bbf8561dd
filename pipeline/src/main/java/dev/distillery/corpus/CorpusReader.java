package dev.distillery.corpus;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.errors.DataException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.io.LongWritable;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapreduce.InputSplit;
import org.apache.hadoop.mapreduce.lib.input.FileSplit;
import org.apache.hadoop.mapreduce.lib.input.TextInputFormat;
import org.apache.spark.api.java.JavaNewHadoopRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat_ws;
import static org.apache.spark.sql.functions.first;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.row_number;
import static org.apache.spark.sql.functions.when;

/**
 * Reads a corpus (JSON Lines or Parquet) into accepted and rejected rows. Nothing is dropped
 * silently: every unusable row lands in {@link Corpus#rejected()} with a reason, and duplicate ids
 * keep their first occurrence (by file and byte offset) and reject the rest.
 */
public final class CorpusReader {
  /** Every parsed row before the split, one per input line or Parquet row. */
  public static final StructType PARSED = new StructType(new StructField[] {
    DataTypes.createStructField("file", DataTypes.StringType, false),
    DataTypes.createStructField("offset", DataTypes.LongType, false),
    DataTypes.createStructField("id", DataTypes.StringType, true),
    DataTypes.createStructField("source", DataTypes.StringType, true),
    DataTypes.createStructField("target", DataTypes.StringType, true),
    DataTypes.createStructField("reason", DataTypes.StringType, true),
    DataTypes.createStructField("detail", DataTypes.StringType, true),
    DataTypes.createStructField("raw", DataTypes.StringType, true),
  });
  private static final int RAW_LIMIT = 1000;

  private CorpusReader() {}

  public static Corpus read(SparkSession spark, String path, DistilleryConfig.Corpus config) {
    String format = config.format().equals("auto")
        ? (path.endsWith(".parquet") || path.endsWith(".parq") ? "parquet" : "jsonl")
        : config.format();
    boolean found;
    try {
      found = dev.distillery.storage.Location.of(path).matchesAny();
    } catch (java.io.IOException | RuntimeException e) {
      throw new DataException("Cannot read corpus: its location is not readable (" + e.getMessage() + "): " + path);
    }
    if (!found) {
      throw new DataException("Cannot read corpus: no such file or directory: " + path);
    }
    RowValidator validator = new RowValidator(config.maxChars());
    spark.sparkContext().setJobDescription("Read and validate corpus " + path);
    Dataset<Row> parsed = format.equals("parquet")
        ? parquet(spark, path, validator)
        : jsonLines(spark, path, validator);

    // Duplicate ids: the first occurrence (file, offset) wins; later ones are rejected.
    var byId = Window.partitionBy("id").orderBy("file", "offset");
    Column accepted = col("reason").isNull();
    Dataset<Row> ranked = parsed
        .withColumn("rank", when(accepted, row_number().over(byId)).otherwise(lit(1)))
        .withColumn("firstAt", when(accepted,
            first(concat_ws(":", col("file"), col("offset"))).over(byId)))
        .withColumn("reason", when(col("rank").gt(1), lit(RejectReason.DUPLICATE_ID.code())).otherwise(col("reason")))
        .withColumn("detail", when(col("rank").gt(1), concat_ws(" ", lit("duplicate id, first seen at"), col("firstAt")))
            .otherwise(col("detail")))
        .drop("rank", "firstAt")
        .persist(StorageLevel.MEMORY_AND_DISK());

    Map<String, Long> counts = new TreeMap<>();
    long acceptedRows = 0;
    for (Row r : ranked.groupBy("reason").count().collectAsList()) {
      if (r.isNullAt(0)) {
        acceptedRows = r.getLong(1);
      } else {
        counts.put(r.getString(0), r.getLong(1));
      }
    }
    long input = acceptedRows + counts.values().stream().mapToLong(Long::longValue).sum();
    return new Corpus(
        path,
        ranked.filter(col("reason").isNull()).select("id", "source", "target", "file", "offset"),
        ranked.filter(col("reason").isNotNull()).select("file", "offset", "id", "reason", "detail", "raw"),
        input, acceptedRows, counts);
  }

  private static Dataset<Row> jsonLines(SparkSession spark, String path, RowValidator validator) {
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    @SuppressWarnings("unchecked")
    JavaNewHadoopRDD<LongWritable, Text> lines = (JavaNewHadoopRDD<LongWritable, Text>)
        jsc.newAPIHadoopFile(path, TextInputFormat.class, LongWritable.class, Text.class, jsc.hadoopConfiguration());
    JavaRDD<Row> rows = lines.mapPartitionsWithInputSplit(
        (InputSplit split, Iterator<Tuple2<LongWritable, Text>> it) -> {
          String file = ((FileSplit) split).getPath().getName();
          List<Row> out = new ArrayList<>();
          while (it.hasNext()) {
            Tuple2<LongWritable, Text> t = it.next();
            long offset = t._1().get();
            Text text = t._2(); // reused by the reader: use before the next line
            ParsedRow p = validator.parseLine(text.getBytes(), text.getLength(), file + ":" + offset);
            out.add(toRow(file, offset, p, p.accepted() ? null : raw(text)));
          }
          return out.iterator();
        }, true);
    return spark.createDataFrame(rows, PARSED);
  }

  private static Dataset<Row> parquet(SparkSession spark, String path, RowValidator validator) {
    Dataset<Row> df = spark.read().parquet(path);
    StructType schema = df.schema();
    List<String> names = List.of(schema.fieldNames());
    boolean text = names.contains("text") && !names.contains("target");
    String targetCol = text ? "text" : "target";
    String problem = null;
    for (String c : text ? new String[] {"text"} : new String[] {"id", "source", "target"}) {
      if (!names.contains(c)) {
        problem = "missing column " + c;
      } else if (!schema.apply(c).dataType().equals(DataTypes.StringType)) {
        problem = "column " + c + " is " + schema.apply(c).dataType().simpleString() + ", expected string";
      }
    }
    String schemaProblem = problem;
    boolean hasId = names.contains("id") && schema.apply("id").dataType().equals(DataTypes.StringType);
    String file = new org.apache.hadoop.fs.Path(path).getName();
    JavaRDD<Row> rows = df.toJavaRDD().zipWithIndex().map(t -> {
      Row r = t._1();
      long offset = t._2();
      if (schemaProblem != null) {
        return toRow(file, offset, ParsedRow.reject(null, RejectReason.WRONG_SCHEMA, schemaProblem), truncate(r.toString()));
      }
      String id = hasId ? r.getAs("id") : file + ":" + offset;
      ParsedRow p = validator.validate(id, text ? null : r.getAs("source"), r.getAs(targetCol));
      return toRow(file, offset, p, p.accepted() ? null : truncate(r.toString()));
    });
    return spark.createDataFrame(rows, PARSED);
  }

  private static Row toRow(String file, long offset, ParsedRow p, String raw) {
    return RowFactory.create(file, offset, p.id(), p.source(), p.target(),
        p.accepted() ? null : p.reason().code(), p.detail(), raw);
  }

  private static String raw(Text text) {
    // Lossy decode for display only; the reason column says whether the bytes were valid.
    String s = new String(text.getBytes(), 0, Math.min(text.getLength(), 4 * RAW_LIMIT), StandardCharsets.UTF_8);
    return truncate(s);
  }

  private static String truncate(String s) {
    return s.length() > RAW_LIMIT ? s.substring(0, RAW_LIMIT) + "…" : s;
  }
}
