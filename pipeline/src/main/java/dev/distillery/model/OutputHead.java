package dev.distillery.model;

import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.linalg.lossfunctions.impl.LossSparseMCXENT;

/**
 * The output layer of a sequence model: softmax with cross-entropy on token-id labels
 * ({@code LossSparseMCXENT}, labels {@code [batch, 1, time]}; teachers and the {@code train} job),
 * or raw logits with a custom loss on compact labels (students of {@code distill}, whose labels are
 * O(k) per position). {@link LanguageModel} recognizes either.
 */
public record OutputHead(ILossFunction loss) {
  public static OutputHead softmaxCrossEntropy() {
    return new OutputHead(null);
  }

  public static OutputHead logits(ILossFunction loss) {
    return new OutputHead(loss);
  }

  RnnOutputLayer layer(int nIn, int vocabSize) {
    RnnOutputLayer.Builder b = loss == null
        ? new RnnOutputLayer.Builder(new LossSparseMCXENT()).activation(Activation.SOFTMAX)
        : new RnnOutputLayer.Builder(loss).activation(Activation.IDENTITY);
    return b.nIn(nIn).nOut(vocabSize).dataFormat(RNNFormat.NCW).build();
  }
}
