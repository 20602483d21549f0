package io.github.djlattention.onnx.inspect;

import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Finds attention computed by one operator: the ONNX {@code Attention} (opset 23 and later) and
 * ONNX Runtime's {@code com.microsoft} {@code Attention}, {@code MultiHeadAttention} and {@code
 * GroupQueryAttention}, with the projections around them.
 */
final class FusedOperatorFinder {

  private final ModelGraph graph;
  private final GraphTraces traces;
  private final ProjectionFinder projections;

  FusedOperatorFinder(ModelGraph graph) {
    this.graph = graph;
    this.traces = new GraphTraces(graph);
    this.projections = new ProjectionFinder(graph);
  }

  /** The node's form, or empty when it is not an attention operator. */
  static Optional<AttentionSite.Form> formOf(NodeProto node) {
    String domain = node.getDomain();
    boolean onnx = domain.isEmpty() || domain.equals("ai.onnx");
    boolean microsoft = domain.equals(ModelGraph.MICROSOFT_DOMAIN);
    switch (node.getOpType()) {
      case "Attention":
        return onnx
            ? Optional.of(AttentionSite.Form.ONNX_ATTENTION)
            : microsoft ? Optional.of(AttentionSite.Form.MS_ATTENTION) : Optional.empty();
      case "MultiHeadAttention":
        return microsoft
            ? Optional.of(AttentionSite.Form.MS_MULTI_HEAD_ATTENTION)
            : Optional.empty();
      case "GroupQueryAttention":
        return microsoft
            ? Optional.of(AttentionSite.Form.MS_GROUP_QUERY_ATTENTION)
            : Optional.empty();
      default:
        return Optional.empty();
    }
  }

  /** A site for an attention operator node. */
  AttentionSite site(NodeProto node, AttentionSite.Form form, int index) {
    List<String> notes = new ArrayList<>();
    List<SiteMask> masks = new ArrayList<>();
    Integer heads = null;
    Integer kvHeads = null;
    Integer headSize = null;
    Double scale = ModelGraph.floatAttribute(node, "scale").orElse(null);
    Double softcap = ModelGraph.floatAttribute(node, "softcap").filter(c -> c != 0).orElse(null);
    boolean causal;
    String query = input(node, 0);
    String key = input(node, 1);
    String value = input(node, 2);
    Projection queryProjection = null;
    Projection keyProjection = null;
    Projection valueProjection = null;
    String input = null;
    switch (form) {
      case ONNX_ATTENTION:
        heads = optionalInt(node, "q_num_heads");
        kvHeads = optionalInt(node, "kv_num_heads");
        causal = ModelGraph.intAttribute(node, "is_causal", 0) != 0;
        addMask(masks, node, 3, "attn_mask");
        note(notes, node, 4, "past_key (KV cache)");
        note(notes, node, 6, "nonpad_kv_seqlen (valid key counts)");
        ModelGraph.attribute(node, "softmax_precision")
            .ifPresent(a -> notes.add("softmax_precision=" + a.getI()));
        if (graph.opset("") < 23) {
          notes.add("Attention in a model of default opset " + graph.opset("") + " (needs 23)");
        }
        break;
      case MS_ATTENTION:
        heads = optionalInt(node, "num_heads");
        kvHeads = heads;
        causal = ModelGraph.intAttribute(node, "unidirectional", 0) != 0;
        addMask(masks, node, 3, "mask_index");
        addMask(masks, node, 5, "attention_bias");
        note(notes, node, 4, "past (KV cache)");
        if (ModelGraph.intAttribute(node, "do_rotary", 0) != 0) {
          notes.add("do_rotary=1 (rotary embedding inside the operator)");
        }
        input = query;
        List<Projection> packed = packedProjections(node, heads);
        if (packed.size() == 3) {
          queryProjection = packed.get(0);
          keyProjection = packed.get(1);
          valueProjection = packed.get(2);
        }
        query = input;
        key = null;
        value = null;
        break;
      case MS_MULTI_HEAD_ATTENTION:
        heads = optionalInt(node, "num_heads");
        kvHeads = heads;
        causal = ModelGraph.intAttribute(node, "unidirectional", 0) != 0;
        note(notes, node, 3, "bias (added to Q, K and V inside the operator)");
        addMask(masks, node, 4, "key_padding_mask");
        addMask(masks, node, 5, "attention_bias");
        note(notes, node, 6, "past_key (KV cache)");
        if (key == null && value == null) {
          notes.add("packed QKV in the query input");
        }
        break;
      case MS_GROUP_QUERY_ATTENTION:
        heads = optionalInt(node, "num_heads");
        kvHeads = optionalInt(node, "kv_num_heads");
        causal = true; // the operator always masks causally
        notes.add("always causal (bottom-right aligned)");
        addMask(masks, node, 5, "seqlens_k");
        note(notes, node, 3, "past_key (KV cache)");
        if (ModelGraph.intAttribute(node, "do_rotary", 0) != 0) {
          notes.add("do_rotary=1 (rotary embedding inside the operator)");
        }
        long window = ModelGraph.intAttribute(node, "local_window_size", -1);
        if (window >= 0) {
          notes.add("local_window_size=" + window);
        }
        break;
      default:
        throw new IllegalArgumentException("not a fused attention form: " + form);
    }
    if (form != AttentionSite.Form.MS_ATTENTION) {
      queryProjection = behindHeads(query);
      keyProjection = key == null ? null : behindHeads(key);
      valueProjection = value == null ? null : behindHeads(value);
      input = queryProjection != null ? queryProjection.input() : null;
    }
    if (headSize == null && heads != null && queryProjection != null) {
      long width = queryProjection.columnEnd() - queryProjection.columnStart();
      headSize = width % heads == 0 ? Math.toIntExact(width / heads) : null;
    }
    String output = node.getOutput(0);
    String weights = null;
    if (form == AttentionSite.Form.ONNX_ATTENTION
        && node.getOutputCount() > 3
        && !node.getOutput(3).isEmpty()
        && ModelGraph.intAttribute(node, "qk_matmul_output_mode", 0) == 3) {
      weights = node.getOutput(3);
    }
    Projection outputProjection = projections.reading(output).orElse(null);
    String merged = outputProjection != null ? outputProjection.input() : null;
    boolean anyCausalMask = masks.stream().anyMatch(SiteMask::causal);
    return new AttentionSite(
        index,
        node.getName().isEmpty() ? form.label() + " " + index : node.getName(),
        form,
        List.of(ModelGraph.nameOf(node)),
        input,
        query,
        key,
        value,
        masks,
        weights,
        output,
        merged,
        outputProjection != null ? outputProjection.output() : null,
        heads,
        kvHeads,
        headSize,
        scale,
        List.of(),
        softcap,
        causal || anyCausalMask,
        queryProjection,
        keyProjection,
        valueProjection,
        outputProjection,
        notes);
  }

  /** The projection behind a 3-D input, or behind a 4-D one's Transpose and Reshape. */
  private Projection behindHeads(String tensor) {
    Optional<Projection> direct = projections.producing(tensor);
    if (direct.isPresent()) {
      return direct.get();
    }
    Optional<NodeProto> transpose = graph.producer(tensor, "Transpose");
    if (transpose.isPresent()) {
      Optional<NodeProto> reshape = graph.producer(transpose.get().getInput(0), "Reshape");
      if (reshape.isPresent()) {
        return projections.producing(reshape.get().getInput(0)).orElse(null);
      }
    }
    return null;
  }

  /** com.microsoft.Attention's packed weight (E, Hq·D + Hk·D + Hv·D) split into Q, K, V. */
  private List<Projection> packedProjections(NodeProto node, Integer heads) {
    String weight = input(node, 1);
    if (weight == null || graph.constant(weight).isEmpty()) {
      return List.of();
    }
    long[] dims = ConstantValues.dims(graph.constant(weight).get());
    if (dims.length != 2) {
      return List.of();
    }
    long[] sizes =
        ModelGraph.intsAttribute(node, "qkv_hidden_sizes")
            .filter(s -> s.length == 3)
            .orElse(new long[] {dims[1] / 3, dims[1] / 3, dims[1] / 3});
    String bias = input(node, 2);
    List<Projection> parts = new ArrayList<>();
    long start = 0;
    for (long size : sizes) {
      parts.add(
          new Projection.FloatWeights(
              input(node, 0), weight, false, bias, "", start, start + size));
      start += size;
    }
    return parts;
  }

  private void addMask(List<SiteMask> masks, NodeProto node, int position, String role) {
    String tensor = input(node, position);
    if (tensor != null) {
      GraphTraces.Origin origin = traces.origin(tensor);
      masks.add(new SiteMask.OperatorInput(tensor, role, origin.description(), origin.causal()));
    }
  }

  private static void note(List<String> notes, NodeProto node, int position, String what) {
    if (input(node, position) != null) {
      notes.add("input " + position + ": " + what);
    }
  }

  private static String input(NodeProto node, int position) {
    return node.getInputCount() > position && !node.getInput(position).isEmpty()
        ? node.getInput(position)
        : null;
  }

  private static Integer optionalInt(NodeProto node, String name) {
    return ModelGraph.attribute(node, name).map(a -> Math.toIntExact(a.getI())).orElse(null);
  }
}
