package dev.distillery.tokenizer;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * Distillation across tokenizers: the teacher's stored outputs and distributions turned into the
 * student's tokens, once per targets row and never inside the training step.
 *
 * <ul>
 *   <li><b>Text.</b> A teacher output is its tokens' {@linkplain TextTokenizer#piece pieces} joined
 *       (one leading space dropped), which the student's tokenizer encodes: sentence-level KD
 *       ({@code seqkd}, the hybrid's sentence half) needs nothing more.
 *   <li><b>Spans.</b> Position {@code i} of a sequence predicts token {@code i} after the text of
 *       tokens {@code 0..i−1}; its <em>end</em> is that text's length in UTF-8 bytes. Teacher and
 *       student positions whose ends are equal have read the same text, so their next-token
 *       distributions describe the same continuation: they are <em>aligned</em>. Position 0 and the
 *       last one (the end of sequence) always are; after a token without a text of its own
 *       ({@code <unk>}) no position is.
 *   <li><b>Vocabulary map.</b> A teacher token whose piece is exactly one student token maps to it;
 *       {@code </s>} maps to {@code </s>}. At an aligned position the teacher's stored top-k become
 *       buckets of their student ids (probabilities of teacher tokens with one student id summed);
 *       the mass of tokens without one joins the tail, so mapped and tail mass still sum to one and
 *       every divergence runs unchanged. Positions that align with nothing keep only cross-entropy
 *       (all slots empty, id −1: {@code BucketLoss} skips them).
 *   <li><b>ULD</b> ({@code distill.loss = uld}) compares sorted distributions, so at aligned
 *       positions it keeps the teacher's own top-k unmapped.
 * </ul>
 *
 * <p>{@code prepare} stores each output's text and teacher span ends (targets schema 2); for older
 * targets they come from the stored teacher ids and tokenizer, which determine them exactly. The map
 * depends on the student's tokenizer, so {@code distill} computes it once per run, and one targets
 * directory serves students of any vocabulary.
 * Serializable: travels to executors inside the targets expander.
 */
public final class TokenBridge implements Serializable {
  /** The log-probability written into an empty slot: {@code exp} of it is 0 in double precision. */
  static final float EMPTY_LOGPROB = -1e4f;

  private final TextTokenizer teacher;
  private final TextTokenizer student;
  /** Teacher id to student id, −1 where the teacher token is not one student token. */
  private final int[] map;

  private TokenBridge(TextTokenizer teacher, TextTokenizer student, int[] map) {
    this.teacher = teacher;
    this.student = student;
    this.map = map;
  }

  /** The bridge from the teacher's tokenizer to the student's, with its vocabulary map computed once. */
  public static TokenBridge of(TextTokenizer teacher, TextTokenizer student) {
    Map<String, Integer> studentIds = new HashMap<>();
    for (int s = 0; s < student.vocabSize(); s++) {
      String piece = student.piece(s);
      if (piece != null) {
        studentIds.putIfAbsent(piece, s);
      }
    }
    int[] map = new int[teacher.vocabSize()];
    for (int t = 0; t < map.length; t++) {
      String piece = teacher.piece(t);
      map[t] = t == TextTokenizer.EOS ? TextTokenizer.EOS : piece == null ? -1 : studentIds.getOrDefault(piece, -1);
    }
    return new TokenBridge(teacher, student, map);
  }

  public TextTokenizer student() {
    return student;
  }

  public TextTokenizer teacher() {
    return teacher;
  }

  /** The student id of a teacher id, or −1. */
  public int map(int teacherId) {
    return teacherId >= 0 && teacherId < map.length ? map[teacherId] : -1;
  }

  /** How many teacher vocabulary entries (the specials excluded) have a student id. */
  public int mappedEntries() {
    int n = 0;
    for (int t = TextTokenizer.SPECIAL_TOKENS.size(); t < map.length; t++) {
      n += map[t] >= 0 ? 1 : 0;
    }
    return n;
  }

  /** The text of ids as their pieces spell it, one leading space dropped. */
  public static String text(TextTokenizer tok, int[] ids) {
    StringBuilder sb = new StringBuilder();
    for (int id : ids) {
      String piece = tok.piece(id);
      if (piece != null) {
        sb.append(piece);
      }
    }
    return sb.length() > 0 && sb.charAt(0) == ' ' ? sb.substring(1) : sb.toString();
  }

  /**
   * The end of each of the {@code n + 1} positions of {@code ids} ({@code n = ids.length}): the UTF-8
   * length of the text before token {@code i} (for {@code i = n}, of the whole text); −1 from the
   * first token without a piece on.
   */
  public static int[] ends(TextTokenizer tok, int[] ids) {
    int[] ends = new int[ids.length + 1];
    int bytes = 0;
    boolean known = true;
    for (int i = 0; i < ids.length; i++) {
      String piece = tok.piece(ids[i]);
      if (piece == null) {
        known = false;
      } else {
        // The text drops the first piece's leading space: so do the ends.
        bytes += piece.getBytes(StandardCharsets.UTF_8).length - (i == 0 && piece.startsWith(" ") ? 1 : 0);
      }
      ends[i + 1] = known ? bytes : -1;
    }
    return ends;
  }

  /**
   * For each student position, the teacher position with the same end, or −1.
   *
   * @param teacherEnds, studentEnds from {@link #ends}, increasing where known
   */
  public static int[] align(int[] teacherEnds, int[] studentEnds) {
    int[] out = new int[studentEnds.length];
    Arrays.fill(out, -1);
    int i = 0;
    for (int j = 0; j < studentEnds.length; j++) {
      int end = studentEnds[j];
      if (end < 0) {
        continue;
      }
      while (i < teacherEnds.length && teacherEnds[i] >= 0 && teacherEnds[i] < end) {
        i++;
      }
      if (i < teacherEnds.length && teacherEnds[i] == end) {
        out[j] = i;
      }
    }
    return out;
  }

  /**
   * One teacher output in the student's tokens.
   *
   * @param ids the student's tokens of the output's text
   * @param topIds, topLps, tails {@code [ids.length + 1]} buckets in student ids (or the teacher's own
   *     top-k for ULD), all slots empty where no teacher position aligns
   * @param aligned student positions aligned with a teacher position
   * @param mappedMass the teacher mass that landed on student ids, summed over aligned positions
   * @param storedMass the teacher's stored top-k mass there (what a map could carry at most)
   */
  public record Relabeled(int[] ids, int[][] topIds, float[][] topLps, float[] tails, int aligned, double mappedMass,
      double storedMass) {
    public int positions() {
      return tails.length;
    }
  }

  /**
   * Relabels one teacher output: its text encoded by the student, the teacher's top entries at
   * aligned positions mapped into the student's vocabulary (or kept as they are when {@code sorted}:
   * ULD needs only the sorted probabilities).
   *
   * @param teacherIds the output's teacher tokens ({@code n})
   * @param topIds, topLps {@code [n + 1][≥ k]} the teacher's stored entries, most probable first
   * @param tails {@code [n + 1]} the stored tail masses
   * @param k the slots per position the student trains on
   */
  public Relabeled relabel(int[] teacherIds, int[][] topIds, float[][] topLps, float[] tails, int k, boolean sorted) {
    return relabel(text(teacher, teacherIds), ends(teacher, teacherIds), topIds, topLps, tails, k, sorted);
  }

  /**
   * Like {@link #relabel(int[], int[][], float[][], float[], int, boolean)} from the output's text and
   * the teacher's span ends as {@code prepare} stores them (targets schema 2).
   *
   * @param teacherEnds {@code [n + 1]}, {@link #ends} of the teacher's tokens
   */
  public Relabeled relabel(String text, int[] teacherEnds, int[][] topIds, float[][] topLps, float[] tails, int k,
      boolean sorted) {
    int[] ids = student.encode(text);
    int[] at = align(teacherEnds, ends(student, ids));
    int positions = ids.length + 1;
    int[][] outIds = new int[positions][];
    float[][] outLps = new float[positions][];
    float[] outTails = new float[positions];
    int aligned = 0;
    double mapped = 0, stored = 0;
    for (int j = 0; j < positions; j++) {
      int i = at[j];
      outIds[j] = new int[k];
      outLps[j] = new float[k];
      Arrays.fill(outIds[j], -1);
      Arrays.fill(outLps[j], EMPTY_LOGPROB);
      outTails[j] = 1f;
      if (i < 0 || i >= tails.length) {
        continue;
      }
      aligned++;
      for (int e = 0; e < Math.min(k, topLps[i].length); e++) {
        stored += Math.exp(topLps[i][e]);
      }
      if (sorted) {
        int n = Math.min(k, topIds[i].length);
        double top = 0;
        for (int e = 0; e < n; e++) {
          outIds[j][e] = topIds[i][e];
          outLps[j][e] = topLps[i][e];
          top += Math.exp(topLps[i][e]);
        }
        outTails[j] = (float) Math.max(0, 1 - top);
        mapped += top;
        continue;
      }
      // Teacher entries by student id, probabilities of entries that share one summed.
      Map<Integer, Double> byStudent = new HashMap<>();
      for (int e = 0; e < topIds[i].length; e++) {
        int s = map(topIds[i][e]);
        if (s >= 0) {
          byStudent.merge(s, Math.exp(topLps[i][e]), Double::sum);
        }
      }
      Integer[] order = byStudent.keySet().toArray(Integer[]::new);
      Arrays.sort(order, (a, b) -> Double.compare(byStudent.get(b), byStudent.get(a)) != 0
          ? Double.compare(byStudent.get(b), byStudent.get(a)) : Integer.compare(a, b));
      double kept = 0;
      for (int e = 0; e < Math.min(k, order.length); e++) {
        double p = byStudent.get(order[e]);
        outIds[j][e] = order[e];
        outLps[j][e] = (float) Math.log(p);
        kept += p;
      }
      outTails[j] = (float) Math.max(0, 1 - kept);
      mapped += kept;
    }
    return new Relabeled(ids, outIds, outLps, outTails, aligned, mapped, stored);
  }

  /**
   * How well two tokenizations line up over many outputs: student positions aligned with a teacher
   * position, and at those the teacher's stored top-k mass that landed on student tokens.
   */
  public record Alignment(long aligned, long positions, double mapped, double stored) {
    public static final Alignment NONE = new Alignment(0, 0, 0, 0);

    public Alignment plus(Relabeled r) {
      return new Alignment(aligned + r.aligned(), positions + r.positions(), mapped + r.mappedMass(),
          stored + r.storedMass());
    }

    /** Aligned student positions over all student positions (NaN for none). */
    public double alignedFraction() {
      return positions == 0 ? Double.NaN : (double) aligned / positions;
    }

    /** Mapped teacher mass over the stored top-k mass at aligned positions (NaN for none). */
    public double mappedFraction() {
      return stored == 0 ? Double.NaN : mapped / stored;
    }
  }

  /** The fraction of a text's student tokens that are {@code <unk>} (0 for an empty text). */
  public static double unknownRate(TextTokenizer tok, Iterable<String> texts) {
    long unknown = 0, total = 0;
    for (String t : texts) {
      if (t == null) {
        continue;
      }
      for (int id : tok.encode(t)) {
        unknown += id == TextTokenizer.UNK ? 1 : 0;
        total++;
      }
    }
    return total == 0 ? 0 : (double) unknown / total;
  }
}
