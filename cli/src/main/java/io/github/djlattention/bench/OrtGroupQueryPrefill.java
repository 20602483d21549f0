package io.github.djlattention.bench;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.util.Map;
import java.util.Set;

/**
 * ONNX Runtime's {@code com.microsoft.GroupQueryAttention} on a prompt: S new tokens and no past,
 * its CPU kernel for LLM prefill (always causal on the CPU in 1.26). {@code seqlens_k} is S − 1 and
 * {@code total_sequence_length} S, as for a first call; the present key and value it also returns
 * are not read.
 *
 * <p>Shape legend: B batch (1), H query heads, G key/value heads, S tokens, D head size. Query (1,
 * S, H·D), key and value (1, S, G·D), output (1, S, H·D).
 */
final class OrtGroupQueryPrefill implements AutoCloseable {

  private final OrtSession session;
  private final Map<String, OnnxTensor> inputs;

  /**
   * Builds the model and binds the inputs.
   *
   * @param heads H
   * @param kvHeads G
   * @param tokens S
   * @param headDim D
   * @param query (1, S, H·D) in C order
   * @param key (1, S, G·D)
   * @param value (1, S, G·D)
   * @param threads intra-op threads
   * @throws IllegalStateException when ONNX Runtime rejects the model or the inputs
   */
  OrtGroupQueryPrefill(
      long heads,
      long kvHeads,
      long tokens,
      long headDim,
      float[] query,
      float[] key,
      float[] value,
      int threads) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    OnnxTensor[] tensors = new OnnxTensor[5];
    OrtSession opened = null;
    try {
      opened = OrtModels.open(model(heads, kvHeads, tokens, headDim), threads);
      tensors[0] =
          OnnxTensor.createTensor(
              env, FloatBuffer.wrap(query), new long[] {1, tokens, heads * headDim});
      tensors[1] =
          OnnxTensor.createTensor(
              env, FloatBuffer.wrap(key), new long[] {1, tokens, kvHeads * headDim});
      tensors[2] =
          OnnxTensor.createTensor(
              env, FloatBuffer.wrap(value), new long[] {1, tokens, kvHeads * headDim});
      tensors[3] =
          OnnxTensor.createTensor(
              env, IntBuffer.wrap(new int[] {(int) tokens - 1}), new long[] {1});
      tensors[4] =
          OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {(int) tokens}), new long[] {});
    } catch (OrtException e) {
      IllegalStateException failure =
          new IllegalStateException(
              "ONNX Runtime could not set up GroupQueryAttention (prefill): " + e, e);
      OrtModels.closeAll(failure, tensors);
      OrtModels.closeAll(failure, opened);
      throw failure;
    }
    this.session = opened;
    this.inputs =
        Map.of(
            "query", tensors[0],
            "key", tensors[1],
            "value", tensors[2],
            "seqlens_k", tensors[3],
            "total_sequence_length", tensors[4]);
  }

  /**
   * Runs the prompt.
   *
   * @return the output (1, S, H·D) in C order
   */
  float[] run() {
    try (OrtSession.Result result = session.run(inputs, Set.of("output"))) {
      return OrtModels.copyFloats(result.get("output").orElseThrow());
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime failed to run GroupQueryAttention: " + e, e);
    }
  }

  /** Runs the prompt without copying the output to the Java heap. */
  void runDiscardingOutput() {
    try (OrtSession.Result result = session.run(inputs, Set.of("output"))) {
      result.get(0);
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime failed to run GroupQueryAttention: " + e, e);
    }
  }

  /** The one-node model without past inputs; the scale is GQA's default 1/√D. */
  static OnnxMl.ModelProto model(long heads, long kvHeads, long tokens, long headDim) {
    OnnxMl.NodeProto node = OrtGroupQueryAttention.node(heads, kvHeads, "", "");
    long[] present = {1, kvHeads, tokens, headDim};
    OnnxMl.GraphProto graph =
        OnnxMl.GraphProto.newBuilder()
            .setName("gqa_prefill")
            .addNode(node)
            .addInput(OrtModels.floats("query", 1, tokens, heads * headDim))
            .addInput(OrtModels.floats("key", 1, tokens, kvHeads * headDim))
            .addInput(OrtModels.floats("value", 1, tokens, kvHeads * headDim))
            .addInput(OrtModels.value("seqlens_k", OnnxMl.TensorProto.DataType.INT32, 1))
            .addInput(OrtModels.value("total_sequence_length", OnnxMl.TensorProto.DataType.INT32))
            .addOutput(OrtModels.floats("output", 1, tokens, heads * headDim))
            .addOutput(OrtModels.floats("present_key", present))
            .addOutput(OrtModels.floats("present_value", present))
            .build();
    return OrtModels.model(graph);
  }

  @Override
  public void close() {
    IllegalStateException failure = new IllegalStateException("could not close ONNX Runtime");
    OrtModels.closeAll(failure, inputs.values().toArray(new AutoCloseable[0]));
    OrtModels.closeAll(failure, session);
    if (failure.getSuppressed().length > 0) {
      throw failure;
    }
  }
}
