package dev.distillery.distill;

import dev.distillery.config.ConfigException;
import dev.distillery.config.Objective;
import dev.distillery.loss.CompactLabels;
import dev.distillery.loss.DistillExample;
import dev.distillery.model.TokenizedExample;
import dev.distillery.prepare.Manifest;
import dev.distillery.prepare.PreparePipeline;
import dev.distillery.prepare.TargetsSchema;
import dev.distillery.prepare.TeacherOutput;
import dev.distillery.storage.Location;
import dev.distillery.tokenizer.TextTokenizer;
import dev.distillery.tokenizer.TokenBridge;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Row;

/** A prepare output opened for distillation: manifest checks, and rows turned into training sequences. */
public final class Targets {
  private Targets() {}

  /**
   * Opens a targets directory and refuses, before any training, when it cannot train this student:
   * schema too new or missing manifest ({@link Manifest#read}), a tokenizer or vocabulary that is not
   * the student's, or a k larger than stored. Each message names the field.
   *
   * @param student the tokenizer of a student initialized from a checkpoint, or null
   */
  public static Manifest open(Location dir, int topK, TextTokenizer student) throws IOException {
    Manifest m = Manifest.read(dir);
    TextTokenizer stored = TextTokenizer.load(dir.resolve(PreparePipeline.TOKENIZER));
    if (!stored.sha256().equals(m.tokenizerSha256())) {
      throw new ConfigException("Cannot distill: tokenizerSha256 in the manifest does not match "
          + PreparePipeline.TOKENIZER + " (" + m.tokenizerSha256() + " vs " + stored.sha256() + "): " + dir);
    }
    if (student != null && !student.sha256().equals(m.tokenizerSha256())) {
      throw new ConfigException("Cannot distill: the student must use the teacher's vocabulary, but distill.init "
          + "has another tokenizer (tokenizerSha256 " + m.tokenizerSha256() + " vs " + student.sha256() + "): " + dir);
    }
    if (stored.vocabSize() != m.vocabSize() || (student != null && student.vocabSize() != m.vocabSize())) {
      throw new ConfigException("Cannot distill: vocabSize " + m.vocabSize() + " in the manifest differs from the tokenizer's "
          + (student != null ? student.vocabSize() : stored.vocabSize()) + ": " + dir);
    }
    if (topK > m.topK()) {
      throw new ConfigException("Cannot distill: distill.top-k " + topK + " is larger than the stored topK "
          + m.topK() + ": " + dir);
    }
    if (m.schemaVersion() < TargetsSchema.OLDEST_READABLE || m.schemaVersion() > TargetsSchema.VERSION) {
      throw new ConfigException("Cannot distill: schemaVersion " + m.schemaVersion() + " is not between "
          + TargetsSchema.OLDEST_READABLE + " and " + TargetsSchema.VERSION + ": " + dir);
    }
    return m;
  }

  /**
   * Converts targets rows into the sequences a loss trains on, in the student's tokens: the teacher's
   * as stored, or through a {@link TokenBridge} when the student has a vocabulary of its own.
   * Serializable: runs on executors.
   *
   * @param bridge null when the student uses the teacher's tokenizer
   */
  public record Expander(LossPlan plan, int k, TokenBridge bridge) implements Serializable {
    public Expander(LossPlan plan, int k) {
      this(plan, k, null);
    }

    public List<DistillExample> expand(Row row) {
      String id = row.getAs("id");
      int[] source = sourceIds(row);
      List<DistillExample> out = new ArrayList<>();
      for (Objective.Role role : plan.roles()) {
        switch (role) {
          case REFERENCE, TOKEN -> out.add(example(id, source, row.getAs("reference"), role));
          case SENTENCE -> out.add(example(id, source, row.getAs("beam"), role));
          case DIVERGENCE -> {
            List<Row> samples = row.getList(row.fieldIndex("samples"));
            if (samples.isEmpty()) {
              out.add(example(id, source, row.getAs("beam"), role));
            }
            for (Row s : samples) {
              out.add(example(id, source, s, role));
            }
          }
          default -> throw new IllegalStateException("Cannot expand targets: unknown role: " + role);
        }
      }
      return out;
    }

    /** The reference as a plain sequence in the teacher's tokens (validation cross-entropy, decoding prompts). */
    public static TokenizedExample reference(Row row) {
      Row ref = row.getAs("reference");
      return TokenizedExample.of(row.getAs("id"), ints(row.getList(row.fieldIndex("source_ids"))),
          ints(ref.getList(ref.fieldIndex("ids"))));
    }

    /** The reference as a plain sequence in the student's tokens. */
    public TokenizedExample studentReference(Row row) {
      if (bridge == null) {
        return reference(row);
      }
      int[] ids = bridge.student().encode(TeacherOutput.text(row.getAs("reference"), bridge.teacher()));
      return TokenizedExample.of(row.getAs("id"), sourceIds(row), ids);
    }

    /** The source in the student's tokens: stored, or the row's source text encoded by the student. */
    private int[] sourceIds(Row row) {
      if (bridge == null) {
        return ints(row.getList(row.fieldIndex("source_ids")));
      }
      String text = row.getAs("source");
      return text == null ? null : bridge.student().encode(text);
    }

    private DistillExample example(String id, int[] source, Row output, Objective.Role role) {
      TeacherOutput o = TeacherOutput.read(output);
      if (bridge != null) {
        TokenBridge.Relabeled r = TeacherOutput.relabel(output, bridge, k,
            plan.objective() instanceof dev.distillery.config.Objective.Uld);
        return Targets.example(id, source, r.ids(), o.finished(), r.topIds(), r.topLps(), r.tails(), role, k);
      }
      return Targets.example(id, source, o.ids(), o.finished(), o.topkIds(), o.topkLogprobs(), o.tailMass(), role, k);
    }
  }

  /**
   * A training sequence {@code <s> source <sep> ids </s>} with compact labels from the teacher's
   * top-k along it; entries beyond the {@code k} used join the tail.
   *
   * @param topIds {@code [n + 1][≥ k]}, {@code topLps} likewise, {@code tails} {@code [n + 1]}
   */
  public static DistillExample example(String id, int[] source, int[] ids, boolean finished, int[][] topIds,
      float[][] topLps, float[] tails, Objective.Role role, int k) {
    TokenizedExample seq = TokenizedExample.of(id, source, ids);
    int width = CompactLabels.width(k);
    int positions = tails.length;
    float[] labels = new float[positions * width];
    int[] tokens = seq.tokens();
    for (int p = 0; p < positions; p++) {
      int base = p * width;
      int goldIndex = seq.targetStart() + p;
      labels[base + CompactLabels.GOLD] = goldIndex < tokens.length ? tokens[goldIndex] : TextTokenizer.EOS;
      double tail = tails[p];
      for (int j = 0; j < topLps[p].length; j++) {
        if (j < k) {
          labels[base + CompactLabels.IDS + j] = topIds[p][j];
          labels[base + CompactLabels.IDS + k + j] = topLps[p][j];
        } else {
          tail += Math.exp(topLps[p][j]);
        }
      }
      labels[base + CompactLabels.TAIL] = (float) Math.min(1.0, tail);
    }
    return new DistillExample(id, tokens, seq.targetStart(), role, labels, finished);
  }

  static int[] ints(List<?> list) {
    return list.stream().mapToInt(o -> ((Number) o).intValue()).toArray();
  }
}
