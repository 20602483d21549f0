package io.github.djlattention.bench;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.github.djlattention.onnx.OnnxConstants;
import java.nio.FloatBuffer;

/**
 * What the benchmark's ONNX Runtime models share: the session options (every core, idle workers
 * sleeping), one-node models in memory, their inputs and outputs, and closing what was opened.
 */
final class OrtModels {

  /** ONNX IR version of the benchmark's models. */
  static final long IR_VERSION = OnnxConstants.ATTENTION_IR_VERSION;

  /** The domain of ONNX Runtime's contrib operators (MultiHeadAttention, GroupQueryAttention). */
  static final String MICROSOFT = "com.microsoft";

  private OrtModels() {}

  /**
   * A float tensor's data in C order, copied out of ONNX Runtime's memory (the result that holds it
   * may then be closed).
   *
   * @param value an output of a session's run, a float tensor
   * @return its elements
   */
  static float[] copyFloats(OnnxValue value) {
    FloatBuffer buffer = ((OnnxTensor) value).getFloatBuffer();
    float[] data = new float[buffer.remaining()];
    buffer.get(data);
    return data;
  }

  /**
   * Opens a session on a model.
   *
   * @param model the model
   * @param threads intra-op threads
   * @return the session
   * @throws OrtException when ONNX Runtime rejects the model
   */
  static OrtSession open(OnnxMl.ModelProto model, int threads) throws OrtException {
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      options.setIntraOpNumThreads(threads);
      options.setInterOpNumThreads(1);
      // Idle workers sleep rather than spin, so that they do not hold the cores while libtorch
      // runs between ONNX Runtime's calls (see OrtFusedAttention).
      options.addConfigEntry("session.intra_op.allow_spinning", "0");
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      return OrtEnvironment.getEnvironment().createSession(model.toByteArray(), options);
    }
  }

  /** A model of one node, the default domain at opset 23 and {@code com.microsoft} at 1. */
  static OnnxMl.ModelProto model(OnnxMl.GraphProto graph) {
    return OnnxMl.ModelProto.newBuilder()
        .setIrVersion(IR_VERSION)
        .setProducerName("djl-attention bench")
        .addOpsetImport(
            OnnxMl.OperatorSetIdProto.newBuilder()
                .setDomain("")
                .setVersion(OnnxConstants.ATTENTION_OPSET))
        .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain(MICROSOFT).setVersion(1))
        .setGraph(graph)
        .build();
  }

  /** A graph input or output of a float32 or int32 tensor of a fixed shape. */
  static OnnxMl.ValueInfoProto value(String name, OnnxMl.TensorProto.DataType type, long... shape) {
    OnnxMl.TensorShapeProto.Builder dims = OnnxMl.TensorShapeProto.newBuilder();
    for (long size : shape) {
      dims.addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(size));
    }
    OnnxMl.TypeProto.Tensor tensor =
        OnnxMl.TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(dims).build();
    return OnnxMl.ValueInfoProto.newBuilder()
        .setName(name)
        .setType(OnnxMl.TypeProto.newBuilder().setTensorType(tensor))
        .build();
  }

  /** A float32 tensor value. */
  static OnnxMl.ValueInfoProto floats(String name, long... shape) {
    return value(name, OnnxMl.TensorProto.DataType.FLOAT, shape);
  }

  /** An integer attribute. */
  static OnnxMl.AttributeProto intAttribute(String name, long value) {
    return OnnxMl.AttributeProto.newBuilder()
        .setName(name)
        .setType(OnnxMl.AttributeProto.AttributeType.INT)
        .setI(value)
        .build();
  }

  /** Closes every resource, adding each failure to {@code failure} as a suppressed exception. */
  static void closeAll(Exception failure, AutoCloseable... resources) {
    for (AutoCloseable resource : resources) {
      if (resource != null) {
        try {
          resource.close();
        } catch (Exception e) {
          failure.addSuppressed(e);
        }
      }
    }
  }
}
