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
    double referencePerplexity, double bucketKl, double vocabKl, double eosArgmax) {}
