package dev.distillery.distill;

/**
 * One system's scores on the held-out examples.
 *
 * @param bucketKl mean KL(teacher ‖ model) per reference position on the k+1 stored buckets: a
 *     lower bound of the full KL (merging tokens into a bucket can only lose divergence)
 * @param vocabKl mean KL(teacher ‖ model) per reference position over the whole vocabulary, against
 *     the live teacher (NaN when the teacher cannot be loaded on the driver, e.g. an ONNX export)
 * @param eosArgmax the fraction of reference target positions, the last excepted, where the model's
 *     most likely next token is {@code </s>}: how often greedy decoding would stop early
 */
public record SystemScores(String system, double greedyBleu, double greedyChrf, double beamBleu, double beamChrf,
    double referencePerplexity, double bucketKl, double vocabKl, double eosArgmax) {

  /** The comparison as the console table distill ends with (a dash where a score could not be computed). */
  static void print(java.util.List<SystemScores> table, dev.distillery.util.Progress progress) {
    progress.line("%n%-22s %9s %9s %9s %9s %10s %10s %10s %9s", "system", "greedy BLEU", "chrF", "beam BLEU", "chrF",
        "ref ppl", "bucket KL", "vocab KL", "</s> top");
    for (SystemScores s : table) {
      progress.line("%-22s %9s %9s %9.2f %9.2f %10.2f %10.4f %10s %9s", s.system(), StudentEvaluation.fmt(s.greedyBleu()),
          StudentEvaluation.fmt(s.greedyChrf()), s.beamBleu(), s.beamChrf(), s.referencePerplexity(), s.bucketKl(),
          StudentEvaluation.fmt4(s.vocabKl()), StudentEvaluation.fmt(100 * s.eosArgmax()) + "%");
    }
  }
}
