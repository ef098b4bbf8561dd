package dev.distillery.model;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.ILossFunction;

/**
 * The output layer of a sequence model: softmax with cross-entropy on token-id labels
 * ({@link SoftmaxOutput}, labels {@code [batch, 1, time]}, optionally label-smoothed; teachers and
 * the {@code train} job),
 * or raw logits with a custom loss on compact labels (students of {@code distill}, whose labels are
 * O(k) per position). {@link LanguageModel} recognizes either.
 */
public record OutputHead(ILossFunction loss, double labelSmoothing) {
  public static OutputHead softmaxCrossEntropy() {
    return new OutputHead(null, 0);
  }

  /** Softmax cross-entropy against {@code (1 - labelSmoothing)·onehot + labelSmoothing/vocab}. */
  public static OutputHead softmaxCrossEntropy(double labelSmoothing) {
    return new OutputHead(null, labelSmoothing);
  }

  public static OutputHead logits(ILossFunction loss) {
    return new OutputHead(loss, 0);
  }

  RnnOutputLayer layer(int nIn, int vocabSize) {
    if (loss == null) {
      return SoftmaxOutput.of(nIn, vocabSize, labelSmoothing);
    }
    return new RnnOutputLayer.Builder(loss).activation(Activation.IDENTITY)
        .nIn(nIn).nOut(vocabSize).dataFormat(RNNFormat.NCW).build();
  }
}
