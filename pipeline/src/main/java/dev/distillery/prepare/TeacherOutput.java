package dev.distillery.prepare;

import java.io.Serializable;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.tokenizer.TokenBridge;
import java.util.List;
import org.apache.spark.sql.Row;

/**
 * One target sequence and the teacher's top-k distributions along it.
 *
 * @param ids target token ids without {@code </s>}, length {@code n}
 * @param logprob the teacher's natural-log likelihood of {@code ids} (and of {@code </s>} when finished)
 * @param topkIds {@code [n + 1][k]} token ids per position, most probable first
 * @param topkLogprobs {@code [n + 1][k]} their natural-log probabilities (temperature 1)
 * @param tailMass {@code [n + 1]} probability outside the top k: {@code 1 − Σ exp(topkLogprobs)}
 */
public record TeacherOutput(
    int[] ids, double logprob, boolean finished, int[][] topkIds, float[][] topkLogprobs, float[] tailMass)
    implements Serializable {
  public int positions() {
    return tailMass.length;
  }

  /**
   * One {@link TargetsSchema#OUTPUT} struct of a targets row, read by field name, so a Parquet file
   * whose struct fields come in another order still reads right.
   */
  public static TeacherOutput read(Row output) {
    List<Object> topIds = output.getList(output.fieldIndex("topk_ids"));
    List<Object> topLps = output.getList(output.fieldIndex("topk_logprobs"));
    List<Object> tails = output.getList(output.fieldIndex("tail_mass"));
    int positions = tails.size();
    int[][] ids = new int[positions][];
    float[][] lps = new float[positions][];
    float[] tail = new float[positions];
    for (int p = 0; p < positions; p++) {
      List<Object> pid = seq(topIds.get(p));
      List<Object> plp = seq(topLps.get(p));
      ids[p] = new int[pid.size()];
      lps[p] = new float[plp.size()];
      for (int j = 0; j < ids[p].length; j++) {
        ids[p][j] = ((Number) pid.get(j)).intValue();
      }
      for (int j = 0; j < lps[p].length; j++) {
        lps[p][j] = (Float) plp.get(j);
      }
      tail[p] = (Float) tails.get(p);
    }
    List<Object> tokens = output.getList(output.fieldIndex("ids"));
    return new TeacherOutput(tokens.stream().mapToInt(o -> ((Number) o).intValue()).toArray(),
        output.getDouble(output.fieldIndex("logprob")), output.getBoolean(output.fieldIndex("finished")), ids, lps, tail);
  }

  /**
   * The output struct in a student's tokens through {@code bridge}: from the stored {@code text} and
   * {@code ends} (schema 2), or, for schema 1 targets, from its ids and the teacher's tokenizer, which
   * give the same.
   *
   * @param sorted keep the teacher's own sorted top-k at aligned positions (ULD) instead of mapping them
   */
  public static TokenBridge.Relabeled relabel(Row output, TokenBridge bridge, int k, boolean sorted) {
    TeacherOutput o = read(output);
    if (!hasField(output, "ends")) {
      return bridge.relabel(o.ids(), o.topkIds(), o.topkLogprobs(), o.tailMass(), k, sorted);
    }
    List<Object> ends = output.getList(output.fieldIndex("ends"));
    return bridge.relabel(output.getString(output.fieldIndex("text")),
        ends.stream().mapToInt(e -> ((Number) e).intValue()).toArray(), o.topkIds(), o.topkLogprobs(), o.tailMass(), k,
        sorted);
  }

  /** The output's text: stored (schema 2), or as its tokens spell it with the teacher's tokenizer (schema 1). */
  public static String text(Row output, TextTokenizer teacher) {
    if (hasField(output, "text")) {
      return output.getString(output.fieldIndex("text"));
    }
    List<Object> tokens = output.getList(output.fieldIndex("ids"));
    return TokenBridge.text(teacher, tokens.stream().mapToInt(o -> ((Number) o).intValue()).toArray());
  }

  private static boolean hasField(Row struct, String name) {
    return java.util.Arrays.asList(struct.schema().fieldNames()).contains(name);
  }

  /** Spark hands nested arrays as Java lists or as Scala sequences, depending on the reader. */
  @SuppressWarnings("unchecked")
  private static List<Object> seq(Object o) {
    return o instanceof List<?> l ? (List<Object>) l
        : scala.collection.JavaConverters.seqAsJavaList((scala.collection.Seq<Object>) o);
  }
}
