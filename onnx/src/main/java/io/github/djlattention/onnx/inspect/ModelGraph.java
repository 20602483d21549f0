package io.github.djlattention.onnx.inspect;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A read-only index over a model's main graph: who produces and who consumes each tensor, the
 * initializers and {@code Constant} values, the graph's inputs and outputs, and the opset of each
 * domain. The graph analysis of this package walks the graph through it.
 */
public final class ModelGraph {

  /** The domain of ONNX Runtime's contrib operators. */
  public static final String MICROSOFT_DOMAIN = "com.microsoft";

  private final ModelProto model;
  private final List<NodeProto> nodes;
  private final Map<String, NodeProto> producers = new HashMap<>();
  private final Map<String, List<NodeProto>> consumers = new HashMap<>();
  private final Map<String, TensorProto> initializers = new LinkedHashMap<>();
  private final Map<String, TensorProto> constants = new HashMap<>();
  private final Set<String> inputs = new LinkedHashSet<>();
  private final Set<String> outputs = new LinkedHashSet<>();
  private final Map<String, Long> opsets = new HashMap<>();
  private final Map<String, ValueInfoProto> valueInfos = new HashMap<>();

  /**
   * Indexes a model.
   *
   * @param model the model
   * @throws IllegalArgumentException if the model has no graph
   */
  public ModelGraph(ModelProto model) {
    if (!model.hasGraph()) {
      throw new IllegalArgumentException("the model has no graph");
    }
    this.model = model;
    GraphProto graph = model.getGraph();
    this.nodes = List.copyOf(graph.getNodeList());
    for (TensorProto initializer : graph.getInitializerList()) {
      initializers.put(initializer.getName(), initializer);
    }
    for (ValueInfoProto input : graph.getInputList()) {
      if (!initializers.containsKey(input.getName())) {
        inputs.add(input.getName());
      }
      valueInfos.put(input.getName(), input);
    }
    for (ValueInfoProto output : graph.getOutputList()) {
      outputs.add(output.getName());
      valueInfos.put(output.getName(), output);
    }
    for (ValueInfoProto info : graph.getValueInfoList()) {
      valueInfos.putIfAbsent(info.getName(), info);
    }
    for (NodeProto node : nodes) {
      for (String output : node.getOutputList()) {
        if (!output.isEmpty()) {
          producers.put(output, node);
        }
      }
      for (String input : node.getInputList()) {
        if (!input.isEmpty()) {
          consumers.computeIfAbsent(input, k -> new ArrayList<>()).add(node);
        }
      }
      if (node.getOpType().equals("Constant") && node.getOutputCount() == 1) {
        attribute(node, "value")
            .filter(AttributeProto::hasT)
            .ifPresent(a -> constants.put(node.getOutput(0), a.getT()));
      }
    }
    for (OperatorSetIdProto opset : model.getOpsetImportList()) {
      String domain = opset.getDomain().equals("ai.onnx") ? "" : opset.getDomain();
      opsets.put(domain, opset.getVersion());
    }
  }

  /** The model this graph belongs to. */
  public ModelProto model() {
    return model;
  }

  /** The graph's nodes in file order. */
  public List<NodeProto> nodes() {
    return nodes;
  }

  /** The graph inputs that are not initializers, in graph order. */
  public Set<String> inputs() {
    return Collections.unmodifiableSet(inputs);
  }

  /** The graph outputs, in graph order. */
  public Set<String> outputs() {
    return Collections.unmodifiableSet(outputs);
  }

  /**
   * The opset a domain is imported at.
   *
   * @param domain {@code ""} for the default domain, or e.g. {@link #MICROSOFT_DOMAIN}
   * @return the version, or 0 when the model does not import the domain
   */
  public long opset(String domain) {
    return opsets.getOrDefault(domain.equals("ai.onnx") ? "" : domain, 0L);
  }

  /**
   * The node that produces a tensor.
   *
   * @param tensor the tensor's name
   * @return the node, empty for graph inputs, initializers and unknown names
   */
  public Optional<NodeProto> producer(String tensor) {
    return Optional.ofNullable(producers.get(tensor));
  }

  /**
   * The node that produces a tensor, if it has the given operator type in the default domain.
   *
   * @param tensor the tensor's name
   * @param opType e.g. {@code MatMul}
   * @return the node, or empty
   */
  public Optional<NodeProto> producer(String tensor, String opType) {
    return producer(tensor).filter(n -> isOp(n, opType));
  }

  /**
   * The nodes that read a tensor.
   *
   * @param tensor the tensor's name
   * @return the nodes in file order, possibly empty
   */
  public List<NodeProto> consumers(String tensor) {
    return consumers.getOrDefault(tensor, List.of());
  }

  /**
   * The value of an initializer or of a {@code Constant} node's output.
   *
   * @param tensor the tensor's name
   * @return the value, empty when the tensor is computed or unknown
   */
  public Optional<TensorProto> constant(String tensor) {
    TensorProto value = initializers.get(tensor);
    return Optional.ofNullable(value != null ? value : constants.get(tensor));
  }

  /**
   * Whether a tensor is an initializer (not a {@code Constant} node's output).
   *
   * @param tensor the tensor's name
   * @return true for initializers
   */
  public boolean isInitializer(String tensor) {
    return initializers.containsKey(tensor);
  }

  /**
   * Whether a tensor is a graph input that is not an initializer.
   *
   * @param tensor the tensor's name
   * @return true for graph inputs
   */
  public boolean isInput(String tensor) {
    return inputs.contains(tensor);
  }

  /**
   * A tensor's declared element type, when the graph's inputs, outputs or value infos give it.
   *
   * @param tensor the tensor's name
   * @return the ONNX element type, or 0 when unknown
   */
  public int elementType(String tensor) {
    TensorProto value = constant(tensor).orElse(null);
    if (value != null) {
      return value.getDataType();
    }
    ValueInfoProto info = valueInfos.get(tensor);
    return info != null && info.getType().hasTensorType()
        ? info.getType().getTensorType().getElemType()
        : 0;
  }

  /**
   * Whether any tensor of the model keeps its data in an external file.
   *
   * @return true when an initializer or constant uses external data
   */
  public boolean usesExternalData() {
    return initializers.values().stream().anyMatch(ModelGraph::external)
        || constants.values().stream().anyMatch(ModelGraph::external);
  }

  private static boolean external(TensorProto tensor) {
    return tensor.getDataLocation() == TensorProto.DataLocation.EXTERNAL
        || tensor.getExternalDataCount() > 0;
  }

  /**
   * Whether a node is the given operator of the default domain.
   *
   * @param node the node
   * @param opType e.g. {@code Softmax}
   * @return true when it is
   */
  public static boolean isOp(NodeProto node, String opType) {
    String domain = node.getDomain();
    return node.getOpType().equals(opType) && (domain.isEmpty() || domain.equals("ai.onnx"));
  }

  /**
   * A node's attribute.
   *
   * @param node the node
   * @param name the attribute's name
   * @return the attribute, or empty
   */
  public static Optional<AttributeProto> attribute(NodeProto node, String name) {
    return node.getAttributeList().stream().filter(a -> a.getName().equals(name)).findFirst();
  }

  /**
   * A node's integer attribute.
   *
   * @param node the node
   * @param name the attribute's name
   * @param fallback the value when the attribute is absent
   * @return the value
   */
  public static long intAttribute(NodeProto node, String name, long fallback) {
    return attribute(node, name).map(AttributeProto::getI).orElse(fallback);
  }

  /**
   * A node's float attribute.
   *
   * @param node the node
   * @param name the attribute's name
   * @return the value, or empty when absent
   */
  public static Optional<Double> floatAttribute(NodeProto node, String name) {
    return attribute(node, name).map(a -> (double) a.getF());
  }

  /**
   * A node's integer-list attribute.
   *
   * @param node the node
   * @param name the attribute's name
   * @return the values, or empty when absent
   */
  public static Optional<long[]> intsAttribute(NodeProto node, String name) {
    return attribute(node, name)
        .map(a -> a.getIntsList().stream().mapToLong(Long::longValue).toArray());
  }

  /**
   * A node's name for messages: its name, else its operator and first output.
   *
   * @param node the node
   * @return the name
   */
  public static String nameOf(NodeProto node) {
    return node.getName().isEmpty()
        ? node.getOpType() + "(" + (node.getOutputCount() > 0 ? node.getOutput(0) : "") + ")"
        : node.getName();
  }
}
