package dev.distillery.model;

import java.util.Collection;
import java.util.List;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.Conv1DConfig;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.PaddingMode;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.AddOp;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What Distillery's SameDiff layers ({@link VocabLogits}) share.
 *
 * <p><b>The 2× gradient of SameDiff layers, and its fix.</b> In deeplearning4j-nn / nd4j-api
 * 1.0.0-M2.1 every {@code SameDiffLayer} (DL4J's own {@code SelfAttentionLayer} included) returns
 * parameter <i>and input</i> gradients exactly twice the true ones, so the layers below it get
 * doubled errors too (2^n after n such layers). Cause: DL4J feeds the incoming error into the
 * layer's graph through an {@code ExternalErrorsFunction}; its {@code doDiff} both registers the
 * error placeholder {@code <output>-grad} as the output's gradient ({@code setGradientForVariableName})
 * and returns it, and {@code DifferentialFunction.diff} then finds a gradient already registered and
 * adds the returned one to it, building {@code add(<output>-grad, <output>-grad)}. Backprop is
 * linear in the incoming error, so everything below is doubled. The runtime layer {@link Runtime}
 * detects that exact self-add in the gradient graph once, and if present feeds the graph half the
 * error; if a later version fixes the bug the detection finds nothing and the error passes
 * unchanged. {@code OnlineKdTest} gradient-checks the OKD pair graph, so it fails if either the
 * bug or the compensation goes wrong.
 */
final class SameDiffLayers {
  private SameDiffLayers() {}

  /** A 1×1 convolution: {@code [batch, in, time]} → {@code [batch, out, time]}; {@code b} may be null. */
  static SDVariable project(SameDiff sd, SDVariable x, SDVariable w, SDVariable b) {
    Conv1DConfig c = Conv1DConfig.builder()
        .k(1).s(1).p(0).d(1).dataFormat(Conv1DConfig.NCW).paddingMode(PaddingMode.VALID).build();
    return b == null ? sd.cnn.conv1d(x, w, c) : sd.cnn.conv1d(x, w, b, c);
  }


  /**
   * DL4J's runtime SameDiff layer, feeding the gradient graph half the incoming error when that
   * graph adds the error placeholder to itself (the M2.1 {@code ExternalErrorsFunction} bug
   * described on {@link SameDiffLayers}), and zeroing the gradients of the parameters a
   * {@link Freezing} configuration holds fixed. Also the runtime of {@link VocabLogits}.
   */
  static final class Runtime extends org.deeplearning4j.nn.layers.samediff.SameDiffLayer {
    /** The factor the gradient graph applies to the incoming error; 0 until measured. */
    private int errorMultiplicity;

    Runtime(NeuralNetConfiguration conf, DataType dataType) {
      super(conf, dataType);
    }

    /** As {@code SameDiffLayer.instantiate}, but with this runtime layer; for every layer configuration that uses it. */
    static Runtime instantiate(SameDiffLayer layer, NeuralNetConfiguration conf, Collection<TrainingListener> listeners,
        int layerIndex, INDArray layerParamsView, boolean initializeParams, DataType networkDataType) {
      Runtime ret = new Runtime(conf, networkDataType);
      ret.setIndex(layerIndex);
      ret.setParamsViewArray(layerParamsView);
      ret.setParamTable(layer.initializer().init(conf, layerParamsView, initializeParams));
      ret.setConf(conf);
      ret.setListeners(listeners);
      return ret;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
      if (errorMultiplicity == 0) {
        try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
          // The same lazy set-up super.backpropGradient does, done first so the graph can be inspected.
          if (sameDiff == null) {
            doInit();
          }
          if (!sameDiff.hasGradientFunction()) {
            sameDiff.createGradFunction(INPUT_KEY);
          }
        }
        errorMultiplicity = errorMultiplicity(sameDiff.getFunction("grad"), fn.getGradPlaceholderName());
      }
      if (errorMultiplicity != 1) {
        epsilon = workspaceMgr.dup(ArrayType.BP_WORKING_MEM, epsilon).divi(errorMultiplicity);
      }
      Pair<Gradient, INDArray> out = super.backpropGradient(epsilon, workspaceMgr);
      if (layerConf() instanceof Freezing f) {
        // The entries are views of the layer's flat gradient: zeroing them zeroes what the updater sees.
        out.getFirst().gradientForVariable().forEach((name, g) -> {
          if (f.isFrozen(name)) {
            g.assign(0);
          }
        });
      }
      return out;
    }

    /**
     * How many times the gradient graph counts the external error: the number of inputs of an
     * {@code add} op whose inputs are all the error placeholder, else 1.
     */
    static int errorMultiplicity(SameDiff gradGraph, String errorPlaceholder) {
      for (SameDiffOp op : gradGraph.getOps().values()) {
        List<String> in = op.getInputsToOp();
        if (op.getOp() instanceof AddOp && in != null && in.size() > 1
            && in.stream().allMatch(errorPlaceholder::equals)) {
          return in.size();
        }
      }
      return 1;
    }
  }
}
