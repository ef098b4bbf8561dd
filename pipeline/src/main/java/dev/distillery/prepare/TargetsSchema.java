package dev.distillery.prepare;

import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The Parquet schema of {@code prepare}'s output, version {@value #VERSION}. The same schema is kept
 * as a file in {@code data-schemas/targets-v2.json} (a test proves they are equal) with a field table
 * in {@code data-schemas/targets-v2.md}. Version 2 added each output's {@code text} and {@code ends}
 * (what distillation across tokenizers aligns on); version 1 targets, without them, still load.
 *
 * <p>One row per example. A teacher <em>output</em> struct ({@link #OUTPUT}) describes one target
 * sequence {@code y} of length {@code n} (the reference, the beam output or a sample): its ids, the
 * teacher's log-likelihood, and at each of the {@code n + 1} positions (the last one predicts
 * {@code </s>}) the teacher's top-k token ids sorted by probability ({@code </s>} and {@code <unk>} among them
 * with {@code prepare.keep-specials}), their natural-log probabilities
 * at temperature 1, and the tail mass {@code 1 − Σ top-k probabilities}; its text as its tokens spell
 * it and, per position, the UTF-8 byte length of the text before it ({@code TokenBridge.ends}).
 */
public final class TargetsSchema {
  public static final int VERSION = 2;
  /** The oldest version distill and inspect still read. */
  public static final int OLDEST_READABLE = 1;

  private static final ArrayType INTS = DataTypes.createArrayType(DataTypes.IntegerType, false);
  private static final ArrayType FLOATS = DataTypes.createArrayType(DataTypes.FloatType, false);

  /** One target sequence with the teacher's distributions along it. */
  public static final StructType OUTPUT = new StructType(new StructField[] {
    DataTypes.createStructField("ids", INTS, false),
    DataTypes.createStructField("logprob", DataTypes.DoubleType, false),
    DataTypes.createStructField("finished", DataTypes.BooleanType, false),
    DataTypes.createStructField("topk_ids", DataTypes.createArrayType(INTS, false), false),
    DataTypes.createStructField("topk_logprobs", DataTypes.createArrayType(FLOATS, false), false),
    DataTypes.createStructField("tail_mass", FLOATS, false),
    DataTypes.createStructField("text", DataTypes.StringType, false),
    DataTypes.createStructField("ends", INTS, false),
  });

  /** Rows as the job builds them; {@code shard} becomes the partition directory on disk. */
  public static final StructType ROW = new StructType(new StructField[] {
    DataTypes.createStructField("id", DataTypes.StringType, false),
    DataTypes.createStructField("source", DataTypes.StringType, true),
    DataTypes.createStructField("target", DataTypes.StringType, false),
    DataTypes.createStructField("source_ids", INTS, false),
    DataTypes.createStructField("reference", OUTPUT, false),
    DataTypes.createStructField("beam", OUTPUT, false),
    DataTypes.createStructField("samples", DataTypes.createArrayType(OUTPUT, false), false),
    DataTypes.createStructField("shard", DataTypes.IntegerType, false),
  });

  private TargetsSchema() {}
}
