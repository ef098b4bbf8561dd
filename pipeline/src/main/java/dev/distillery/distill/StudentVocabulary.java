package dev.distillery.distill;

import dev.distillery.config.ConfigException;
import dev.distillery.config.DistilleryConfig;
import dev.distillery.config.StudentTokenizer;
import dev.distillery.corpus.Tokenization;
import dev.distillery.model.LanguageModel;
import dev.distillery.storage.Location;
import dev.distillery.tokenizer.BpeTokenizer;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.tokenizer.TokenBridge;
import dev.distillery.util.Progress;
import java.io.IOException;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * A student with a vocabulary of its own ({@code distill.student.tokenizer = own} or a file): its
 * tokenizer, chosen and checked once per run, the {@link TokenBridge} from the teacher's tokens, and
 * how well the two align on the held-out references.
 */
final class StudentVocabulary {
  private StudentVocabulary() {}

  /** Where a student tokenizer of its own is kept beside the checkpoints, so that a resumed run speaks it. */
  static final String SAVED = "student-tokenizer.json";

  /** Rows whose texts train a student tokenizer of its own. */
  private static final int TOKENIZER_ROWS = 50_000;

  /** Rows whose texts (a source and a target each) the <unk> rate is measured on. */
  private static final int UNKNOWN_RATE_ROWS = 2_000;

  /**
   * The student's tokenizer of its own (a BPE trained from the targets' texts, a file, or on resume
   * the one saved beside the checkpoints) and the bridge to it; refuses a tokenizer that spells over
   * {@code distill.student.max-unknown-rate} of the texts as {@code <unk>}.
   */
  static TokenBridge bridge(Dataset<Row> rows, DistilleryConfig config, TextTokenizer teacher,
      LanguageModel init, Location saved, boolean resume, Progress progress) throws IOException {
    DistilleryConfig.Distill d = config.distill();
    boolean resumed = resume && saved.isFile();
    boolean trains = !resumed && !(d.studentTokenizer() instanceof StudentTokenizer.File);
    // One read of the texts: they train a tokenizer of the student's own and measure any tokenizer's <unk> rate.
    List<String> texts = Tokenization.texts(rows, trains ? TOKENIZER_ROWS : UNKNOWN_RATE_ROWS);
    TextTokenizer student;
    String origin;
    if (resumed) {
      student = TextTokenizer.load(saved);
      origin = "saved with the checkpoints";
    } else if (d.studentTokenizer() instanceof StudentTokenizer.File f) {
      student = TextTokenizer.load(Location.of(f.path()));
      origin = f.path();
    } else {
      student = BpeTokenizer.train(texts, config.tokenizer().vocabSize(),
          config.tokenizer().minPairCount());
      origin = "trained from the targets' texts (tokenizer.vocab-size " + config.tokenizer().vocabSize() + ")";
    }
    if (init != null && !init.tokenizer().sha256().equals(student.sha256())) {
      throw new ConfigException("Cannot distill: distill.init speaks another tokenizer than the student's (tokenizerSha256 "
          + init.tokenizer().sha256() + " vs " + student.sha256() + "): " + d.init());
    }
    double unknown = TokenBridge.unknownRate(student, texts.subList(0, Math.min(texts.size(), 2 * UNKNOWN_RATE_ROWS)));
    if (unknown > d.maxUnknownRate()) {
      throw new ConfigException(String.format(java.util.Locale.ROOT, "Cannot distill: the student's tokenizer spells "
          + "%.2f%% of the targets' tokens as <unk>, over distill.student.max-unknown-rate %.2f%%: %s", 100 * unknown,
          100 * d.maxUnknownRate(), origin));
    }
    student.save(saved);
    TokenBridge bridge = TokenBridge.of(teacher, student);
    progress.line("student tokenizer: %d tokens (sha256 %s), %s; <unk> %.2f%% of the texts' tokens; %d of the teacher's "
        + "%d tokens are one student token", student.vocabSize(), student.sha256().substring(0, 12), origin,
        100 * unknown, bridge.mappedEntries(), teacher.vocabSize() - TextTokenizer.SPECIAL_TOKENS.size());
    return bridge;
  }

  /** How the teacher's held-out references align with the student's tokens, as a progress line. */
  static TokenBridge.Alignment alignment(List<Row> held, TokenBridge bridge, int k, Progress progress) {
    TokenBridge.Alignment a = dev.distillery.prepare.Inspect.referenceAlignment(held, bridge, k);
    progress.line("across tokenizers, on the held-out references: %.1f%% of student positions aligned with a teacher "
        + "position; there %.1f%% of the teacher's stored top-%d mass mapped to student tokens (the rest joins the tail)",
        100 * a.alignedFraction(), 100 * a.mappedFraction(), k);
    return a;
  }
}
