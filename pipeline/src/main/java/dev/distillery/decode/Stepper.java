package dev.distillery.decode;

import dev.distillery.model.CausalModel;
import dev.distillery.model.LanguageModel;
import java.util.List;

/**
 * Feeds a language model one token per row at a time during decoding. Rows can be reordered
 * between steps (beam search keeps the rows of surviving hypotheses).
 */
public interface Stepper {
  /**
   * Starts decoding from the prompts (they may differ in length).
   *
   * @return natural-log next-token probabilities {@code [rows][vocab]}
   */
  float[][] start(List<int[]> prompts);

  /**
   * Makes row {@code i} continue the row that was {@code parents[i]}, extended by {@code tokens[i]}.
   *
   * @return natural-log next-token probabilities {@code [parents.length][vocab]}
   */
  float[][] step(int[] parents, int[] tokens);

  /**
   * A model that brings its own incremental stepper (an ONNX export with past key values).
   */
  interface Source {
    /** A new stepper, or empty when this model can only be re-run over the whole prefix. */
    java.util.Optional<Stepper> stepper();
  }

  /**
   * The stepper that fits the model: recurrent state for an LSTM, a key/value cache for a
   * transformer, the model's own for a {@link Source} that has one, else recompute.
   */
  static Stepper of(CausalModel model) {
    if (model instanceof Source source) {
      java.util.Optional<Stepper> own = source.stepper();
      if (own.isPresent()) {
        return own.get();
      }
    }
    if (model instanceof LanguageModel lm) {
      if (lm.architecture() instanceof dev.distillery.model.TransformerArchitecture) {
        return new KvCacheStepper(lm);
      }
      if (lm.architecture().incremental()) {
        return new RecurrentStepper(lm);
      }
    }
    return new RecomputeStepper(model);
  }

  /** Re-runs the whole prefix at every step: the reference the incremental steppers must equal. */
  static Stepper recompute(CausalModel model) {
    return new RecomputeStepper(model);
  }
}
