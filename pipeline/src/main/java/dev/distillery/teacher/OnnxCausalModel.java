package dev.distillery.teacher;

import dev.distillery.decode.Stepper;
import dev.distillery.errors.DataException;
import dev.distillery.model.CausalModel;
import dev.distillery.tokenizer.HfVocabulary;
import dev.distillery.tokenizer.TextTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A Hugging Face causal LM exported to ONNX ({@code model.onnx} and {@code tokenizer.json} in one
 * directory, the {@code optimum} layout), seen in Distillery's ids through {@link HfVocabulary}:
 * a pair {@code <s> source <sep> target </s>} reaches the model as {@code bos source eos target eos},
 * and its distributions come back over {@code vocabSize = model vocabulary + 5} ids, with the
 * model's end-of-sequence probability at {@code </s>} and probability 0 (log −∞) at Distillery's
 * other reserved ids. Logits wider than the tokenizer's vocabulary (padded embedding tables) are cut
 * to it; what they held joins the tail mass. Thread-safe (ONNX Runtime sessions are).
 *
 * <p>Decoding an export with past key values ({@link OnnxTeacher#hasPast()}) feeds one position per
 * new token ({@link #stepper()}); an export without them re-runs the whole prefix per step,
 * O(length²) per sequence.
 */
public final class OnnxCausalModel implements CausalModel, Stepper.Source, AutoCloseable {
  public static final String MODEL_FILE = "model.onnx";
  public static final String TOKENIZER_FILE = "tokenizer.json";

  private final OnnxTeacher onnx;
  private final HfVocabulary vocabulary;
  private final int maxTokens;
  private final long weightBytes;

  /**
   * @param gpuIndex the CUDA device for ONNX Runtime, or negative for the CPU
   * @param maxTokens the longest sequence to feed (the model's context; {@code model.max-tokens})
   */
  public OnnxCausalModel(Path dir, int gpuIndex, int maxTokens) {
    Path model = dir.resolve(MODEL_FILE);
    this.vocabulary = HfVocabulary.load(dir.resolve(TOKENIZER_FILE));
    this.onnx = new OnnxTeacher(model, gpuIndex, 1);
    if (onnx.vocabSize() < vocabulary.modelVocabSize()) {
      onnx.close();
      throw new DataException("Cannot load teacher model: its logits have " + onnx.vocabSize()
          + " entries, fewer than the tokenizer's " + vocabulary.modelVocabSize() + " tokens: " + dir);
    }
    this.maxTokens = maxTokens;
    try {
      this.weightBytes = Files.size(model);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Whether a directory holds an ONNX export rather than a Distillery model. */
  public static boolean isOnnxDirectory(Path dir) {
    return Files.isRegularFile(dir.resolve(MODEL_FILE));
  }

  /** Whether a directory on any file system holds an ONNX export rather than a Distillery model. */
  public static boolean isOnnxDirectory(dev.distillery.storage.Location dir) throws IOException {
    return dir.resolve(MODEL_FILE).isFile();
  }

  @Override
  public int vocabSize() {
    return vocabulary.vocabSize();
  }

  @Override
  public TextTokenizer tokenizer() {
    return vocabulary;
  }

  @Override
  public int maxTokens() {
    return maxTokens;
  }

  @Override
  public long weightBytes() {
    return weightBytes;
  }

  @Override
  public String describe() {
    return "onnx (" + onnx.device() + ")";
  }

  @Override
  public INDArray logProbs(List<int[]> rows) {
    List<int[]> model = new ArrayList<>(rows.size());
    int time = 0;
    for (int[] row : rows) {
      model.add(toModel(row));
      time = Math.max(time, row.length);
    }
    float[][][] lp = onnx.logProbs(model);
    int vocab = vocabSize();
    float[] out = new float[rows.size() * vocab * time];
    java.util.Arrays.fill(out, Float.NEGATIVE_INFINITY);
    for (int r = 0; r < rows.size(); r++) {
      for (int t = 0; t < lp[r].length; t++) {
        // [rows, vocab, time] in C order: entry (r, v, t) at (r * vocab + v) * time + t.
        scatter(lp[r][t], out, r * vocab * time + t, time);
      }
      // Padding positions: uniform, so nothing downstream meets a row of −∞ only.
      for (int t = lp[r].length; t < time; t++) {
        for (int v = 0; v < vocab; v++) {
          out[(r * vocab + v) * time + t] = (float) -Math.log(vocab);
        }
      }
    }
    return Nd4j.create(out, new long[] {rows.size(), vocab, time}, 'c');
  }

  /**
   * Writes one distribution from the model's ids into Distillery's, Distillery id {@code v} at
   * {@code out[base + v * stride]}: the model's end-of-sequence token lands on {@code </s>}; logits
   * past the tokenizer's vocabulary are dropped; Distillery's other reserved ids keep what {@code out}
   * holds there (the callers fill it with log 0 = −∞).
   */
  private void scatter(float[] modelLogProbs, float[] out, int base, int stride) {
    for (int h = 0; h < vocabulary.modelVocabSize(); h++) {
      out[base + vocabulary.fromModel(h) * stride] = modelLogProbs[h];
    }
  }

  private int[] toModel(int[] row) {
    int[] m = new int[row.length];
    for (int t = 0; t < row.length; t++) {
      if (row[t] < 0 || row[t] >= vocabulary.vocabSize()) {
        throw new IllegalArgumentException("Cannot score with the ONNX teacher: id outside [0, "
            + vocabulary.vocabSize() + ") at position " + t + ": " + row[t]);
      }
      m[t] = vocabulary.toModel(row[t]);
    }
    return m;
  }

  /** Decoding with the export's past key values, when it has them. */
  @Override
  public Optional<Stepper> stepper() {
    if (!onnx.hasPast()) {
      return Optional.empty();
    }
    OnnxTeacher.Decoding decoding = onnx.decoding();
    return Optional.of(new Stepper() {
      @Override
      public float[][] start(List<int[]> prompts) {
        return toDistillery(decoding.start(prompts.stream().map(OnnxCausalModel.this::toModel).toList()));
      }

      @Override
      public float[][] step(int[] parents, int[] tokens) {
        return toDistillery(decoding.step(parents, toModel(tokens)));
      }
    });
  }

  /** Each row's distribution in Distillery's ids ({@link #scatter}). */
  private float[][] toDistillery(float[][] rows) {
    float[][] out = new float[rows.length][vocabSize()];
    for (int r = 0; r < rows.length; r++) {
      java.util.Arrays.fill(out[r], Float.NEGATIVE_INFINITY);
      scatter(rows[r], out[r], 0, 1);
    }
    return out;
  }

  @Override
  public void close() {
    onnx.close();
  }
}
