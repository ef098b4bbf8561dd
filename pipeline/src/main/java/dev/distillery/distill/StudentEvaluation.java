package dev.distillery.distill;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.Objective;
import dev.distillery.decode.Decoder;
import dev.distillery.decode.Hypothesis;
import dev.distillery.eval.Bleu;
import dev.distillery.eval.Chrf;
import dev.distillery.loss.BucketLoss;
import dev.distillery.loss.CompactLabels;
import dev.distillery.loss.DistillExample;
import dev.distillery.loss.Divergence;
import dev.distillery.model.LanguageModel;
import dev.distillery.model.ModelBundle;
import dev.distillery.model.TokenizedExample;
import dev.distillery.prepare.Manifest;
import dev.distillery.prepare.TeacherOutput;
import dev.distillery.storage.Location;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.tokenizer.TokenBridge;
import dev.distillery.util.Progress;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ObjIntConsumer;
import org.apache.spark.sql.Row;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * How distill scores a student, the teacher and a baseline on held-out targets rows: greedy and
 * beam BLEU/chrF, reference perplexity, KL(teacher ‖ student) on the stored buckets and over the
 * whole vocabulary against the live teacher, and how often the student's argmax is {@code </s>};
 * after every epoch ({@code evaluation.jsonl}) and at the end (the comparison table).
 */
final class StudentEvaluation {
  private static final ObjectMapper JSON = dev.distillery.util.Json.MAPPER;

  private StudentEvaluation() {}


  /**
   * After every epoch: greedy and beam BLEU/chrF, reference perplexity and KL(teacher ‖ student) on
   * the first {@code distill.epoch-eval-examples} held-out examples (at most {@code distill.eval-examples}; none when either is 0),
   * appended to {@code evaluation.jsonl} (which the caller has trimmed to the resumed checkpoint).
   */
  static ObjIntConsumer<LanguageModel> evaluateEachEpoch(Location file, List<Row> held, DistilleryConfig config, int k,
      LanguageModel teacher, TokenBridge bridge, Progress progress) {
    List<Row> rows = held.subList(0, Math.min(held.size(), Math.min(config.distill().epochEvalExamples(), config.distill().evalExamples())));
    return (model, epoch) -> {
      if (rows.isEmpty()) {
        return;
      }
      SystemScores s = scores("student after epoch " + epoch, model, rows, config, k, teacher, bridge, progress);
      Map<String, Object> line = new LinkedHashMap<>();
      line.put("epoch", epoch);
      line.put("examples", rows.size());
      line.put("greedyBleu", s.greedyBleu());
      line.put("greedyChrf", s.greedyChrf());
      line.put("beamBleu", s.beamBleu());
      line.put("beamChrf", s.beamChrf());
      line.put("referencePerplexity", s.referencePerplexity());
      line.put("bucketKl", s.bucketKl());
      line.put("vocabKl", s.vocabKl());
      line.put("eosArgmax", s.eosArgmax());
      try {
        file.appendLine(JSON.writeValueAsString(line));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    };
  }

  /**
   * The teacher, loaded on the driver to be decoded and compared like any model, when it is a
   * Distillery model directory; null for other teachers (an ONNX export), whose row then comes from
   * the stored targets.
   */
  static LanguageModel liveTeacher(Manifest manifest, Progress progress) {
    Location dir = Location.of(manifest.teacher());
    boolean distillery;
    try {
      distillery = dir.resolve(ModelBundle.META_FILE).isFile();
    } catch (IOException e) {
      throw new IllegalStateException("Cannot load the teacher for evaluation: " + e.getMessage() + ": " + dir, e);
    }
    if (!distillery) {
      progress.line("teacher %s is not a Distillery model directory here: its row uses the stored beam outputs, "
          + "and the full-vocabulary KL is not computed", dir);
      return null;
    }
    try {
      return ModelBundle.load(dir);
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException("Cannot load the teacher for evaluation: " + e.getMessage() + ": " + dir, e);
    }
  }

  /** The teacher's row from the targets alone: its stored beam outputs and reference log-likelihoods. */
  static SystemScores storedTeacherScores(List<Row> rows, TextTokenizer tok) {
    List<String> hyps = new ArrayList<>(), refs = new ArrayList<>();
    double ll = 0;
    long positions = 0;
    for (Row r : rows) {
      hyps.add(tok.decode(TeacherOutput.read(r.getAs("beam")).ids()));
      refs.add(r.getAs("target"));
      TeacherOutput ref = TeacherOutput.read(r.getAs("reference"));
      ll += ref.logprob();
      positions += ref.positions();
    }
    return new SystemScores("teacher (stored)", Double.NaN, Double.NaN, Bleu.corpus(hyps, refs).score(),
        Chrf.corpus(hyps, refs), Math.exp(-ll / Math.max(1, positions)), 0.0, 0.0, Double.NaN);
  }

  /**
   * @param bridge the student's bridge from the teacher's tokens when it has a vocabulary of its own
   *     (used for models that speak the student's tokenizer), or null
   */
  static SystemScores scores(String name, LanguageModel model, List<Row> rows, DistilleryConfig config, int k,
      LanguageModel teacher, TokenBridge bridge, Progress progress) {
    TokenBridge view = bridge != null && model.tokenizer().sha256().equals(bridge.student().sha256()) ? bridge : null;
    Targets.Expander expander = new Targets.Expander(new LossPlan(new Objective.TokenKd(1.0)), k, view);
    List<int[]> prompts = new ArrayList<>();
    List<String> refs = new ArrayList<>();
    List<TokenizedExample> refSeqs = new ArrayList<>();
    for (Row r : rows) {
      TokenizedExample e = expander.studentReference(r);
      refSeqs.add(e);
      prompts.add(e.prompt());
      refs.add(r.getAs("target"));
    }
    Decoder decoder = new Decoder(model, config.decode());
    List<String> greedy = decode(model, decoder.greedy(prompts));
    List<String> beam = decode(model, decoder.beam(prompts, config.decode().beamWidth()));
    double ce = model.targetCrossEntropy(refSeqs, 32)[0];
    double kl = teacherKl(model, rows, expander);
    // Across tokenizers the two distributions are over different vocabularies: no full-vocabulary KL.
    double[] live = againstTeacher(model, view == null ? teacher : null, refSeqs);
    progress.line("evaluated %s on %d held-out examples", name, rows.size());
    return new SystemScores(name, Bleu.corpus(greedy, refs).score(), Chrf.corpus(greedy, refs),
        Bleu.corpus(beam, refs).score(), Chrf.corpus(beam, refs), Math.exp(ce), kl, live[0], live[1]);
  }

  /**
   * Along the references: the mean full-vocabulary KL(teacher ‖ model) per target position (NaN
   * without a teacher) and the fraction of target positions, the last excepted, where the model's
   * argmax is {@code </s>}.
   */
  static double[] againstTeacher(LanguageModel model, LanguageModel teacher, List<TokenizedExample> refs) {
    double kl = 0;
    long klPositions = 0, early = 0, positions = 0;
    for (int from = 0; from < refs.size(); from += 32) {
      List<TokenizedExample> batch = refs.subList(from, Math.min(refs.size(), from + 32));
      List<int[]> rows = batch.stream().map(TokenizedExample::tokens).toList();
      INDArray s = model.logProbs(rows).permute(0, 2, 1).dup('c'); // [rows, time, vocab]
      INDArray t = teacher == null ? null : teacher.logProbs(rows).permute(0, 2, 1).dup('c');
      for (int i = 0; i < batch.size(); i++) {
        int[] tokens = batch.get(i).tokens();
        for (int pos = batch.get(i).targetStart() - 1; pos < tokens.length - 1; pos++) {
          INDArray sv = s.get(org.nd4j.linalg.indexing.NDArrayIndex.point(i),
              org.nd4j.linalg.indexing.NDArrayIndex.point(pos), org.nd4j.linalg.indexing.NDArrayIndex.all());
          if (pos < tokens.length - 2) {
            positions++;
            if (sv.argMax().getInt(0) == dev.distillery.tokenizer.TextTokenizer.EOS) {
              early++;
            }
          }
          if (t != null) {
            INDArray tv = t.get(org.nd4j.linalg.indexing.NDArrayIndex.point(i),
                org.nd4j.linalg.indexing.NDArrayIndex.point(pos), org.nd4j.linalg.indexing.NDArrayIndex.all());
            kl += org.nd4j.linalg.ops.transforms.Transforms.exp(tv, true).muli(tv.sub(sv)).sumNumber().doubleValue();
            klPositions++;
          }
        }
      }
    }
    return new double[] {klPositions == 0 ? Double.NaN : kl / klPositions,
        positions == 0 ? Double.NaN : (double) early / positions};
  }

  /**
   * Mean KL(teacher ‖ model) per reference position that carries teacher buckets (across tokenizers,
   * the aligned ones), on the k+1 buckets stored for the teacher.
   */
  static double teacherKl(LanguageModel model, List<Row> rows, Targets.Expander expander) {
    int k = expander.k();
    BucketLoss kl = new BucketLoss(Divergence.KL, 1.0, 0.5);
    double sum = 0;
    long count = 0;
    int width = CompactLabels.width(k);
    for (Row r : rows) {
      DistillExample e = expander.expand(r).get(0);
      INDArray lp = model.logProbs(List.of(e.tokens())).permute(0, 2, 1).dup('c'); // [1, time, vocab]
      int vocab = (int) lp.size(2);
      int positions = e.targetTokens();
      float[] all = lp.data().asFloat();
      float[] logits = new float[positions * vocab];
      System.arraycopy(all, (e.targetStart() - 1) * vocab, logits, 0, positions * vocab);
      float[] labels = e.labels().clone();
      for (int p = 0; p < positions; p++) {
        labels[p * width + CompactLabels.W_CE] = 0;
        labels[p * width + CompactLabels.W_DIV] = 1;
      }
      double[] values = kl.rows(logits, labels, null, positions, vocab, k, null);
      for (int p = 0; p < positions; p++) {
        if (k == 0 || labels[p * width + CompactLabels.IDS] >= 0) {
          sum += values[p];
          count++;
        }
      }
    }
    return count == 0 ? Double.NaN : sum / count;
  }

  /**
   * The comparison distill prints and reports, every system scored on the same held-out rows: the
   * teacher (live, or its stored beam outputs when it cannot be loaded), the adapted teacher (okd), the
   * student and, if given, the baseline.
   *
   * @param adapted the teacher with its trained LoRA modules, or null; {@code baseline} likewise
   */
  static List<SystemScores> compare(List<Row> rows, String student, LanguageModel model, LanguageModel adapted,
      Location baseline, LanguageModel liveTeacher, Manifest manifest, TextTokenizer teacherTokenizer,
      DistilleryConfig config, int k, TokenBridge bridge, Progress progress) throws IOException {
    List<SystemScores> table = new ArrayList<>();
    if (liveTeacher != null) {
      // Decoding the teacher costs more than decoding a student; the students of one demo or science run share
      // their targets, so the teacher's row is the same for all of them.
      List<Object> key = List.of(manifest.teacher(), manifest.teacherFingerprint(), config.decode(), k,
          rows.stream().map(r -> r.<String>getAs("id")).toList());
      SystemScores teacher = TEACHER_ROWS.get(key);
      if (teacher == null) {
        teacher = scores("teacher", liveTeacher, rows, config, k, liveTeacher, bridge, progress);
        TEACHER_ROWS.put(key, teacher);
      } else {
        progress.line("teacher's row on these %d held-out examples: as decoded for an earlier student", rows.size());
      }
      table.add(teacher);
    } else {
      table.add(storedTeacherScores(rows, teacherTokenizer));
    }
    if (adapted != null) {
      table.add(scores("adapted teacher", adapted, rows, config, k, liveTeacher, bridge, progress));
    }
    table.add(scores(student, model, rows, config, k, liveTeacher, bridge, progress));
    if (baseline != null) {
      table.add(scores("baseline", ModelBundle.load(baseline), rows, config, k, liveTeacher, bridge, progress));
    }
    return table;
  }

  /**
   * The live teacher's rows already scored in this JVM, by teacher (directory and fingerprint), decoding
   * settings, stored top-k and held-out ids: its greedy and beam decoding is deterministic, and its row
   * does not depend on the student. Few entries (one per targets directory and decoding).
   */
  private static final Map<List<Object>, SystemScores> TEACHER_ROWS = new java.util.concurrent.ConcurrentHashMap<>();

  private static List<String> decode(LanguageModel model, List<Hypothesis> hyps) {
    return hyps.stream().map(h -> model.tokenizer().decode(h.tokens())).toList();
  }

  static String fmt(double v) {
    return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.2f", v);
  }

  static String fmt4(double v) {
    return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.4f", v);
  }
}
