package io.github.djlattention.bench;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.UnsafeByteOperations;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One Llama-style attention layer in ONNX Runtime, stepped one token at a time as a generation loop
 * steps it: the input x goes through the query, key and value projections (MatMul by the transposed
 * weights, stored as initializers), ONNX Runtime's {@code com.microsoft.GroupQueryAttention} with a
 * KV cache whose past and present share one buffer of the loop's capacity (the present outputs are
 * pinned to the past inputs, so ONNX Runtime appends each step's key and value in place and reads
 * only the valid prefix), and the output projection. No biases; the scale is GQA's default 1/√D;
 * GQA's CPU kernel is causal, which hides nothing from the step's one query at the end of the
 * prefix.
 *
 * <p>Shape legend: E embedding, H query heads, G key/value heads, D = E/H head size, C capacity
 * (the loop's tokens). x and y (1, 1, E); the projections' weights in PyTorch's layout (out, in):
 * W_q (H·D, E), W_k and W_v (G·D, E), W_o (E, H·D); past and present key and value (1, G, C, D).
 *
 * <p>Step i holds i positions before the call: {@code seqlens_k} = i (the total length minus one)
 * and {@code total_sequence_length} = i + 1. The loop's inputs, one per step, are bound once,
 * before any step is timed.
 */
final class OrtGenerationLayer implements AutoCloseable {

  private final long embedding;
  private final OrtSession session;
  private final List<Map<String, OnnxTensor>> steps;
  private final Map<String, OnnxValue> pinned;
  private final List<OnnxTensor> owned;

  /**
   * Builds the model and binds every step's inputs.
   *
   * @param embedding E
   * @param heads H
   * @param kvHeads G
   * @param queryWeight W_q (H·D, E) in C order
   * @param keyWeight W_k (G·D, E)
   * @param valueWeight W_v (G·D, E)
   * @param outWeight W_o (E, H·D)
   * @param tokens the loop's inputs, one (1, 1, E) per step; their number is the capacity C
   * @param threads intra-op threads
   * @throws IllegalArgumentException when a size does not fit the others
   * @throws IllegalStateException when ONNX Runtime rejects the model or the inputs
   */
  OrtGenerationLayer(
      long embedding,
      long heads,
      long kvHeads,
      float[] queryWeight,
      float[] keyWeight,
      float[] valueWeight,
      float[] outWeight,
      float[][] tokens,
      int threads) {
    if (embedding <= 0 || heads <= 0 || kvHeads <= 0 || embedding % heads != 0) {
      throw new IllegalArgumentException(
          "E must be a positive multiple of H and G positive, got E="
              + embedding
              + " H="
              + heads
              + " G="
              + kvHeads);
    }
    if (tokens.length == 0) {
      throw new IllegalArgumentException("a generation loop takes at least one token, got none");
    }
    for (int i = 0; i < tokens.length; i++) {
      if (tokens[i].length != embedding) {
        throw new IllegalArgumentException(
            "token "
                + i
                + " has "
                + tokens[i].length
                + " features, the layer takes E="
                + embedding);
      }
    }
    this.embedding = embedding;
    long headDim = embedding / heads;
    long capacity = tokens.length;
    OnnxMl.ModelProto model =
        model(embedding, heads, kvHeads, capacity, queryWeight, keyWeight, valueWeight, outWeight);
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    List<OnnxTensor> tensors = new ArrayList<>();
    List<Map<String, OnnxTensor>> bound = new ArrayList<>();
    OrtSession opened = null;
    Map<String, OnnxValue> pins;
    try {
      opened = OrtModels.open(model, threads);
      long[] cacheShape = {1, kvHeads, capacity, headDim};
      int cacheSize = Math.toIntExact(kvHeads * capacity * headDim);
      OnnxTensor pastKey =
          add(tensors, OnnxTensor.createTensor(env, FloatBuffer.allocate(cacheSize), cacheShape));
      OnnxTensor pastValue =
          add(tensors, OnnxTensor.createTensor(env, FloatBuffer.allocate(cacheSize), cacheShape));
      for (int i = 0; i < tokens.length; i++) {
        OnnxTensor x =
            add(
                tensors,
                OnnxTensor.createTensor(
                    env, FloatBuffer.wrap(tokens[i]), new long[] {1, 1, embedding}));
        // step i: i positions in the cache before the call, i + 1 after it
        OnnxTensor seqlens =
            add(
                tensors,
                OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {i}), new long[] {1}));
        OnnxTensor total =
            add(
                tensors,
                OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {i + 1}), new long[] {}));
        bound.add(
            Map.of(
                "x", x,
                "past_key", pastKey,
                "past_value", pastValue,
                "seqlens_k", seqlens,
                "total_sequence_length", total));
      }
      pins = Map.of("present_key", pastKey, "present_value", pastValue);
    } catch (OrtException | RuntimeException e) {
      IllegalStateException failure =
          new IllegalStateException(
              "ONNX Runtime could not set up the GroupQueryAttention layer: " + e, e);
      OrtModels.closeAll(failure, tensors.toArray(new AutoCloseable[0]));
      OrtModels.closeAll(failure, opened);
      throw failure;
    }
    this.session = opened;
    this.owned = tensors;
    this.steps = bound;
    this.pinned = pins;
  }

  private static OnnxTensor add(List<OnnxTensor> owned, OnnxTensor tensor) {
    owned.add(tensor);
    return tensor;
  }

  /** The loop's length C: the number of steps, and the cache's capacity. */
  int tokens() {
    return steps.size();
  }

  /**
   * Runs step i: appends its key and value at position i of the cache and attends over positions 0
   * … i. Steps must run in order from 0; running step 0 again starts a new loop (the positions it
   * leaves behind are never read).
   *
   * @param step i, from 0 to C − 1
   * @return y (1, 1, E) in C order
   * @throws IllegalArgumentException when the step is out of range
   * @throws IllegalStateException when ONNX Runtime fails
   */
  float[] step(int step) {
    if (step < 0 || step >= steps.size()) {
      throw new IllegalArgumentException(
          "step " + step + " is outside the loop's 0 to " + (steps.size() - 1));
    }
    try (OrtSession.Result result = session.run(steps.get(step), Set.of("y"), pinned)) {
      return OrtModels.copyFloats(result.get("y").orElseThrow());
    } catch (OrtException e) {
      throw new IllegalStateException(
          "ONNX Runtime failed to run step " + step + " of the generation loop: " + e, e);
    }
  }

  /**
   * The layer's model: {@code y = GroupQueryAttention(x·W_qᵀ, x·W_kᵀ, x·W_vᵀ, past…)·W_oᵀ}.
   *
   * @param capacity C, the sequence length of the past and present buffers
   * @return the model, the transposed weights as raw-data initializers
   */
  static OnnxMl.ModelProto model(
      long embedding,
      long heads,
      long kvHeads,
      long capacity,
      float[] queryWeight,
      float[] keyWeight,
      float[] valueWeight,
      float[] outWeight) {
    long headDim = embedding / heads;
    long[] cache = {1, kvHeads, capacity, headDim};
    OnnxMl.GraphProto.Builder graph =
        OnnxMl.GraphProto.newBuilder()
            .setName("generation_layer")
            .addInitializer(transposed("w_q_t", queryWeight, heads * headDim, embedding))
            .addInitializer(transposed("w_k_t", keyWeight, kvHeads * headDim, embedding))
            .addInitializer(transposed("w_v_t", valueWeight, kvHeads * headDim, embedding))
            .addInitializer(transposed("w_o_t", outWeight, embedding, heads * headDim))
            .addNode(matMul("x", "w_q_t", "q")) // (1, 1, H·D)
            .addNode(matMul("x", "w_k_t", "k")) // (1, 1, G·D)
            .addNode(matMul("x", "w_v_t", "v")) // (1, 1, G·D)
            .addNode(
                OnnxMl.NodeProto.newBuilder()
                    .setName("gqa")
                    .setOpType("GroupQueryAttention")
                    .setDomain(OrtModels.MICROSOFT)
                    .addInput("q")
                    .addInput("k")
                    .addInput("v")
                    .addInput("past_key")
                    .addInput("past_value")
                    .addInput("seqlens_k")
                    .addInput("total_sequence_length")
                    .addOutput("attention") // (1, 1, H·D)
                    .addOutput("present_key") // (1, G, C, D)
                    .addOutput("present_value")
                    .addAttribute(OrtModels.intAttribute("num_heads", heads))
                    .addAttribute(OrtModels.intAttribute("kv_num_heads", kvHeads)))
            .addNode(matMul("attention", "w_o_t", "y")) // (1, 1, E)
            .addInput(OrtModels.floats("x", 1, 1, embedding))
            .addInput(OrtModels.floats("past_key", cache))
            .addInput(OrtModels.floats("past_value", cache))
            .addInput(OrtModels.value("seqlens_k", OnnxMl.TensorProto.DataType.INT32, 1))
            .addInput(OrtModels.value("total_sequence_length", OnnxMl.TensorProto.DataType.INT32))
            .addOutput(OrtModels.floats("y", 1, 1, embedding))
            .addOutput(OrtModels.floats("present_key", cache))
            .addOutput(OrtModels.floats("present_value", cache));
    return OrtModels.model(graph.build());
  }

  private static OnnxMl.NodeProto matMul(String a, String b, String out) {
    return OnnxMl.NodeProto.newBuilder()
        .setName(out + "_matmul")
        .setOpType("MatMul")
        .addInput(a)
        .addInput(b)
        .addOutput(out)
        .build();
  }

  /**
   * A float32 initializer (in, out) holding Wᵀ of a weight W (out, in), as little-endian raw data
   * (wrapped, not copied: the model is the only holder of the buffer).
   */
  static OnnxMl.TensorProto transposed(String name, float[] weight, long out, long in) {
    if (weight.length != out * in) {
      throw new IllegalArgumentException(
          name
              + ": a weight ("
              + out
              + ", "
              + in
              + ") holds "
              + out * in
              + " values, got "
              + weight.length);
    }
    int rows = Math.toIntExact(out);
    int cols = Math.toIntExact(in);
    ByteBuffer raw =
        ByteBuffer.allocate(weight.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    FloatBuffer floats = raw.asFloatBuffer();
    for (int c = 0; c < cols; c++) {
      for (int r = 0; r < rows; r++) {
        floats.put(weight[r * cols + c]); // Wᵀ[c][r] = W[r][c]
      }
    }
    return OnnxMl.TensorProto.newBuilder()
        .setName(name)
        .setDataType(OnnxMl.TensorProto.DataType.FLOAT_VALUE)
        .addDims(in)
        .addDims(out)
        .setRawData(UnsafeByteOperations.unsafeWrap(raw))
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
    OrtModels.closeAll(failure, owned.toArray(new AutoCloseable[0]));
    OrtModels.closeAll(failure, session);
    if (failure.getSuppressed().length > 0) {
      throw failure;
    }
  }
}
