package dev.distillery.export;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import onnx.Onnx.AttributeProto;
import onnx.Onnx.GraphProto;
import onnx.Onnx.ModelProto;
import onnx.Onnx.NodeProto;
import onnx.Onnx.OperatorSetIdProto;
import onnx.Onnx.TensorProto;
import onnx.Onnx.TensorShapeProto;
import onnx.Onnx.TypeProto;
import onnx.Onnx.ValueInfoProto;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.shade.protobuf.ByteString;

/**
 * A small builder over the ONNX protobuf classes that ship with ND4J ({@code onnx.Onnx}, generated
 * from ONNX's own {@code onnx.proto} for SameDiff's ONNX import): named inputs, outputs,
 * initializers and nodes, each node returning the name of its (first) output so graphs read like the
 * math. Every tensor is float32 or int64; every weight is stored inline as raw little-endian data.
 * Not thread-safe.
 */
final class OnnxGraph {
  /** ONNX IR version 8 (ONNX 1.10+); ONNX Runtime 1.10 and later read it. */
  static final long IR_VERSION = 8;
  /** Opset 17: the first with {@code LayerNormalization}. */
  static final long OPSET = 17;

  private final GraphProto.Builder graph = GraphProto.newBuilder();
  private int counter;

  OnnxGraph(String name) {
    graph.setName(name);
  }

  /** A graph input; a dimension is a number or, when a String, a symbolic name. */
  void input(String name, TensorProto.DataType type, Object... dims) {
    graph.addInput(valueInfo(name, type, dims));
  }

  /** Declares {@code name} (already computed by a node) a graph output. */
  void output(String name, TensorProto.DataType type, Object... dims) {
    graph.addOutput(valueInfo(name, type, dims));
  }

  private static ValueInfoProto valueInfo(String name, TensorProto.DataType type, Object... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (Object d : dims) {
      TensorShapeProto.Dimension.Builder dim = TensorShapeProto.Dimension.newBuilder();
      if (d instanceof String s) {
        dim.setDimParam(s);
      } else {
        dim.setDimValue(((Number) d).longValue());
      }
      shape.addDim(dim);
    }
    return ValueInfoProto.newBuilder().setName(name)
        .setType(TypeProto.newBuilder().setTensorType(
            TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(shape)))
        .build();
  }

  /** A float32 initializer holding {@code values} (any type, converted) in {@code shape}, C order. */
  String weight(String name, INDArray values, long... shape) {
    float[] data = values.castTo(DataType.FLOAT).dup('c').data().asFloat();
    long n = 1;
    for (long s : shape) {
      n *= s;
    }
    if (n != data.length) {
      throw new IllegalArgumentException("Cannot export weight: " + data.length + " values do not fill shape "
          + java.util.Arrays.toString(shape) + ": " + name);
    }
    return floats(name, data, shape);
  }

  /** A float32 initializer. */
  String floats(String name, float[] data, long... shape) {
    ByteBuffer buf = ByteBuffer.allocate(data.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(data);
    graph.addInitializer(tensor(name, TensorProto.DataType.FLOAT, shape, buf));
    return name;
  }

  /** An int64 initializer (shapes, axes, indices). */
  String longs(long[] data, long... shape) {
    String name = fresh("const");
    ByteBuffer buf = ByteBuffer.allocate(data.length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    buf.asLongBuffer().put(data);
    graph.addInitializer(tensor(name, TensorProto.DataType.INT64, shape, buf));
    return name;
  }

  /** A 1-D int64 constant. */
  String vector(long... values) {
    return longs(values, values.length);
  }

  /** A scalar int64 constant. */
  String scalar(long value) {
    return longs(new long[] {value});
  }

  /** A scalar float32 constant. */
  String scalar(float value) {
    return floats(fresh("const"), new float[] {value});
  }

  private static TensorProto tensor(String name, TensorProto.DataType type, long[] shape, ByteBuffer data) {
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.getNumber());
    for (long s : shape) {
      t.addDims(s);
    }
    return t.setRawData(ByteString.copyFrom(data.array())).build();
  }

  /** A node with one output, named after the op; attributes as (name, value) pairs. */
  String op(String type, List<String> inputs, Object... attributes) {
    return opNamed(fresh(type.toLowerCase()), type, inputs, attributes);
  }

  /** A node whose single output has the given name (for graph outputs). */
  String opNamed(String output, String type, List<String> inputs, Object... attributes) {
    node(type, inputs, List.of(output), attributes);
    return output;
  }

  /** A node with several outputs. */
  void node(String type, List<String> inputs, List<String> outputs, Object... attributes) {
    NodeProto.Builder n = NodeProto.newBuilder().setOpType(type).setName(fresh(type + "_node"))
        .addAllInput(inputs).addAllOutput(outputs);
    for (int i = 0; i < attributes.length; i += 2) {
      n.addAttribute(attribute((String) attributes[i], attributes[i + 1]));
    }
    graph.addNode(n);
  }

  private static AttributeProto attribute(String name, Object value) {
    AttributeProto.Builder a = AttributeProto.newBuilder().setName(name);
    if (value instanceof Integer || value instanceof Long) {
      a.setType(AttributeProto.AttributeType.INT).setI(((Number) value).longValue());
    } else if (value instanceof Float || value instanceof Double) {
      a.setType(AttributeProto.AttributeType.FLOAT).setF(((Number) value).floatValue());
    } else if (value instanceof String s) {
      a.setType(AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(s));
    } else if (value instanceof long[] ints) {
      a.setType(AttributeProto.AttributeType.INTS);
      for (long v : ints) {
        a.addInts(v);
      }
    } else {
      throw new IllegalArgumentException("Cannot export attribute: unsupported value type "
          + value.getClass().getSimpleName() + ": " + name);
    }
    return a.build();
  }

  /** A fresh intermediate name. */
  String fresh(String stem) {
    return stem + "_" + counter++;
  }

  /** The finished model, with the producer recorded and metadata as key/value properties. */
  ModelProto model(String producerVersion, java.util.Map<String, String> metadata) {
    ModelProto.Builder m = ModelProto.newBuilder()
        .setIrVersion(IR_VERSION)
        .setProducerName("distillery")
        .setProducerVersion(producerVersion)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
        .setGraph(graph);
    metadata.forEach((k, v) -> m.addMetadataProps(
        onnx.Onnx.StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
    return m.build();
  }

  // -------------------------------------------------------------- common ops, named like the math

  String add(String a, String b) {
    return op("Add", List.of(a, b));
  }

  String mul(String a, String b) {
    return op("Mul", List.of(a, b));
  }

  String matmul(String a, String b) {
    return op("MatMul", List.of(a, b));
  }

  /** {@code x·W + b}. */
  String linear(String x, String w, String b) {
    return add(matmul(x, w), b);
  }

  String transpose(String x, long... perm) {
    return op("Transpose", List.of(x), "perm", perm);
  }

  /** Reshape to {@code dims} (0 copies the input's dimension, −1 is inferred). */
  String reshape(String x, long... dims) {
    return op("Reshape", List.of(x, vector(dims)));
  }

  String layerNorm(String x, String gain, String bias, double epsilon) {
    return op("LayerNormalization", List.of(x, gain, bias), "axis", -1L, "epsilon", (float) epsilon);
  }
}
