package io.github.djlattention.verify;

import ai.onnx.proto.OnnxMl.TensorProto;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.djlattention.onnx.inspect.AttentionSite;
import io.github.djlattention.onnx.inspect.ConstantValues;
import io.github.djlattention.onnx.inspect.ModelGraph;
import io.github.djlattention.onnx.inspect.Projection;
import io.github.djlattention.onnx.inspect.SiteMask;
import java.util.Optional;

/** Attention sites as JSON objects: what {@code inspect --json} writes, per site. */
public final class SiteJson {

  private static final ObjectMapper MAPPER = new ObjectMapper();

  private SiteJson() {}

  /**
   * One site.
   *
   * @param site the site
   * @param graph the model's graph, for the weights' shapes and types; null to leave them out
   * @return the JSON object
   */
  public static ObjectNode site(AttentionSite site, ModelGraph graph) {
    ObjectNode node = MAPPER.createObjectNode();
    node.put("index", site.index());
    node.put("layer", site.layer());
    node.put("form", site.form().label());
    ArrayNode nodes = node.putArray("nodes");
    site.nodes().forEach(nodes::add);
    ObjectNode tensors = node.putObject("tensors");
    putNullable(tensors, "input", site.input());
    putNullable(tensors, "query", site.query());
    putNullable(tensors, "key", site.key());
    tensors.put(
        "keyLayout",
        site.form() == AttentionSite.Form.WRITTEN_OUT ? "transposed (..., D, T)" : "operator");
    putNullable(tensors, "value", site.value());
    putNullable(tensors, "weights", site.weights());
    putNullable(tensors, "output", site.output());
    putNullable(tensors, "merged", site.merged());
    putNullable(tensors, "sublayerOutput", site.sublayerOutput());
    putNullable(node, "heads", site.heads());
    putNullable(node, "kvHeads", site.kvHeads());
    putNullable(node, "headSize", site.headSize());
    if (site.scale() == null) {
      node.putNull("scale");
    } else {
      node.put("scale", site.scale());
    }
    node.put("scaleSource", site.scaleDescription());
    if (site.softcap() == null) {
      node.putNull("softcap");
    } else {
      node.put("softcap", site.softcap());
    }
    node.put("causal", site.causal());
    ArrayNode masks = node.putArray("masks");
    for (SiteMask mask : site.masks()) {
      ObjectNode m = masks.addObject();
      m.put("tensor", mask.tensor());
      if (mask instanceof SiteMask.Additive) {
        m.put("kind", "additive");
      } else if (mask instanceof SiteMask.Select s) {
        m.put("kind", "select");
        m.put("fill", s.fill());
        m.put("keepWhere", s.keepWhere());
      } else {
        m.put("kind", "operator input");
        m.put("role", ((SiteMask.OperatorInput) mask).role());
      }
      m.put("source", mask.source());
      m.put("causal", mask.causal());
    }
    ObjectNode projections = node.putObject("projections");
    projection(projections, "query", site.queryProjection(), graph);
    projection(projections, "key", site.keyProjection(), graph);
    projection(projections, "value", site.valueProjection(), graph);
    projection(projections, "output", site.outputProjection(), graph);
    ArrayNode notes = node.putArray("notes");
    site.notes().forEach(notes::add);
    return node;
  }

  private static void projection(ObjectNode parent, String name, Projection p, ModelGraph graph) {
    if (p == null) {
      parent.putNull(name);
      return;
    }
    ObjectNode node = parent.putObject(name);
    node.put("kind", p.kind());
    node.put("input", p.input());
    putNullable(node, "output", p.output().isEmpty() ? null : p.output());
    node.put("weight", p.weight());
    node.put("weightShape", shape(graph, p.weight()));
    node.put("weightType", type(graph, p.weight()));
    putNullable(node, "bias", p.bias());
    node.put("columnStart", p.columnStart());
    node.put("columnEnd", p.columnEnd());
    if (p instanceof Projection.FloatWeights f) {
      node.put("weightTransposed", f.transposed());
    } else if (p instanceof Projection.DynamicQuantized d) {
      node.put("quantizedInput", d.quantizedInput());
      node.put("inputScale", d.inputScale());
      node.put("inputZeroPoint", d.inputZeroPoint());
      node.put("weightScale", d.weightScale());
      node.put("weightScaleShape", shape(graph, d.weightScale()));
      putNullable(node, "weightZeroPoint", d.weightZeroPoint());
    } else if (p instanceof Projection.QLinear q) {
      node.put("quantizedInput", q.quantizedInput());
      node.put("inputScale", q.inputScale());
      putNullable(node, "inputZeroPoint", q.inputZeroPoint());
      node.put("weightScale", q.weightScale());
      putNullable(node, "weightZeroPoint", q.weightZeroPoint());
      node.put("outputScale", q.outputScale());
      putNullable(node, "outputZeroPoint", q.outputZeroPoint());
    }
  }

  /** An initializer's dims as text, e.g. {@code 384x384}, or {@code ?}. */
  static String shape(ModelGraph graph, String tensor) {
    if (graph == null) {
      return "?";
    }
    Optional<TensorProto> value = graph.constant(tensor);
    if (value.isEmpty()) {
      return "?";
    }
    long[] dims = ConstantValues.dims(value.get());
    if (dims.length == 0) {
      return "scalar";
    }
    StringBuilder text = new StringBuilder();
    for (long d : dims) {
      if (text.length() > 0) {
        text.append('x');
      }
      text.append(d);
    }
    return text.toString();
  }

  /** An initializer's element type, e.g. {@code float32}, {@code int8}. */
  static String type(ModelGraph graph, String tensor) {
    if (graph == null) {
      return "?";
    }
    return graph
        .constant(tensor)
        .map(t -> TensorProto.DataType.forNumber(t.getDataType()))
        .map(t -> t == null ? "?" : typeName(t))
        .orElse("?");
  }

  private static String typeName(TensorProto.DataType type) {
    switch (type) {
      case FLOAT:
        return "float32";
      case DOUBLE:
        return "float64";
      case FLOAT16:
        return "float16";
      default:
        return type.name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  private static void putNullable(ObjectNode node, String name, String value) {
    if (value == null) {
      node.putNull(name);
    } else {
      node.put(name, value);
    }
  }

  private static void putNullable(ObjectNode node, String name, Integer value) {
    if (value == null) {
      node.putNull(name);
    } else {
      node.put(name, value);
    }
  }
}
