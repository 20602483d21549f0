package io.github.djlattention.verify;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.NodeProto;
import io.github.djlattention.onnx.OnnxTensors;
import io.github.djlattention.onnx.inspect.AttentionSite;
import io.github.djlattention.onnx.inspect.ModelGraph;
import io.github.djlattention.onnx.inspect.Projection;
import io.github.djlattention.onnx.inspect.SiteMask;
import java.util.Map;
import java.util.Optional;

/**
 * Turns what one run of the model left in a site's tensors into the arguments of the project's
 * attention: query (B, H, S, D), key (B, G, T, D), value (B, G, T, Dv), an additive float mask
 * broadcastable to (B, H, S, T), the scale, softcap and causal flag; and ONNX Runtime's own results
 * in the same layout. For the sublayer: the projections' float inputs (dequantized where the model
 * quantizes them) and weights.
 *
 * <p>Shape legend: B batch, H heads, G key/value heads, S query length, T key length, D head size,
 * E embedding.
 */
final class SiteTensors {

  /** The core's arguments and ONNX Runtime's core results, float32, 4-D. */
  record Core(
      NDArray query,
      NDArray key,
      NDArray value,
      NDArray mask,
      double scale,
      Double softcap,
      boolean causal,
      NDArray ortOutput,
      NDArray ortWeights) {}

  /**
   * The sublayer's inputs and weights.
   *
   * @param queryInput (B, S, Eq) float32, as the query projection reads it
   * @param keyInput (B, T, Ek)
   * @param valueInput (B, T, Ev)
   * @param query the query projection's weights
   * @param key the key projection's weights
   * @param value the value projection's weights
   * @param output the output projection's weights, or null when the check stops before it
   * @param ortResult ONNX Runtime's result: after the output projection, or the merged heads
   * @param ortTensor the name of that tensor in the model
   * @param inputs how the inputs were obtained, for the report
   */
  record Sublayer(
      NDArray queryInput,
      NDArray keyInput,
      NDArray valueInput,
      LinearWeights query,
      LinearWeights key,
      LinearWeights value,
      LinearWeights output,
      NDArray ortResult,
      String ortTensor,
      String inputs) {}

  private final AttentionSite site;
  private final ModelGraph graph;
  private final Map<String, NDArray> values;
  private final NDManager manager;

  /**
   * @param site the site
   * @param graph the model's graph (for constants)
   * @param values the run's tensors by name: the model's inputs and every captured output
   * @param manager owns what this class creates
   */
  SiteTensors(
      AttentionSite site, ModelGraph graph, Map<String, NDArray> values, NDManager manager) {
    this.site = site;
    this.graph = graph;
    this.values = values;
    this.manager = manager;
  }

  /** A tensor of the run, an initializer or a constant, as float32 unless {@code keepType}. */
  NDArray tensor(String name, boolean keepType) {
    NDArray value = values.get(name);
    if (value == null) {
      value =
          graph
              .constant(name)
              .map(t -> OnnxTensors.toNDArray(t, manager))
              .orElseThrow(
                  () -> new IllegalStateException("the run did not return tensor '" + name + "'"));
    }
    return keepType || value.getDataType() == DataType.FLOAT32
        ? value
        : value.toType(DataType.FLOAT32, false);
  }

  /**
   * The core of a written-out site or an ONNX {@code Attention} node.
   *
   * @throws NotVerifiable when the layout is one this check does not handle
   */
  Core core() {
    switch (site.form()) {
      case WRITTEN_OUT:
        return writtenOut();
      case ONNX_ATTENTION:
        return onnxAttention();
      case MS_MULTI_HEAD_ATTENTION:
        return microsoftMultiHead();
      case MS_ATTENTION:
        return microsoftAttention();
      case MS_GROUP_QUERY_ATTENTION:
        return microsoftGroupQuery();
      default:
        throw new NotVerifiable(site.form().label() + " sites are not recomputed");
    }
  }

  /** The node of a fused site. */
  private NodeProto node() {
    String name = site.nodes().get(0);
    return graph.nodes().stream()
        .filter(n -> ModelGraph.nameOf(n).equals(name))
        .findFirst()
        .orElseThrow(() -> new IllegalStateException("node " + name + " is not in the graph"));
  }

  private static String input(NodeProto node, int position) {
    return node.getInputCount() > position && !node.getInput(position).isEmpty()
        ? node.getInput(position)
        : null;
  }

  /** ONNX Runtime's mask_filter_value: added where a 2-D key padding mask is 0. */
  private NDArray keyPadding(String tensor, double filter) {
    NDArray raw = tensor(tensor, true);
    if (raw.getShape().dimension() != 2) {
      throw new NotVerifiable(
          "a key padding mask of shape " + raw.getShape() + " (only (B, T) is recomputed)");
    }
    NDArray keep = raw.toType(DataType.INT32, false).gt(0);
    NDArray additive =
        select(keep, manager.full(new Shape(), (float) filter, DataType.FLOAT32), true);
    return additive.reshape(raw.getShape().get(0), 1, 1, raw.getShape().get(1)); // (B, 1, 1, T)
  }

  /**
   * com.microsoft.MultiHeadAttention with separate 3-D query, key and value, an optional bias added
   * to each, a (B, T) key padding mask (mask_filter_value where 0), an attention_bias and
   * unidirectional for causal.
   */
  private Core microsoftMultiHead() {
    NodeProto node = node();
    if (input(node, 6) != null || input(node, 7) != null) {
      throw new NotVerifiable("MultiHeadAttention with past_key/past_value is not recomputed");
    }
    if (site.key() == null || site.value() == null || site.heads() == null) {
      throw new NotVerifiable("MultiHeadAttention with packed QKV in the query is not recomputed");
    }
    NDArray q = tensor(site.query(), false);
    NDArray k = tensor(site.key(), false);
    NDArray v = tensor(site.value(), false);
    if (q.getShape().dimension() != 3 || k.getShape().dimension() != 3) {
      throw new NotVerifiable("MultiHeadAttention with 4-D key and value is not recomputed");
    }
    String bias = input(node, 3);
    if (bias != null) {
      NDArray b = tensor(bias, false);
      long dq = q.getShape().get(2);
      long dk = k.getShape().get(2);
      q = q.add(b.get("0:{}", dq));
      k = k.add(b.get("{}:{}", dq, dq + dk));
      v = v.add(b.get("{}:", dq + dk));
    }
    int heads = site.heads();
    double filter = ModelGraph.floatAttribute(node, "mask_filter_value").orElse(-10000.0);
    NDArray mask = null;
    if (input(node, 4) != null) {
      mask = keyPadding(input(node, 4), filter);
    }
    if (input(node, 5) != null) {
      NDArray attentionBias = toRank4(tensor(input(node, 5), false));
      mask = mask == null ? attentionBias : mask.add(attentionBias);
    }
    return fusedCore(heads(q, heads), heads(k, heads), heads(v, heads), mask, site.causal());
  }

  /**
   * com.microsoft.Attention: the packed projection of the captured input, computed here in float32
   * (the reference then starts from the same float32 Q, K, V), a (B, T) mask_index, an
   * attention_bias, unidirectional for causal.
   */
  private Core microsoftAttention() {
    NodeProto node = node();
    if (input(node, 4) != null || input(node, 6) != null) {
      throw new NotVerifiable("Attention with a past state is not recomputed");
    }
    if (ModelGraph.intAttribute(node, "do_rotary", 0) != 0) {
      throw new NotVerifiable("Attention with do_rotary=1 is not recomputed");
    }
    if (site.queryProjection() == null || site.heads() == null) {
      throw new NotVerifiable("the packed weights of the Attention node were not read");
    }
    NDArray x = tensor(site.input(), false); // (B, S, E)
    NDArray[] qkv = new NDArray[3];
    Projection[] parts = {site.queryProjection(), site.keyProjection(), site.valueProjection()};
    for (int i = 0; i < 3; i++) {
      LinearWeights w = LinearWeights.of(parts[i], graph);
      NDArray weight = manager.create(floats(w.weight()), new Shape(w.out(), w.in()));
      NDArray projected = x.matMul(weight.transpose()); // (B, S, out)
      if (w.bias() != null) {
        projected = projected.add(manager.create(floats(w.bias()), new Shape(w.out())));
      }
      qkv[i] = projected;
    }
    double filter = ModelGraph.floatAttribute(node, "mask_filter_value").orElse(-10000.0);
    NDArray mask = input(node, 3) == null ? null : keyPadding(input(node, 3), filter);
    if (input(node, 5) != null) {
      NDArray attentionBias = toRank4(tensor(input(node, 5), false));
      mask = mask == null ? attentionBias : mask.add(attentionBias);
    }
    int heads = site.heads();
    return fusedCore(
        heads(qkv[0], heads), heads(qkv[1], heads), heads(qkv[2], heads), mask, site.causal());
  }

  /**
   * com.microsoft.GroupQueryAttention without a past state or rotary embedding: causal, and every
   * batch element must use all S keys (seqlens_k = S − 1).
   */
  private Core microsoftGroupQuery() {
    NodeProto node = node();
    if (input(node, 3) != null || input(node, 4) != null) {
      throw new NotVerifiable("GroupQueryAttention with a past state is not recomputed");
    }
    if (ModelGraph.intAttribute(node, "do_rotary", 0) != 0
        || ModelGraph.intAttribute(node, "local_window_size", -1) >= 0
        || ModelGraph.intAttribute(node, "smooth_softmax", 0) != 0) {
      throw new NotVerifiable(
          "GroupQueryAttention with do_rotary, local_window_size or smooth_softmax is not"
              + " recomputed");
    }
    if (site.key() == null || site.heads() == null || site.kvHeads() == null) {
      throw new NotVerifiable("GroupQueryAttention with packed QKV is not recomputed");
    }
    NDArray q = tensor(site.query(), false);
    NDArray k = tensor(site.key(), false);
    NDArray v = tensor(site.value(), false);
    long length = q.getShape().get(1);
    NDArray seqlens = tensor(input(node, 5), true).toType(DataType.INT64, false);
    for (long value : seqlens.toLongArray()) {
      if (value != length - 1) {
        throw new NotVerifiable(
            "GroupQueryAttention with seqlens_k " + value + " for " + length + " tokens (padding)");
      }
    }
    return fusedCore(
        heads(q, site.heads()), heads(k, site.kvHeads()), heads(v, site.kvHeads()), null, true);
  }

  /** A fused operator's core: its output (B, S, H·Dv) back to (B, H, S, Dv), no weights. */
  private Core fusedCore(NDArray query, NDArray key, NDArray value, NDArray mask, boolean causal) {
    long batch = query.getShape().get(0);
    long heads = query.getShape().get(1);
    long length = query.getShape().get(2);
    long valueSize = value.getShape().get(3);
    NDArray y = tensor(site.output(), false);
    NDArray ortOutput = y.reshape(batch, length, heads, valueSize).transpose(0, 2, 1, 3);
    double scale =
        site.scale() != null && site.scale() != 0
            ? site.scale()
            : 1.0 / Math.sqrt(query.getShape().get(3));
    return new Core(query, key, value, mask, scale, site.softcap(), causal, ortOutput, null);
  }

  private static float[] floats(double[] values) {
    float[] out = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = (float) values[i];
    }
    return out;
  }

  private Core writtenOut() {
    NDArray weights = tensor(site.weights(), false);
    NDArray output = tensor(site.output(), false);
    NDArray kT = tensor(site.key(), false);
    NDArray q = tensor(site.query(), false);
    NDArray v = tensor(site.value(), false);
    // (B, H, S, T) from the softmax output; the heads from the graph where it fixes them.
    long[] p = weights.getShape().getShape();
    if (p.length < 3) {
      throw new NotVerifiable("the softmax output " + weights.getShape() + " is not per head");
    }
    long keyLength = p[p.length - 1];
    long headSize = q.getShape().get(q.getShape().dimension() - 1);
    long valueSize = v.getShape().get(v.getShape().dimension() - 1);
    long heads;
    long batch;
    if (p.length == 4) {
      batch = p[0];
      heads = site.heads() != null ? site.heads() : p[1];
    } else {
      if (site.heads() == null) {
        throw new NotVerifiable(
            "3-D scores " + weights.getShape() + " and no head count in the graph");
      }
      heads = site.heads();
      batch = p[0] / heads;
    }
    long queryLength = weights.size() / (batch * heads * keyLength);
    if (batch * heads * queryLength * keyLength != weights.size()) {
      throw new NotVerifiable(
          "the softmax output " + weights.getShape() + " does not split into " + heads + " heads");
    }
    NDArray query = q.reshape(batch, heads, queryLength, headSize); // (B, H, S, D)
    NDArray key = rank4(kT.swapAxes(-1, -2), batch, keyLength, headSize, "key"); // (B, G, T, D)
    NDArray value = rank4(v, batch, keyLength, valueSize, "value"); // (B, G, T, Dv)
    NDArray ortWeights = weights.reshape(batch, heads, queryLength, keyLength); // (B, H, S, T)
    NDArray ortOutput = output.reshape(batch, heads, queryLength, valueSize); // (B, H, S, Dv)
    NDArray mask = null;
    for (SiteMask m : site.masks()) {
      NDArray additive = additive(m);
      mask = mask == null ? additive : mask.add(additive);
    }
    if (mask != null) {
      mask = toRank4(mask);
      checkBroadcast(mask, new Shape(batch, heads, queryLength, keyLength));
    }
    double scale = 1;
    for (AttentionSite.ScaleStep step : site.scaleSteps()) {
      double factor = step.constant() != null ? step.constant() : scalar(step.tensor());
      scale = step.divide() ? scale / factor : scale * factor;
    }
    return new Core(query, key, value, mask, scale, site.softcap(), false, ortOutput, ortWeights);
  }

  private Core onnxAttention() {
    if (site.notes().stream().anyMatch(n -> n.contains("past_key") || n.contains("nonpad"))) {
      throw new NotVerifiable("Attention with a KV cache or valid key counts is not recomputed");
    }
    NDArray q = tensor(site.query(), false);
    NDArray k = tensor(site.key(), false);
    NDArray v = tensor(site.value(), false);
    NDArray y = tensor(site.output(), false);
    int rank = q.getShape().dimension();
    NDArray query;
    NDArray key;
    NDArray value;
    if (rank == 3) {
      if (site.heads() == null || site.kvHeads() == null) {
        throw new NotVerifiable("3-D Attention inputs without q_num_heads and kv_num_heads");
      }
      query = heads(q, site.heads()); // (B, H, S, D)
      key = heads(k, site.kvHeads()); // (B, G, T, D)
      value = heads(v, site.kvHeads()); // (B, G, T, Dv)
    } else {
      query = q;
      key = k;
      value = v;
    }
    long batch = query.getShape().get(0);
    long h = query.getShape().get(1);
    long s = query.getShape().get(2);
    long t = key.getShape().get(2);
    long dv = value.getShape().get(3);
    NDArray ortOutput =
        rank == 3 ? y.reshape(batch, s, h, dv).transpose(0, 2, 1, 3) : y; // (B, H, S, Dv)
    NDArray ortWeights =
        site.weights() == null ? null : tensor(site.weights(), false).reshape(batch, h, s, t);
    NDArray mask = null;
    for (SiteMask m : site.masks()) {
      NDArray raw = tensor(m.tensor(), true);
      NDArray additive =
          raw.getDataType() == DataType.BOOLEAN
              ? select(
                  raw, manager.full(new Shape(), Float.NEGATIVE_INFINITY, DataType.FLOAT32), true)
              : raw.toType(DataType.FLOAT32, false);
      // The operator pads a mask shorter than T with hidden keys.
      long maskLength = additive.getShape().get(additive.getShape().dimension() - 1);
      if (maskLength < t) {
        throw new NotVerifiable(
            "an attn_mask shorter than the keys (" + maskLength + " < " + t + ")");
      }
      mask = toRank4(additive);
    }
    double scale = site.scale() != null ? site.scale() : 1.0 / Math.sqrt(query.getShape().get(3));
    return new Core(
        query, key, value, mask, scale, site.softcap(), site.causal(), ortOutput, ortWeights);
  }

  /** (B, L, N·D) as (B, N, L, D). */
  private static NDArray heads(NDArray x, int count) {
    long b = x.getShape().get(0);
    long l = x.getShape().get(1);
    long width = x.getShape().get(2);
    return x.reshape(b, l, count, width / count).transpose(0, 2, 1, 3);
  }

  /** (B, G, L, D), (B·G, L, D) or (L, D) as (B, G, L, D). */
  private NDArray rank4(NDArray x, long batch, long length, long width, String what) {
    int rank = x.getShape().dimension();
    if (rank == 4) {
      return x;
    }
    long groups = x.size() / (batch * length * width);
    if (groups * batch * length * width != x.size()) {
      throw new NotVerifiable("the " + what + " " + x.getShape() + " does not split per head");
    }
    return x.reshape(batch, groups, length, width);
  }

  /** A mask as an additive float tensor: 0 where a key takes part, the fill where it does not. */
  private NDArray additive(SiteMask mask) {
    if (mask instanceof SiteMask.Additive a) {
      return tensor(a.tensor(), false);
    }
    if (mask instanceof SiteMask.Select s) {
      NDArray condition = tensor(s.tensor(), true);
      if (condition.getDataType() != DataType.BOOLEAN) {
        condition = condition.toType(DataType.BOOLEAN, false);
      }
      NDArray fill = tensor(s.fill(), false);
      return select(condition, fill, s.keepWhere());
    }
    throw new NotVerifiable("a " + ((SiteMask.OperatorInput) mask).role() + " mask input");
  }

  /**
   * An additive mask from a condition: 0 where the key is kept, the fill elsewhere; {@code
   * keepWhere} says whether true keeps. Condition and fill broadcast against each other.
   */
  private NDArray select(NDArray condition, NDArray fill, boolean keepWhere) {
    Shape shape = broadcast(condition.getShape(), fill.getShape());
    NDArray c = condition.broadcast(shape);
    NDArray f = fill.broadcast(shape);
    NDArray zero = manager.zeros(shape, DataType.FLOAT32);
    return keepWhere ? NDArrays.where(c, zero, f) : NDArrays.where(c, f, zero);
  }

  /** The NumPy broadcast of two shapes. */
  private static Shape broadcast(Shape a, Shape b) {
    int rank = Math.max(a.dimension(), b.dimension());
    long[] dims = new long[rank];
    for (int i = 0; i < rank; i++) {
      long x = i < rank - a.dimension() ? 1 : a.get(i - (rank - a.dimension()));
      long y = i < rank - b.dimension() ? 1 : b.get(i - (rank - b.dimension()));
      if (x != y && x != 1 && y != 1) {
        throw new NotVerifiable("mask shapes " + a + " and " + b + " do not broadcast");
      }
      dims[i] = Math.max(x, y);
    }
    return new Shape(dims);
  }

  private static NDArray toRank4(NDArray mask) {
    Shape shape = mask.getShape();
    if (shape.dimension() > 4) {
      throw new NotVerifiable("a mask of rank " + shape.dimension());
    }
    long[] dims = new long[4];
    java.util.Arrays.fill(dims, 1);
    for (int i = 0; i < shape.dimension(); i++) {
      dims[4 - shape.dimension() + i] = shape.get(i);
    }
    return mask.reshape(dims);
  }

  private static void checkBroadcast(NDArray mask, Shape target) {
    for (int i = 0; i < 4; i++) {
      long d = mask.getShape().get(i);
      if (d != 1 && d != target.get(i)) {
        throw new NotVerifiable(
            "the mask " + mask.getShape() + " does not broadcast to the scores " + target);
      }
    }
  }

  private double scalar(String tensor) {
    NDArray value = tensor(tensor, false);
    if (value.size() != 1) {
      throw new NotVerifiable("scale factor " + tensor + " has shape " + value.getShape());
    }
    return value.toType(DataType.FLOAT64, false).getDouble(new long[value.getShape().dimension()]);
  }

  /**
   * The sublayer, when the site's projections are known.
   *
   * @return the sublayer, or empty when a projection is missing
   * @throws NotVerifiable when a projection is of a kind the check cannot feed the block
   */
  Optional<Sublayer> sublayer() {
    Projection q = site.queryProjection();
    Projection k = site.keyProjection();
    Projection v = site.valueProjection();
    if (q == null || k == null || v == null) {
      return Optional.empty();
    }
    if (site.form() == AttentionSite.Form.MS_MULTI_HEAD_ATTENTION && input(node(), 3) != null) {
      throw new NotVerifiable(
          "the operator adds its own bias to Q, K and V, which the block does not");
    }
    StringBuilder inputs = new StringBuilder();
    NDArray queryInput = projectionInput(q, inputs);
    NDArray keyInput = projectionInput(k, inputs);
    NDArray valueInput = projectionInput(v, inputs);
    Projection o = site.outputProjection();
    LinearWeights output = null;
    String ortTensor;
    if (o instanceof Projection.FloatWeights) {
      output = LinearWeights.of(o, graph);
      ortTensor = site.sublayerOutput();
    } else if (site.merged() != null) {
      ortTensor = site.merged();
      inputs.append(
          o == null
              ? "; no output projection found: compared at the merged heads"
              : "; the output projection quantizes its input ("
                  + o.kind()
                  + "), which the block does not: compared at the merged heads before it");
    } else {
      return Optional.empty();
    }
    return Optional.of(
        new Sublayer(
            queryInput,
            keyInput,
            valueInput,
            LinearWeights.of(q, graph),
            LinearWeights.of(k, graph),
            LinearWeights.of(v, graph),
            output,
            tensor(ortTensor, false),
            ortTensor,
            inputs.toString()));
  }

  /**
   * A projection's float input: the tensor itself for float weights; for a dynamically quantized
   * one, the quantized input dequantized, {@code (x_q − x_zero_point) · x_scale}, so that the
   * block's float product equals ONNX Runtime's integer one up to float rounding.
   */
  private NDArray projectionInput(Projection projection, StringBuilder inputs) {
    if (projection instanceof Projection.FloatWeights) {
      note(inputs, "float inputs as captured");
      return tensor(projection.input(), false);
    }
    String quantized;
    String scale;
    String zeroPoint;
    if (projection instanceof Projection.DynamicQuantized d) {
      quantized = d.quantizedInput();
      scale = d.inputScale();
      zeroPoint = d.inputZeroPoint();
    } else {
      Projection.QLinear l = (Projection.QLinear) projection;
      throw new NotVerifiable(
          "QLinearMatMul projections ("
              + l.weight()
              + ") requantize their output; the block does not");
    }
    note(
        inputs,
        "quantized inputs dequantized from the captured DynamicQuantizeLinear outputs, weights"
            + " dequantized per column");
    NDArray q = tensor(quantized, true).toType(DataType.FLOAT32, false);
    NDArray z = tensor(zeroPoint, true).toType(DataType.FLOAT32, false);
    NDArray s = tensor(scale, false);
    return q.sub(z).mul(s);
  }

  private static void note(StringBuilder inputs, String text) {
    if (inputs.indexOf(text) < 0) {
      if (inputs.length() > 0) {
        inputs.append("; ");
      }
      inputs.append(text);
    }
  }

  /** A site (or part of one) that this check cannot recompute; the message says why. */
  static final class NotVerifiable extends RuntimeException {
    private static final long serialVersionUID = 1L;

    NotVerifiable(String message) {
      super(message);
    }
  }
}
