package io.github.djlattention.conformance.contrib;

import ai.djl.ndarray.NDArray;
import ai.onnx.proto.OnnxMl.AttributeProto;
import io.github.djlattention.onnx.OnnxGraphBuilder;
import io.github.djlattention.ops.contrib.ContribAttention;
import io.github.djlattention.ops.contrib.ContribGroupQueryAttention;
import io.github.djlattention.ops.contrib.ContribMultiHeadAttention;
import io.github.djlattention.ops.contrib.ContribResult;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import io.github.djlattention.reference.ReferenceContribAttention;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One {@code com.microsoft} attention node: the operator with its attributes, computed three ways
 * (the float64 reference, the project's adapter, and, as an ONNX node, by ONNX Runtime).
 */
public sealed interface ContribNode {

  /** The ONNX operator domain of these nodes. */
  String DOMAIN = "com.microsoft";

  /**
   * The operator's type, e.g. {@code GroupQueryAttention}.
   *
   * @return the type
   */
  String opType();

  /**
   * The node's input names in order; an ONNX node lists absent optional inputs as "".
   *
   * @return the names
   */
  List<String> inputNames();

  /**
   * The inputs that are int32 tensors.
   *
   * @return their names
   */
  Set<String> integerInputs();

  /**
   * The outputs a case compares, given its inputs (the caches only where the node has a past, or
   * always for {@code GroupQueryAttention}, whose presents are required).
   *
   * @param inputs the case's inputs
   * @return output names in the node's order
   */
  List<String> outputNames(Map<String, Tensor> inputs);

  /**
   * The node's attributes as ONNX attributes; defaults are left out.
   *
   * @return the attributes
   */
  List<AttributeProto> attributes();

  /**
   * The float64 reference.
   *
   * @param inputs the inputs by name
   * @return the outputs and weights
   */
  ReferenceContribAttention.Result reference(Map<String, Tensor> inputs);

  /**
   * The project's adapter.
   *
   * @param inputs the inputs by name
   * @param returnWeights whether to return the weights
   * @return outputs by the node's output names, and the weights under {@code "weights"} if asked
   */
  Map<String, NDArray> compute(Map<String, NDArray> inputs, boolean returnWeights);

  /**
   * Sets to zero the elements of an output that the operator leaves unspecified, so that every
   * implementation is compared on the specified ones only: the rows of a shared cache buffer past
   * the total length, and for {@code GroupQueryAttention} the present rows from T_b on and the
   * first prompt's padding query rows.
   *
   * @param output the output's name
   * @param values its elements in C order, changed in place
   * @param shape its shape
   * @param inputs the case's inputs
   */
  default void clearUnspecified(
      String output, double[] values, int[] shape, Map<String, Tensor> inputs) {}

  /** {@code com.microsoft.MultiHeadAttention}. */
  record MultiHead(ContribMultiHeadAttention op) implements ContribNode {
    @Override
    public String opType() {
      return ContribMultiHeadAttention.OP_TYPE;
    }

    @Override
    public List<String> inputNames() {
      return ContribMultiHeadAttention.INPUTS;
    }

    @Override
    public Set<String> integerInputs() {
      return Set.of("key_padding_mask", "past_sequence_length");
    }

    @Override
    public List<String> outputNames(Map<String, Tensor> inputs) {
      return inputs.containsKey("past_key")
          ? List.of("output", "present_key", "present_value")
          : List.of("output");
    }

    @Override
    public List<AttributeProto> attributes() {
      List<AttributeProto> attributes = new ArrayList<>();
      attributes.add(OnnxGraphBuilder.attribute("num_heads", op.numHeads()));
      if (op.scale() != null) {
        attributes.add(OnnxGraphBuilder.attribute("scale", op.scale()));
      }
      if (op.maskFilterValue() != ContribMultiHeadAttention.DEFAULT_MASK_FILTER_VALUE) {
        attributes.add(OnnxGraphBuilder.attribute("mask_filter_value", op.maskFilterValue()));
      }
      if (op.unidirectional()) {
        attributes.add(OnnxGraphBuilder.attribute("unidirectional", 1));
      }
      return attributes;
    }

    @Override
    public void clearUnspecified(
        String output, double[] values, int[] shape, Map<String, Tensor> inputs) {
      Tensor shared = inputs.get("past_sequence_length");
      if (shared != null && output.startsWith("present")) { // (B, H, M, D)
        Tensor key = inputs.containsKey("key") ? inputs.get("key") : inputs.get("query");
        int total = (int) shared.data()[0] + key.shape()[1];
        clearRows(values, shape, 2, b -> total);
      }
    }

    @Override
    public ReferenceContribAttention.Result reference(Map<String, Tensor> inputs) {
      return ReferenceContribAttention.multiHeadAttention(
          new ReferenceContribAttention.MultiHeadAttributes(
              op.numHeads(), op.scale(), op.maskFilterValue(), op.unidirectional()),
          inputs);
    }

    @Override
    public Map<String, NDArray> compute(Map<String, NDArray> inputs, boolean returnWeights) {
      ContribResult r = op.compute(inputs, returnWeights);
      Map<String, NDArray> outputs = named(r.output(), returnWeights ? r.weights() : null);
      outputs.put("present_key", r.presentKey());
      outputs.put("present_value", r.presentValue());
      return outputs;
    }
  }

  /** {@code com.microsoft.GroupQueryAttention}. */
  record GroupQuery(ContribGroupQueryAttention op) implements ContribNode {
    @Override
    public String opType() {
      return ContribGroupQueryAttention.OP_TYPE;
    }

    @Override
    public List<String> inputNames() {
      return ContribGroupQueryAttention.INPUTS;
    }

    @Override
    public Set<String> integerInputs() {
      return Set.of("seqlens_k", "total_sequence_length");
    }

    @Override
    public List<String> outputNames(Map<String, Tensor> inputs) {
      return List.of("output", "present_key", "present_value");
    }

    @Override
    public List<AttributeProto> attributes() {
      List<AttributeProto> attributes = new ArrayList<>();
      attributes.add(OnnxGraphBuilder.attribute("num_heads", op.numHeads()));
      attributes.add(OnnxGraphBuilder.attribute("kv_num_heads", op.kvNumHeads()));
      if (op.scale() != null) {
        attributes.add(OnnxGraphBuilder.attribute("scale", op.scale()));
      }
      if (op.softcap() != null) {
        attributes.add(OnnxGraphBuilder.attribute("softcap", op.softcap()));
      }
      if (op.localWindowSize() != -1) {
        attributes.add(OnnxGraphBuilder.attribute("local_window_size", op.localWindowSize()));
      }
      if (op.doRotary()) {
        attributes.add(OnnxGraphBuilder.attribute("do_rotary", 1));
        if (op.rotaryInterleaved()) {
          attributes.add(OnnxGraphBuilder.attribute("rotary_interleaved", 1));
        }
      }
      if (!op.causal()) {
        attributes.add(OnnxGraphBuilder.attribute("causal", 0));
      }
      return attributes;
    }

    @Override
    public void clearUnspecified(
        String output, double[] values, int[] shape, Map<String, Tensor> inputs) {
      double[] seqlens = inputs.get("seqlens_k").data();
      java.util.function.IntUnaryOperator valid = b -> (int) seqlens[b] + 1;
      if (output.startsWith("present")) { // (B, G, M, D): rows from T_b on
        clearRows(values, shape, 2, valid);
      } else if (output.equals("output")) { // (B, S, H·D): the first prompt's padding rows
        int length = shape[1];
        if (inputs.get("total_sequence_length").data()[0] == length) {
          clearRows(values, shape, 1, valid);
        }
      }
    }

    @Override
    public ReferenceContribAttention.Result reference(Map<String, Tensor> inputs) {
      return ReferenceContribAttention.groupQueryAttention(
          new ReferenceContribAttention.GroupQueryAttributes(
              op.numHeads(),
              op.kvNumHeads(),
              op.scale(),
              op.softcap(),
              op.localWindowSize(),
              op.doRotary(),
              op.rotaryInterleaved(),
              op.causal()),
          inputs);
    }

    @Override
    public Map<String, NDArray> compute(Map<String, NDArray> inputs, boolean returnWeights) {
      ContribResult r = op.compute(inputs, returnWeights);
      Map<String, NDArray> outputs = named(r.output(), returnWeights ? r.weights() : null);
      outputs.put("present_key", r.presentKey());
      outputs.put("present_value", r.presentValue());
      return outputs;
    }
  }

  /** {@code com.microsoft.Attention}. */
  record Packed(ContribAttention op) implements ContribNode {
    @Override
    public String opType() {
      return ContribAttention.OP_TYPE;
    }

    @Override
    public List<String> inputNames() {
      return ContribAttention.INPUTS;
    }

    @Override
    public Set<String> integerInputs() {
      return Set.of("mask_index", "past_sequence_length");
    }

    @Override
    public List<String> outputNames(Map<String, Tensor> inputs) {
      return inputs.containsKey("past") ? List.of("output", "present") : List.of("output");
    }

    @Override
    public List<AttributeProto> attributes() {
      List<AttributeProto> attributes = new ArrayList<>();
      attributes.add(OnnxGraphBuilder.attribute("num_heads", op.numHeads()));
      if (op.qkvHiddenSizes() != null) {
        attributes.add(OnnxGraphBuilder.ints("qkv_hidden_sizes", op.qkvHiddenSizes()));
      }
      if (op.scale() != null) {
        attributes.add(OnnxGraphBuilder.attribute("scale", op.scale()));
      }
      if (op.maskFilterValue() != ContribAttention.DEFAULT_MASK_FILTER_VALUE) {
        attributes.add(OnnxGraphBuilder.attribute("mask_filter_value", op.maskFilterValue()));
      }
      if (op.unidirectional()) {
        attributes.add(OnnxGraphBuilder.attribute("unidirectional", 1));
      }
      if (op.pastPresentShareBuffer()) {
        attributes.add(OnnxGraphBuilder.attribute("past_present_share_buffer", 1));
      }
      return attributes;
    }

    @Override
    public void clearUnspecified(
        String output, double[] values, int[] shape, Map<String, Tensor> inputs) {
      Tensor shared = inputs.get("past_sequence_length");
      if (shared != null && output.equals("present")) { // (2, B, H, M, D): keys, then values
        int total = (int) shared.data()[0] + inputs.get("input").shape()[1];
        int half = values.length / 2;
        int[] each = {shape[1], shape[2], shape[3], shape[4]};
        double[] keys = java.util.Arrays.copyOfRange(values, 0, half);
        double[] vals = java.util.Arrays.copyOfRange(values, half, values.length);
        clearRows(keys, each, 2, b -> total);
        clearRows(vals, each, 2, b -> total);
        System.arraycopy(keys, 0, values, 0, half);
        System.arraycopy(vals, 0, values, half, half);
      }
    }

    @Override
    public ReferenceContribAttention.Result reference(Map<String, Tensor> inputs) {
      return ReferenceContribAttention.attention(
          new ReferenceContribAttention.AttentionAttributes(
              op.numHeads(),
              op.qkvHiddenSizes(),
              op.scale(),
              op.maskFilterValue(),
              op.unidirectional(),
              op.pastPresentShareBuffer()),
          inputs);
    }

    @Override
    public Map<String, NDArray> compute(Map<String, NDArray> inputs, boolean returnWeights) {
      ContribResult r = op.compute(inputs, returnWeights);
      Map<String, NDArray> outputs = named(r.output(), returnWeights ? r.weights() : null);
      if (r.presentKey().getShape().equals(r.presentValue().getShape())) {
        outputs.put("present", ContribAttention.present(r));
      }
      return outputs;
    }
  }

  /**
   * Zeros, in each batch b, the indices from {@code from(b)} on along {@code axis} of a tensor
   * whose first axis is the batch.
   */
  private static void clearRows(
      double[] values, int[] shape, int axis, java.util.function.IntUnaryOperator from) {
    int outer = 1;
    for (int a = 1; a < axis; a++) {
      outer *= shape[a];
    }
    int inner = 1;
    for (int a = axis + 1; a < shape.length; a++) {
      inner *= shape[a];
    }
    int rows = shape[axis];
    for (int b = 0; b < shape[0]; b++) {
      for (int o = 0; o < outer; o++) {
        for (int r = Math.max(0, from.applyAsInt(b)); r < rows; r++) {
          int start = ((b * outer + o) * rows + r) * inner;
          java.util.Arrays.fill(values, start, start + inner, 0);
        }
      }
    }
  }

  private static Map<String, NDArray> named(NDArray output, NDArray weights) {
    Map<String, NDArray> outputs = new LinkedHashMap<>();
    outputs.put("output", output);
    if (weights != null) {
      outputs.put("weights", weights);
    }
    return outputs;
  }
}
