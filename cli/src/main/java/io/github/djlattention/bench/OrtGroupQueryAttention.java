package io.github.djlattention.bench;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.util.Map;

/**
 * ONNX Runtime's {@code com.microsoft.GroupQueryAttention}, its CPU kernel for LLM decoding, on one
 * decoding step: one new query against a KV cache whose past and present share one buffer (the
 * present outputs are pinned to the past inputs, so ONNX Runtime appends in place instead of
 * copying the cache every call). In ONNX Runtime 1.26 the CPU kernel is always causal; for one
 * query at the end of the cache that hides nothing.
 *
 * <p>Shape legend: B batch (1), H query heads, G key/value heads, T the cache's length after the
 * step (its buffer holds T positions), D head size. Query (B, 1, H·D), new key and value (B, 1,
 * G·D), past and present key and value (B, G, T, D), output (B, 1, H·D).
 */
final class OrtGroupQueryAttention implements AutoCloseable {

  private final OrtSession session;
  private final Map<String, OnnxTensor> inputs;
  private final Map<String, OnnxValue> pinned;
  private final OnnxTensor[] owned;

  /**
   * Builds the model and binds the inputs.
   *
   * @param heads H
   * @param kvHeads G
   * @param keys T
   * @param headDim D
   * @param query (1, H, 1, D) in C order (the same memory order as (1, 1, H·D))
   * @param newKey (1, G, 1, D): the step's key
   * @param newValue (1, G, 1, D)
   * @param pastKey (1, G, T, D): the cache, its first T − 1 positions valid
   * @param pastValue (1, G, T, D)
   * @param threads intra-op threads
   * @throws IllegalStateException when ONNX Runtime rejects the model or the inputs
   */
  OrtGroupQueryAttention(
      long heads,
      long kvHeads,
      long keys,
      long headDim,
      float[] query,
      float[] newKey,
      float[] newValue,
      float[] pastKey,
      float[] pastValue,
      int threads) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    OnnxTensor[] tensors = new OnnxTensor[7];
    OrtSession opened = null;
    try {
      opened = OrtModels.open(model(heads, kvHeads, keys, headDim), threads);
      tensors[0] =
          OnnxTensor.createTensor(env, FloatBuffer.wrap(query), new long[] {1, 1, heads * headDim});
      tensors[1] =
          OnnxTensor.createTensor(
              env, FloatBuffer.wrap(newKey), new long[] {1, 1, kvHeads * headDim});
      tensors[2] =
          OnnxTensor.createTensor(
              env, FloatBuffer.wrap(newValue), new long[] {1, 1, kvHeads * headDim});
      long[] cache = {1, kvHeads, keys, headDim};
      tensors[3] = OnnxTensor.createTensor(env, FloatBuffer.wrap(pastKey.clone()), cache);
      tensors[4] = OnnxTensor.createTensor(env, FloatBuffer.wrap(pastValue.clone()), cache);
      // seqlens_k is the total length minus one: T − 1 past positions and the new one
      tensors[5] =
          OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {(int) keys - 1}), new long[] {1});
      tensors[6] =
          OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {(int) keys}), new long[] {});
    } catch (OrtException e) {
      IllegalStateException failure =
          new IllegalStateException("ONNX Runtime could not set up GroupQueryAttention: " + e, e);
      OrtModels.closeAll(failure, tensors);
      OrtModels.closeAll(failure, opened);
      throw failure;
    }
    this.session = opened;
    this.owned = tensors;
    this.inputs =
        Map.of(
            "query", tensors[0],
            "key", tensors[1],
            "value", tensors[2],
            "past_key", tensors[3],
            "past_value", tensors[4],
            "seqlens_k", tensors[5],
            "total_sequence_length", tensors[6]);
    this.pinned = Map.of("present_key", tensors[3], "present_value", tensors[4]);
  }

  /**
   * Runs one step.
   *
   * @return the output (1, 1, H·D) in C order
   */
  float[] run() {
    try (OrtSession.Result result = session.run(inputs, java.util.Set.of("output"), pinned)) {
      return OrtModels.copyFloats(result.get("output").orElseThrow());
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime failed to run GroupQueryAttention: " + e, e);
    }
  }

  /** Runs one step without copying the output to the Java heap. */
  void runDiscardingOutput() {
    try (OrtSession.Result result = session.run(inputs, java.util.Set.of("output"), pinned)) {
      result.get(0);
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime failed to run GroupQueryAttention: " + e, e);
    }
  }

  /** The one-node model; the scale is GQA's default 1/√D. */
  static OnnxMl.ModelProto model(long heads, long kvHeads, long keys, long headDim) {
    OnnxMl.NodeProto node = node(heads, kvHeads, "past_key", "past_value");
    long[] cache = {1, kvHeads, keys, headDim};
    OnnxMl.GraphProto graph =
        OnnxMl.GraphProto.newBuilder()
            .setName("gqa")
            .addNode(node)
            .addInput(OrtModels.floats("query", 1, 1, heads * headDim))
            .addInput(OrtModels.floats("key", 1, 1, kvHeads * headDim))
            .addInput(OrtModels.floats("value", 1, 1, kvHeads * headDim))
            .addInput(OrtModels.floats("past_key", cache))
            .addInput(OrtModels.floats("past_value", cache))
            .addInput(OrtModels.value("seqlens_k", OnnxMl.TensorProto.DataType.INT32, 1))
            .addInput(OrtModels.value("total_sequence_length", OnnxMl.TensorProto.DataType.INT32))
            .addOutput(OrtModels.floats("output", 1, 1, heads * headDim))
            .addOutput(OrtModels.floats("present_key", cache))
            .addOutput(OrtModels.floats("present_value", cache))
            .build();
    return OrtModels.model(graph);
  }

  /**
   * The {@code GroupQueryAttention} node of the bench's models: inputs {@code query}, {@code key},
   * {@code value}, the past key and value (or "" for a prompt without them), {@code seqlens_k} and
   * {@code total_sequence_length}; outputs {@code output}, {@code present_key}, {@code
   * present_value}.
   */
  static OnnxMl.NodeProto node(long heads, long kvHeads, String pastKey, String pastValue) {
    return OnnxMl.NodeProto.newBuilder()
        .setName("gqa")
        .setOpType("GroupQueryAttention")
        .setDomain(OrtModels.MICROSOFT)
        .addInput("query")
        .addInput("key")
        .addInput("value")
        .addInput(pastKey)
        .addInput(pastValue)
        .addInput("seqlens_k")
        .addInput("total_sequence_length")
        .addOutput("output")
        .addOutput("present_key")
        .addOutput("present_value")
        .addAttribute(OrtModels.intAttribute("num_heads", heads))
        .addAttribute(OrtModels.intAttribute("kv_num_heads", kvHeads))
        .build();
  }

  /**
   * Closes the inputs and the session.
   *
   * @throws IllegalStateException when ONNX Runtime fails to release them
   */
  @Override
  public void close() {
    IllegalStateException failure = new IllegalStateException("could not close ONNX Runtime");
    OrtModels.closeAll(failure, owned);
    OrtModels.closeAll(failure, session);
    if (failure.getSuppressed().length > 0) {
      throw failure;
    }
  }
}
