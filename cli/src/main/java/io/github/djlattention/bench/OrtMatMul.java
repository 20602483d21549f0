package io.github.djlattention.bench;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.github.djlattention.onnx.OnnxConstants;
import io.github.djlattention.onnx.OnnxGraphBuilder;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;

/**
 * A square float32 matrix product on ONNX Runtime ({@code Y = MatMul(A, B)}, its MLAS GEMM), the
 * second matmul ceiling of {@code bench}: libtorch's CPU build picks its GEMM by CPU vendor, and on
 * the project's AMD machine it ran at 145–175 GFLOP/s, below what the attention kernel itself
 * computes, so the ceiling is the faster of the two libraries.
 */
final class OrtMatMul implements AutoCloseable {

  private final OrtSession session;
  private final OnnxTensor a;
  private final OnnxTensor b;

  /**
   * Builds the model and binds the inputs.
   *
   * @param size the side N of both (N, N) matrices
   * @param left A's data, N·N floats
   * @param right B's data, N·N floats
   * @param threads intra-op threads
   * @throws IllegalStateException when ONNX Runtime rejects the model or the inputs
   */
  OrtMatMul(long size, float[] left, float[] right, int threads) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    OrtSession opened = null;
    OnnxTensor x = null;
    OnnxTensor y = null;
    try {
      opened = OrtModels.open(model(size), threads);
      x = OnnxTensor.createTensor(env, FloatBuffer.wrap(left), new long[] {size, size});
      y = OnnxTensor.createTensor(env, FloatBuffer.wrap(right), new long[] {size, size});
    } catch (OrtException e) {
      IllegalStateException failure =
          new IllegalStateException("ONNX Runtime could not set up MatMul: " + e, e);
      OrtModels.closeAll(failure, x, y, opened);
      throw failure;
    }
    this.session = opened;
    this.a = x;
    this.b = y;
  }

  /** The one-node model {@code Y = MatMul(A, B)} of two (N, N) float32 inputs. */
  static OnnxMl.ModelProto model(long size) {
    OnnxGraphBuilder graph = new OnnxGraphBuilder("matmul", OnnxConstants.ATTENTION_OPSET);
    int type = TensorProto.DataType.FLOAT_VALUE;
    List<String> inputs =
        List.of(graph.input("A", type, size, size), graph.input("B", type, size, size));
    String product = graph.node("MatMul", "Y", inputs);
    graph.output(product, type, size, size);
    return graph.build(Map.of());
  }

  /** Runs the product once and returns Y[0][0] (the output is not copied). */
  float runFirst() {
    try (OrtSession.Result result = session.run(Map.of("A", a, "B", b))) {
      return ((OnnxTensor) result.get(0)).getFloatBuffer().get(0);
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime failed to run MatMul: " + e, e);
    }
  }

  @Override
  public void close() {
    IllegalStateException failure = new IllegalStateException("could not close ONNX Runtime");
    OrtModels.closeAll(failure, a, b, session);
    if (failure.getSuppressed().length > 0) {
      throw failure;
    }
  }
}
