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
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime's fused {@code Attention} operator (opset 23) on float32 inputs, as the yardstick
 * for the benchmark: a one-node model built in memory and run by an {@link OrtSession} whose inputs
 * stay bound between runs.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads, S query length, T key length, D head
 * size. Query (B, H, S, D), key and value (B, G, T, D) (the same shape as the query for the prefill
 * rows; G < H and S = 1 for decoding), output (B, H, S, D).
 */
final class OrtFusedAttention implements AutoCloseable {

  private final OrtSession session;
  private final OnnxTensor query;
  private final OnnxTensor key;
  private final OnnxTensor value;

  /**
   * Builds the model and binds the inputs.
   *
   * @param shape (B, H, S, D) of query, key and value
   * @param queryData the query in C order
   * @param keyData the key in C order
   * @param valueData the value in C order
   * @param threads intra-op threads for the session
   * @throws IllegalStateException when ONNX Runtime rejects the model or the inputs
   */
  OrtFusedAttention(
      long[] shape, float[] queryData, float[] keyData, float[] valueData, int threads) {
    this(shape, shape, queryData, keyData, valueData, threads);
  }

  /**
   * Builds the model for a query and a key/value of different shapes and binds the inputs.
   *
   * @param queryShape (B, H, S, D)
   * @param kvShape (B, G, T, D) of key and value
   * @param queryData the query in C order
   * @param keyData the key in C order
   * @param valueData the value in C order
   * @param threads intra-op threads for the session
   * @throws IllegalStateException when ONNX Runtime rejects the model or the inputs
   */
  OrtFusedAttention(
      long[] queryShape,
      long[] kvShape,
      float[] queryData,
      float[] keyData,
      float[] valueData,
      int threads) {
    this(queryShape, kvShape, false, queryData, keyData, valueData, threads);
  }

  /**
   * Builds the model, causal ({@code is_causal = 1}: query i sees keys j ≤ i) or not, and binds the
   * inputs.
   *
   * @param queryShape (B, H, S, D)
   * @param kvShape (B, G, T, D) of key and value
   * @param causal whether the model sets {@code is_causal}
   * @param queryData the query in C order
   * @param keyData the key in C order
   * @param valueData the value in C order
   * @param threads intra-op threads for the session
   * @throws IllegalStateException when ONNX Runtime rejects the model or the inputs
   */
  OrtFusedAttention(
      long[] queryShape,
      long[] kvShape,
      boolean causal,
      float[] queryData,
      float[] keyData,
      float[] valueData,
      int threads) {
    long[] shape = queryShape;
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    OrtSession opened = null;
    OnnxTensor q = null;
    OnnxTensor k = null;
    OnnxTensor v = null;
    try {
      OrtSession.SessionOptions options = new OrtSession.SessionOptions();
      try (options) {
        options.setIntraOpNumThreads(threads);
        options.setInterOpNumThreads(1);
        // Idle workers must sleep, not spin: spinning ONNX Runtime threads otherwise hold the cores
        // while libtorch runs between ORT calls (measured: the project's S=128 call took 7.7 ms
        // instead of 0.39 ms on 2 cores), and ORT's own times did not change without spinning.
        options.addConfigEntry("session.intra_op.allow_spinning", "0");
        options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        opened = env.createSession(model(shape, kvShape, causal).toByteArray(), options);
      }
      q = OnnxTensor.createTensor(env, FloatBuffer.wrap(queryData), shape);
      k = OnnxTensor.createTensor(env, FloatBuffer.wrap(keyData), kvShape);
      v = OnnxTensor.createTensor(env, FloatBuffer.wrap(valueData), kvShape);
    } catch (OrtException e) {
      IllegalStateException failure =
          new IllegalStateException("ONNX Runtime could not set up the Attention model: " + e, e);
      closeAll(failure, q, k, v, opened);
      throw failure;
    }
    this.session = opened;
    this.query = q;
    this.key = k;
    this.value = v;
  }

  /**
   * Runs the model once.
   *
   * @return the output (B, H, S, D) in C order
   */
  float[] run() {
    try (OrtSession.Result result = session.run(Map.of("Q", query, "K", key, "V", value))) {
      return OrtModels.copyFloats(result.get(0));
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime failed to run Attention: " + e, e);
    }
  }

  /** Runs the model once without copying the output to the Java heap. */
  void runDiscardingOutput() {
    try (OrtSession.Result result = session.run(Map.of("Q", query, "K", key, "V", value))) {
      result.get(0);
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime failed to run Attention: " + e, e);
    }
  }

  /**
   * The one-node model {@code Y = Attention(Q, K, V)} with the default scale 1/√D, at {@link
   * OnnxConstants#ATTENTION_OPSET} (where {@code Attention} entered the standard) and its IR
   * version, as the exporter writes them.
   *
   * @param shape (B, H, S, D)
   * @return the model
   */
  static OnnxMl.ModelProto model(long[] shape) {
    return model(shape, shape);
  }

  /**
   * The one-node model {@code Y = Attention(Q, K, V)} with the default scale 1/√D, for a query (B,
   * H, S, D) and key and value (B, G, T, D).
   */
  static OnnxMl.ModelProto model(long[] shape, long[] kvShape) {
    return model(shape, kvShape, false);
  }

  /** As {@link #model(long[], long[])}, with {@code is_causal = 1} when {@code causal}. */
  static OnnxMl.ModelProto model(long[] shape, long[] kvShape, boolean causal) {
    OnnxGraphBuilder graph = new OnnxGraphBuilder("attention", OnnxConstants.ATTENTION_OPSET);
    int type = TensorProto.DataType.FLOAT_VALUE;
    Object[] dims = Arrays.stream(shape).boxed().toArray(Object[]::new);
    Object[] kvDims = Arrays.stream(kvShape).boxed().toArray(Object[]::new);
    List<String> inputs =
        List.of(
            graph.input("Q", type, dims),
            graph.input("K", type, kvDims),
            graph.input("V", type, kvDims));
    String y =
        causal
            ? graph.node("Attention", "Y", inputs, OnnxGraphBuilder.attribute("is_causal", 1L))
            : graph.node("Attention", "Y", inputs);
    graph.output(y, type, dims);
    return graph.build(Map.of());
  }

  /**
   * Closes the inputs and the session.
   *
   * @throws IllegalStateException when ONNX Runtime fails to release the session
   */
  @Override
  public void close() {
    IllegalStateException failure = new IllegalStateException("could not close ONNX Runtime");
    closeAll(failure, query, key, value, session);
    if (failure.getSuppressed().length > 0) {
      throw failure;
    }
  }

  /** Closes every resource, adding each failure to {@code failure} as a suppressed exception. */
  private static void closeAll(Exception failure, AutoCloseable... resources) {
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
