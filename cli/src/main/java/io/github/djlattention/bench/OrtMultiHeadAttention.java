package io.github.djlattention.bench;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.Map;

/**
 * ONNX Runtime's {@code com.microsoft.MultiHeadAttention} on float32, non-causal, one head count
 * for query, key and value (the operator takes no grouped-query heads): measured faster than the
 * standard {@code Attention} for long prefill in issue 14.
 *
 * <p>Shape legend: B batch, H heads, S query length, T key length, D head size. Query (B, S, H·D),
 * key and value (B, T, H·D), output (B, S, H·D): the heads are interleaved along the last axis, so
 * the benchmark's (B, H, S, D) data is transposed for it ({@link #fromHeads}, {@link #toHeads}).
 */
final class OrtMultiHeadAttention implements AutoCloseable {

  private final OrtSession session;
  private final OnnxTensor query;
  private final OnnxTensor key;
  private final OnnxTensor value;
  private final long[] heads4d;

  /**
   * Builds the model and binds the inputs.
   *
   * @param shape (B, H, S, D) of query, key and value (S = T)
   * @param queryData the query (B, H, S, D) in C order
   * @param keyData the key (B, H, T, D)
   * @param valueData the value (B, H, T, D)
   * @param threads intra-op threads
   * @throws IllegalStateException when ONNX Runtime rejects the model or the inputs
   */
  OrtMultiHeadAttention(
      long[] shape, float[] queryData, float[] keyData, float[] valueData, int threads) {
    this.heads4d = shape.clone();
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    long[] interleaved = {shape[0], shape[2], shape[1] * shape[3]}; // (B, S, H·D)
    OrtSession opened = null;
    OnnxTensor q = null;
    OnnxTensor k = null;
    OnnxTensor v = null;
    try {
      opened = OrtModels.open(model(shape), threads);
      q = OnnxTensor.createTensor(env, FloatBuffer.wrap(fromHeads(queryData, shape)), interleaved);
      k = OnnxTensor.createTensor(env, FloatBuffer.wrap(fromHeads(keyData, shape)), interleaved);
      v = OnnxTensor.createTensor(env, FloatBuffer.wrap(fromHeads(valueData, shape)), interleaved);
    } catch (OrtException e) {
      IllegalStateException failure =
          new IllegalStateException("ONNX Runtime could not set up MultiHeadAttention: " + e, e);
      OrtModels.closeAll(failure, q, k, v, opened);
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
   * @return the output as (B, H, S, D) in C order
   */
  float[] run() {
    try (OrtSession.Result result =
        session.run(Map.of("query", query, "key", key, "value", value))) {
      return toHeads(OrtModels.copyFloats(result.get(0)), heads4d);
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime failed to run MultiHeadAttention: " + e, e);
    }
  }

  /** Runs the model once without copying the output to the Java heap. */
  void runDiscardingOutput() {
    try (OrtSession.Result result =
        session.run(Map.of("query", query, "key", key, "value", value))) {
      result.get(0);
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime failed to run MultiHeadAttention: " + e, e);
    }
  }

  /** The one-node model, scale 1/√D (the operator's default). */
  static OnnxMl.ModelProto model(long[] shape) {
    long[] interleaved = {shape[0], shape[2], shape[1] * shape[3]};
    OnnxMl.NodeProto node =
        OnnxMl.NodeProto.newBuilder()
            .setName("mha")
            .setOpType("MultiHeadAttention")
            .setDomain(OrtModels.MICROSOFT)
            .addInput("query")
            .addInput("key")
            .addInput("value")
            .addOutput("output")
            .addAttribute(OrtModels.intAttribute("num_heads", shape[1]))
            .build();
    OnnxMl.GraphProto graph =
        OnnxMl.GraphProto.newBuilder()
            .setName("mha")
            .addNode(node)
            .addInput(OrtModels.floats("query", interleaved))
            .addInput(OrtModels.floats("key", interleaved))
            .addInput(OrtModels.floats("value", interleaved))
            .addOutput(OrtModels.floats("output", interleaved))
            .build();
    return OrtModels.model(graph);
  }

  /** (B, H, S, D) → (B, S, H, D), both in C order. */
  static float[] fromHeads(float[] data, long[] shape) {
    return transpose(data, shape, true);
  }

  /** (B, S, H, D) → (B, H, S, D), both in C order. */
  static float[] toHeads(float[] data, long[] shape) {
    return transpose(data, shape, false);
  }

  private static float[] transpose(float[] data, long[] shape, boolean toInterleaved) {
    int b = (int) shape[0];
    int h = (int) shape[1];
    int s = (int) shape[2];
    int d = (int) shape[3];
    float[] out = new float[data.length];
    for (int bi = 0; bi < b; bi++) {
      for (int hi = 0; hi < h; hi++) {
        for (int si = 0; si < s; si++) {
          int heads = ((bi * h + hi) * s + si) * d; // (B, H, S, D)
          int rows = ((bi * s + si) * h + hi) * d; // (B, S, H, D)
          if (toInterleaved) {
            System.arraycopy(data, heads, out, rows, d);
          } else {
            System.arraycopy(data, rows, out, heads, d);
          }
        }
      }
    }
    return out;
  }

  /**
   * Closes the inputs and the session.
   *
   * @throws IllegalStateException when ONNX Runtime fails to release them
   */
  @Override
  public void close() {
    IllegalStateException failure = new IllegalStateException("could not close ONNX Runtime");
    OrtModels.closeAll(failure, query, key, value, session);
    if (failure.getSuppressed().length > 0) {
      throw failure;
    }
  }
}
