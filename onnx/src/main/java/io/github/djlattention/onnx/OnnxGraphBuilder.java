package io.github.djlattention.onnx;

import ai.djl.ndarray.NDArray;
import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds one ONNX graph and owns its names: every value (input, initializer, node output) gets a
 * name no other value has, and every node a unique node name.
 *
 * <p>Values are referred to by the names this builder hands out: {@link #fresh(String)} makes a new
 * unique name from a hint ({@code scores}, {@code scores_1}, ...); {@link #reserve(String)} claims
 * an exact name, such as a graph output's, and fails if it is taken. Nodes, initializers, inputs
 * and outputs are added in order; {@link #build} wraps the graph in a model stamped with the
 * versions of {@link OnnxConstants}.
 *
 * <p>Dimensions of inputs and outputs are given as {@link Long} (fixed) or {@link String}
 * (symbolic, e.g. {@code "batch"}).
 */
public final class OnnxGraphBuilder {

  private final String graphName;
  private final int opset;
  private final GraphProto.Builder graph = GraphProto.newBuilder();
  private final Set<String> values = new HashSet<>();
  private final Map<String, Integer> nodeCounts = new HashMap<>();

  /**
   * Starts an empty graph.
   *
   * @param graphName the graph's name
   * @param opset the default-domain opset the graph's nodes follow; picks its IR version
   * @throws IllegalArgumentException if the opset is not one {@link OnnxConstants} knows
   */
  public OnnxGraphBuilder(String graphName, int opset) {
    OnnxConstants.irVersion(opset);
    this.graphName = graphName;
    this.opset = opset;
  }

  /** The opset the graph's nodes follow. */
  public int opset() {
    return opset;
  }

  /**
   * Returns a new value name made from {@code hint}: the hint itself if unused, else {@code
   * hint_1}, {@code hint_2}, ...
   *
   * @param hint the preferred name
   * @return a name no other value has
   */
  public String fresh(String hint) {
    String name = hint;
    for (int n = 1; values.contains(name); n++) {
      name = hint + "_" + n;
    }
    values.add(name);
    return name;
  }

  /**
   * Claims an exact value name.
   *
   * @param name the name
   * @return {@code name}
   * @throws IllegalStateException if the name is taken
   */
  public String reserve(String name) {
    if (!values.add(name)) {
      throw new IllegalStateException("value name '" + name + "' is already taken");
    }
    return name;
  }

  /**
   * Declares a graph input with an exact name.
   *
   * @param name the input name
   * @param elementType the ONNX element type, e.g. {@code TensorProto.DataType.FLOAT_VALUE}
   * @param dims each a {@link Long} or a symbolic {@link String}
   * @return {@code name}
   */
  public String input(String name, int elementType, Object... dims) {
    graph.addInput(valueInfo(reserve(name), elementType, dims));
    return name;
  }

  /**
   * Declares a graph output; {@code name} must be a value some node produces.
   *
   * @param name the value to expose
   * @param elementType the ONNX element type
   * @param dims each a {@link Long} or a symbolic {@link String}
   */
  public void output(String name, int elementType, Object... dims) {
    if (!values.contains(name)) {
      throw new IllegalStateException("no value named '" + name + "' to expose as an output");
    }
    graph.addOutput(valueInfo(name, elementType, dims));
  }

  /**
   * Adds an initializer holding a copy of {@code array}.
   *
   * @param hint the preferred name, e.g. a parameter name
   * @param array the value
   * @return the initializer's name
   */
  public String initializer(String hint, NDArray array) {
    String name = fresh(hint);
    graph.addInitializer(OnnxTensors.toTensorProto(name, array));
    return name;
  }

  /**
   * Adds a float32 scalar initializer.
   *
   * @param hint the preferred name
   * @param value the value
   * @return the initializer's name
   */
  public String scalar(String hint, float value) {
    String name = fresh(hint);
    ByteBuffer data = ByteBuffer.allocate(Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    data.putFloat(value).flip();
    graph.addInitializer(
        TensorProto.newBuilder()
            .setName(name)
            .setDataType(TensorProto.DataType.FLOAT_VALUE)
            .setRawData(ByteString.copyFrom(data)));
    return name;
  }

  /**
   * Adds an int64 initializer: a scalar when {@code scalar} is true (one value), else a vector.
   *
   * @param hint the preferred name
   * @param scalar whether the tensor is rank 0
   * @param values the values
   * @return the initializer's name
   */
  public String longs(String hint, boolean scalar, long... values) {
    if (scalar && values.length != 1) {
      throw new IllegalArgumentException(
          "a scalar holds one value, got " + Arrays.toString(values));
    }
    String name = fresh(hint);
    ByteBuffer data =
        ByteBuffer.allocate(Long.BYTES * values.length).order(ByteOrder.LITTLE_ENDIAN);
    for (long value : values) {
      data.putLong(value);
    }
    data.flip();
    TensorProto.Builder tensor =
        TensorProto.newBuilder()
            .setName(name)
            .setDataType(TensorProto.DataType.INT64_VALUE)
            .setRawData(ByteString.copyFrom(data));
    if (!scalar) {
      tensor.addDims(values.length);
    }
    graph.addInitializer(tensor);
    return name;
  }

  /**
   * Adds a node with one output, named from {@code hint}.
   *
   * @param opType the operator, e.g. {@code MatMul}
   * @param hint the preferred output name
   * @param inputs the input value names; an empty string skips an optional input
   * @param attributes the node's attributes
   * @return the output's name
   */
  public String node(
      String opType, String hint, List<String> inputs, AttributeProto... attributes) {
    String output = fresh(hint);
    node(opType, inputs, List.of(output), attributes);
    return output;
  }

  /**
   * Adds a node whose outputs are already named (by {@link #fresh} or {@link #reserve}); an empty
   * string skips an optional output.
   *
   * @param opType the operator
   * @param inputs the input value names
   * @param outputs the output value names
   * @param attributes the node's attributes
   */
  public void node(
      String opType, List<String> inputs, List<String> outputs, AttributeProto... attributes) {
    for (String input : inputs) {
      if (!input.isEmpty() && !values.contains(input)) {
        throw new IllegalStateException(opType + " reads '" + input + "', which no one produces");
      }
    }
    int count = nodeCounts.merge(opType, 1, Integer::sum);
    graph.addNode(
        NodeProto.newBuilder()
            .setName(opType + "_" + count)
            .setOpType(opType)
            .setDomain(OnnxConstants.DEFAULT_DOMAIN)
            .addAllInput(inputs)
            .addAllOutput(outputs)
            .addAllAttribute(Arrays.asList(attributes)));
  }

  /**
   * An integer attribute.
   *
   * @param name the attribute name
   * @param value the value
   * @return the attribute
   */
  public static AttributeProto attribute(String name, long value) {
    return AttributeProto.newBuilder()
        .setName(name)
        .setType(AttributeProto.AttributeType.INT)
        .setI(value)
        .build();
  }

  /**
   * A float attribute.
   *
   * @param name the attribute name
   * @param value the value
   * @return the attribute
   */
  public static AttributeProto attribute(String name, float value) {
    return AttributeProto.newBuilder()
        .setName(name)
        .setType(AttributeProto.AttributeType.FLOAT)
        .setF(value)
        .build();
  }

  /**
   * An integer-list attribute.
   *
   * @param name the attribute name
   * @param values the values
   * @return the attribute
   */
  public static AttributeProto ints(String name, long... values) {
    AttributeProto.Builder attribute =
        AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
    for (long value : values) {
      attribute.addInts(value);
    }
    return attribute.build();
  }

  /**
   * Wraps the graph in a model.
   *
   * @param metadata {@code metadata_props} entries, in order
   * @return the model
   */
  public ModelProto build(Map<String, String> metadata) {
    ModelProto.Builder model =
        ModelProto.newBuilder()
            .setIrVersion(OnnxConstants.irVersion(opset))
            .setProducerName(OnnxConstants.PRODUCER_NAME)
            .setProducerVersion(OnnxConstants.PRODUCER_VERSION)
            .addOpsetImport(
                OperatorSetIdProto.newBuilder()
                    .setDomain(OnnxConstants.DEFAULT_DOMAIN)
                    .setVersion(opset))
            .setGraph(graph.clone().setName(graphName));
    metadata.forEach(
        (key, value) ->
            model.addMetadataProps(
                StringStringEntryProto.newBuilder().setKey(key).setValue(value)));
    return model.build();
  }

  private static ValueInfoProto valueInfo(String name, int elementType, Object... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (Object dim : dims) {
      if (dim instanceof String) {
        shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimParam((String) dim));
      } else if (dim instanceof Number) {
        shape.addDim(
            TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) dim).longValue()));
      } else {
        throw new IllegalArgumentException(
            "dimension of '" + name + "' must be a Long or a String, got " + dim);
      }
    }
    TypeProto type =
        TypeProto.newBuilder()
            .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elementType).setShape(shape))
            .build();
    return ValueInfoProto.newBuilder().setName(name).setType(type).build();
  }
}
