package dev.distillery.prepare;

import dev.distillery.config.DistilleryConfig;
import dev.distillery.decode.Decoder;
import dev.distillery.decode.Hypothesis;
import dev.distillery.model.CausalModel;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.util.Hashing;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Runs a teacher over a batch of prompts: the beam output (the SeqKD target), N nucleus samples, and
 * the top-k distributions along the reference and along every output. Not thread-safe (the model
 * is not); one scorer per teacher instance.
 */
public final class TeacherScorer {
  private final CausalModel teacher;
  private final DistilleryConfig.Decode decode;
  private final DistilleryConfig.Prepare prepare;

  public TeacherScorer(CausalModel teacher, DistilleryConfig.Decode decode, DistilleryConfig.Prepare prepare) {
    this.teacher = teacher;
    this.decode = decode;
    this.prepare = prepare;
  }

  /**
   * Nucleus sampling as prepare configures it ({@code prepare.sample-temperature}, {@code
   * prepare.sample-top-p}) with the decoding length and batch of {@code decode}.
   */
  public static DistilleryConfig.Decode sampling(DistilleryConfig.Decode decode, DistilleryConfig.Prepare prepare) {
    return new DistilleryConfig.Decode("sample", decode.beamWidth(), decode.lengthPenalty(), decode.maxNewTokens(),
        prepare.sampleTemperature(), prepare.sampleTopP(), decode.batchSize(), prepare.seed(), decode.noRepeatNgram());
  }

  /** Everything prepare stores for one example. */
  public record Scored(TeacherOutput reference, TeacherOutput beam, List<TeacherOutput> samples) {}

  /**
   * @param ids example ids (they seed each example's samples, so a row is reproducible whatever its batch)
   * @param prompts {@code <s> source <sep>} per example
   * @param references reference target ids (without {@code </s>}) per example
   */
  public List<Scored> score(List<String> ids, List<int[]> prompts, List<int[]> references) {
    int n = prompts.size();
    Decoder decoder = new Decoder(teacher, decode);
    List<Hypothesis> beams = decoder.beam(prompts, decode.beamWidth());
    Decoder sampler = new Decoder(teacher, sampling(decode, prepare));
    List<List<Hypothesis>> samples = new ArrayList<>();
    for (int s = 0; s < prepare.samples(); s++) {
      List<Random> randoms = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        randoms.add(new Random(Hashing.stableHash64(ids.get(i)) ^ (prepare.seed() * 1_000_003L + s)));
      }
      samples.add(sampler.sample(prompts, randoms));
    }
    // One teacher-forced pass over every sequence of the batch: reference, beam, samples.
    int per = 2 + samples.size();
    List<int[]> forcedPrompts = new ArrayList<>(n * per);
    List<int[]> targets = new ArrayList<>(n * per);
    for (int i = 0; i < n; i++) {
      targets.add(references.get(i));
      targets.add(beams.get(i).tokens());
      for (List<Hypothesis> s : samples) {
        targets.add(s.get(i).tokens());
      }
      for (int j = 0; j < per; j++) {
        forcedPrompts.add(prompts.get(i));
      }
    }
    List<TeacherOutput> outputs = along(forcedPrompts, targets, prepare.topK());
    List<Scored> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      TeacherOutput ref = outputs.get(i * per);
      TeacherOutput beam = withDecoded(outputs.get(i * per + 1), beams.get(i));
      List<TeacherOutput> drawn = new ArrayList<>();
      for (int s = 0; s < samples.size(); s++) {
        drawn.add(withDecoded(outputs.get(i * per + 2 + s), samples.get(s).get(i)));
      }
      out.add(new Scored(ref, beam, drawn));
    }
    return out;
  }

  /**
   * The teacher's top-k distributions along given outputs (teacher forcing): what {@code distill}
   * with {@code prefix = student} asks of a live teacher for the student's own samples.
   *
   * @param targets output ids without {@code </s>}, one per prompt
   */
  public List<TeacherOutput> along(List<int[]> prompts, List<int[]> targets, int k) {
    List<int[]> rows = new ArrayList<>(prompts.size());
    List<Integer> promptLengths = new ArrayList<>(prompts.size());
    for (int i = 0; i < prompts.size(); i++) {
      rows.add(concat(prompts.get(i), targets.get(i)));
      promptLengths.add(prompts.get(i).length);
    }
    return distributions(rows, promptLengths, targets, k);
  }

  private static TeacherOutput withDecoded(TeacherOutput o, Hypothesis h) {
    // Keep the decoder's own log-likelihood and finished flag: an unfinished output has no </s> term.
    return new TeacherOutput(o.ids(), h.logLikelihood(), h.finished(), o.topkIds(), o.topkLogprobs(), o.tailMass());
  }

  private List<TeacherOutput> distributions(List<int[]> rows, List<Integer> promptLengths, List<int[]> targets,
      int topK) {
    int k = Math.min(topK, teacher.vocabSize());
    List<TeacherOutput> out = new ArrayList<>(rows.size());
    int chunk = Math.max(1, decode.batchSize());
    for (int from = 0; from < rows.size(); from += chunk) {
      int to = Math.min(rows.size(), from + chunk);
      // [rows, vocab, time] -> [rows, time, vocab] so each position's distribution is contiguous.
      INDArray lp = teacher.logProbs(rows.subList(from, to)).permute(0, 2, 1).dup('c');
      long time = lp.size(1);
      int vocab = (int) lp.size(2);
      float[] flat = lp.data().asFloat();
      for (int r = from; r < to; r++) {
        int[] row = rows.get(r);
        int start = promptLengths.get(r) - 1;
        int positions = row.length - 1 - start;
        int[][] ids = new int[positions][];
        float[][] logprobs = new float[positions][];
        float[] tail = new float[positions];
        double ll = 0;
        for (int p = 0; p < positions; p++) {
          int offset = (int) (((long) (r - from) * time + start + p) * vocab);
          float[] dist = Arrays.copyOfRange(flat, offset, offset + vocab);
          int[] top = Decoder.topIndices(dist, k);
          if (prepare.keepSpecials()) {
            top = keepSpecials(dist, top);
          }
          float[] topLp = new float[k];
          double mass = 0;
          for (int j = 0; j < k; j++) {
            topLp[j] = storedLogprob(dist[top[j]]);
            mass += Math.exp(topLp[j]);
          }
          ids[p] = top;
          logprobs[p] = topLp;
          tail[p] = (float) Math.max(0.0, 1.0 - mass);
          ll += dist[row[start + p + 1]];
        }
        out.add(new TeacherOutput(targets.get(r), ll, true, ids, logprobs, tail));
      }
    }
    return out;
  }

  /** The specials a student can emit (the decoder never emits {@code <pad> <s> <sep>}), in the order they keep a slot. */
  static final int[] EMITTABLE_SPECIALS = {TextTokenizer.EOS, TextTokenizer.UNK};

  /**
   * The top-k ids with {@link #EMITTABLE_SPECIALS} among them: a special the teacher ranks below the k-th
   * token takes the place of the lowest-ranked tokens (which join the tail), and the list stays sorted by
   * probability, since such a special is below every token it displaces. Why: the loss on stored buckets
   * constrains only the tail's total, so a token in the tail can drift up unopposed; for {@code </s>} that
   * is an empty or truncated output (issue #17).
   *
   * @param dist one position's log-probabilities {@code [vocab]}
   * @param top the teacher's top-k ids of {@code dist}, most probable first
   * @return {@code top} itself when every special is in it, else a new list of the same length
   */
  static int[] keepSpecials(float[] dist, int[] top) {
    int[] missing = new int[EMITTABLE_SPECIALS.length];
    int m = 0;
    for (int special : EMITTABLE_SPECIALS) {
      if (special < dist.length && Arrays.stream(top).noneMatch(id -> id == special)) {
        missing[m++] = special;
      }
    }
    m = Math.min(m, top.length);
    if (m == 0) {
      return top;
    }
    int[] kept = Arrays.copyOf(top, top.length);
    // The specials are below every token they join: only their own order needs settling.
    int[] specials = Arrays.stream(missing, 0, m).boxed().sorted((a, b) -> Float.compare(dist[b], dist[a]))
        .mapToInt(Integer::intValue).toArray();
    System.arraycopy(specials, 0, kept, top.length - m, m);
    return kept;
  }

  /**
   * A log-probability as stored: rounded to bfloat16 precision (8 significant bits) away from zero.
   * The zeroed low bytes compress to almost nothing in Parquet, and rounding toward smaller
   * probabilities keeps the top-k mass at most its exact value, so the tail {@code 1 − Σ top-k} stays
   * non-negative and every position still sums to one. The error this costs is measured by the
   * storage benchmark (KL between exact and stored buckets).
   */
  public static float storedLogprob(float logprob) {
    int bits = Float.floatToRawIntBits(logprob);
    if (logprob >= 0 || Float.isInfinite(logprob) || Float.isNaN(logprob) || (bits & 0xFFFF) == 0) {
      return logprob;
    }
    return Float.intBitsToFloat((bits & 0xFFFF0000) + 0x10000);
  }

  private static int[] concat(int[] prompt, int[] target) {
    int[] row = Arrays.copyOf(prompt, prompt.length + target.length + 1);
    System.arraycopy(target, 0, row, prompt.length, target.length);
    row[row.length - 1] = TextTokenizer.EOS;
    return row;
  }
}
