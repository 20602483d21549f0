package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.github.djlattention.onnx.OnnxTensors;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One ONNX backend node test of the {@code Attention} operator: a one-node model, its inputs and
 * the ONNX reference implementation's outputs.
 *
 * @param name the test's directory name, e.g. {@code test_attention_4d_gqa}
 * @param opset the model's default-domain opset (23, 24 or 25)
 * @param attributes the node's attributes
 * @param nodeInputs the node's input names in slot order; an empty string marks an omitted optional
 *     input
 * @param nodeOutputs the node's output names in slot order; empty strings mark outputs not
 *     requested
 * @param model the serialized model
 * @param inputs the input tensors by node input name
 * @param expectedOutputs the expected tensors by node output name
 */
public record OnnxAttentionCase(
    String name,
    long opset,
    AttentionAttributes attributes,
    List<String> nodeInputs,
    List<String> nodeOutputs,
    ModelProto model,
    Map<String, TensorProto> inputs,
    Map<String, TensorProto> expectedOutputs)
    implements ConformanceCase {

  /** Slot names of the operator's inputs, in order. */
  public static final List<String> INPUT_SLOTS =
      List.of("Q", "K", "V", "attn_mask", "past_key", "past_value", "nonpad_kv_seqlen");

  /** Slot names of the operator's outputs, in order. */
  public static final List<String> OUTPUT_SLOTS =
      List.of("Y", "present_key", "present_value", "qk_matmul_output");

  /**
   * Copies the collections.
   *
   * @throws IllegalArgumentException if the node has more inputs or outputs than the operator
   */
  public OnnxAttentionCase {
    if (nodeInputs.size() > INPUT_SLOTS.size() || nodeOutputs.size() > OUTPUT_SLOTS.size()) {
      throw new IllegalArgumentException(
          name + ": node has " + nodeInputs.size() + " inputs, " + nodeOutputs.size() + " outputs");
    }
    nodeInputs = List.copyOf(nodeInputs);
    nodeOutputs = List.copyOf(nodeOutputs);
    inputs = new LinkedHashMap<>(inputs);
    expectedOutputs = new LinkedHashMap<>(expectedOutputs);
  }

  /**
   * The Attention node.
   *
   * @return the graph's only node
   */
  public NodeProto node() {
    return model.getGraph().getNode(0);
  }

  /**
   * The tensor given for an operator input slot, if any.
   *
   * @param slot a slot name from {@link #INPUT_SLOTS}, e.g. {@code past_key}
   * @return the tensor, empty if the slot is omitted
   */
  public Optional<TensorProto> input(String slot) {
    int index = INPUT_SLOTS.indexOf(slot);
    if (index < 0) {
      throw new IllegalArgumentException("unknown Attention input slot '" + slot + "'");
    }
    if (index >= nodeInputs.size() || nodeInputs.get(index).isEmpty()) {
      return Optional.empty();
    }
    return Optional.ofNullable(inputs.get(nodeInputs.get(index)));
  }

  /**
   * The node output name of an operator output slot, if the node declares it.
   *
   * @param slot a slot name from {@link #OUTPUT_SLOTS}
   * @return the output name, empty if not declared
   */
  public Optional<String> outputName(String slot) {
    int index = OUTPUT_SLOTS.indexOf(slot);
    if (index < 0) {
      throw new IllegalArgumentException("unknown Attention output slot '" + slot + "'");
    }
    if (index >= nodeOutputs.size() || nodeOutputs.get(index).isEmpty()) {
      return Optional.empty();
    }
    return Optional.of(nodeOutputs.get(index));
  }

  /**
   * The inputs as NDArrays.
   *
   * @param manager owns the arrays
   * @return arrays by node input name
   */
  public Map<String, NDArray> inputArrays(NDManager manager) {
    Map<String, NDArray> arrays = new LinkedHashMap<>();
    inputs.forEach((key, tensor) -> arrays.put(key, OnnxTensors.toNDArray(tensor, manager)));
    return arrays;
  }

  @Override
  public String group() {
    String q = input("Q").map(t -> OnnxTensors.dataType(t.getDataType()).toString()).orElse("");
    if (q.equals("float16")) {
      return "float16";
    }
    if (attributes.windowed()) {
      return "sliding window";
    }
    if (input("nonpad_kv_seqlen").isPresent()) {
      return "padding (nonpad_kv_seqlen)";
    }
    if (input("past_key").isPresent()) {
      return "kv cache";
    }
    if (outputName("qk_matmul_output").isPresent()) {
      return "qk_matmul_output";
    }
    if (name.contains("fullymasked") || name.contains("nan_robustness")) {
      return "fully masked rows";
    }
    if (attributes.softcap() > 0) {
      return "softcap";
    }
    if (input("attn_mask").isPresent()) {
      return "attn_mask";
    }
    if (attributes.causal()) {
      return "causal";
    }
    if (name.contains("gqa")) {
      return "gqa";
    }
    return "basic";
  }

  @Override
  public String dataType() {
    return input("Q").map(t -> OnnxTensors.dataType(t.getDataType()).toString()).orElse("?");
  }

  /**
   * The expected outputs; when the node declares {@code qk_matmul_output} in mode 3 that output is
   * also the oracle's attention weights.
   */
  @Override
  public CaseOutputs expected(NDManager manager) {
    Map<String, NDArray> arrays = new LinkedHashMap<>();
    expectedOutputs.forEach(
        (key, tensor) -> arrays.put(key, OnnxTensors.toNDArray(tensor, manager)));
    Optional<NDArray> weights =
        attributes.qkMatmulOutputMode() == 3
            ? outputName("qk_matmul_output").map(arrays::get)
            : Optional.empty();
    return new CaseOutputs(arrays, weights);
  }
}
