package io.github.djlattention.ort;

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
import io.github.djlattention.onnx.OnnxConstants;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Small ONNX models that misbehave on ONNX Runtime: loops that never end, external data. */
public final class HostileModels {
  private HostileModels() {}

  /** A float tensor's type, with symbolic or fixed dims. */
  static ValueInfoProto value(String name, int type, Object... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (Object dim : dims) {
      if (dim instanceof String) {
        shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimParam((String) dim));
      } else {
        shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue((Long) dim));
      }
    }
    return ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(type).setShape(shape)))
        .build();
  }

  static NodeProto node(String op, String[] inputs, String[] outputs, AttributeProto... attrs) {
    NodeProto.Builder node = NodeProto.newBuilder().setOpType(op);
    for (String input : inputs) {
      node.addInput(input);
    }
    for (String output : outputs) {
      node.addOutput(output);
    }
    for (AttributeProto attr : attrs) {
      node.addAttribute(attr);
    }
    return node.build();
  }

  static AttributeProto graphAttribute(String name, GraphProto graph) {
    return AttributeProto.newBuilder()
        .setName(name)
        .setType(AttributeProto.AttributeType.GRAPH)
        .setG(graph)
        .build();
  }

  static ModelProto model(GraphProto graph) {
    return ModelProto.newBuilder()
        .setIrVersion(OnnxConstants.DECOMPOSED_IR_VERSION)
        .addOpsetImport(
            OperatorSetIdProto.newBuilder()
                .setDomain(OnnxConstants.DEFAULT_DOMAIN)
                .setVersion(OnnxConstants.DECOMPOSED_OPSET))
        .setGraph(graph)
        .build();
  }

  /**
   * {@code output = Loop(trips, true, x)} with a body that negates its carried value: a graph of
   * one node that runs {@code trips} times.
   *
   * @param input the input's name; float32 of any shape
   * @param trips the trip count, e.g. 2^62
   * @return the model
   */
  public static ModelProto loop(String input, long trips) {
    int f = TensorProto.DataType.FLOAT_VALUE;
    int b = TensorProto.DataType.BOOL_VALUE;
    int l = TensorProto.DataType.INT64_VALUE;
    GraphProto body =
        GraphProto.newBuilder()
            .setName("body")
            .addInput(value("iteration", l))
            .addInput(value("cond_in", b))
            .addInput(value("carried", f, "a", "b", "c"))
            .addNode(node("Identity", new String[] {"cond_in"}, new String[] {"cond_out"}))
            .addNode(node("Neg", new String[] {"carried"}, new String[] {"carried_out"}))
            .addOutput(value("cond_out", b))
            .addOutput(value("carried_out", f, "a", "b", "c"))
            .build();
    GraphProto graph =
        GraphProto.newBuilder()
            .setName("endless")
            .addInput(value(input, f, "a", "b", "c"))
            .addInitializer(
                TensorProto.newBuilder().setName("trips").setDataType(l).addInt64Data(trips))
            .addInitializer(
                TensorProto.newBuilder().setName("keep_going").setDataType(b).addInt32Data(1))
            .addNode(
                node(
                    "Loop",
                    new String[] {"trips", "keep_going", input},
                    new String[] {"output"},
                    graphAttribute("body", body)))
            .addOutput(value("output", f, "a", "b", "c"))
            .build();
    return model(graph);
  }

  /**
   * {@code output = x + w} where {@code w} (float32, {@code size} zeros) is stored as external data
   * in {@code location}.
   *
   * @param input the input's name, float32 (..., size)
   * @param size the last axis
   * @param location the external data file, relative to the model's directory
   * @return the model
   */
  public static ModelProto externalAdd(String input, int size, String location) {
    int f = TensorProto.DataType.FLOAT_VALUE;
    TensorProto w =
        TensorProto.newBuilder()
            .setName("w")
            .setDataType(f)
            .addDims(size)
            .setDataLocation(TensorProto.DataLocation.EXTERNAL)
            .addExternalData(
                StringStringEntryProto.newBuilder().setKey("location").setValue(location))
            .addExternalData(StringStringEntryProto.newBuilder().setKey("offset").setValue("0"))
            .addExternalData(
                StringStringEntryProto.newBuilder()
                    .setKey("length")
                    .setValue(Integer.toString(4 * size)))
            .build();
    GraphProto graph =
        GraphProto.newBuilder()
            .setName("external")
            .addInput(value(input, f, "a", "b", (long) size))
            .addInitializer(w)
            .addNode(node("Add", new String[] {input, "w"}, new String[] {"output"}))
            .addOutput(value("output", f, "a", "b", (long) size))
            .build();
    return model(graph);
  }

  /**
   * The bytes of an external data file for {@link #externalAdd}: {@code size} float32 values.
   *
   * @param size how many
   * @param value each one
   * @return little-endian float32 bytes
   */
  public static byte[] floats(int size, float value) {
    ByteBuffer buffer = ByteBuffer.allocate(4 * size).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < size; i++) {
      buffer.putFloat(value);
    }
    return buffer.array();
  }

  /**
   * {@code depth} nested {@code If}s on a bool input {@code c}: each then-branch holds the next
   * {@code If}, each else-branch a {@code Neg} of {@code x}; slow to load for large depths.
   *
   * @param depth how deep
   * @return the model
   */
  public static ModelProto nestedIfs(int depth) {
    return nestedIfs(depth, false);
  }

  /**
   * Nested {@code If}s; with {@code tree}, both branches hold the next level, so the model has
   * 2^depth leaves.
   *
   * @param depth how deep
   * @param tree whether both branches nest
   * @return the model
   */
  public static ModelProto nestedIfs(int depth, boolean tree) {
    int f = TensorProto.DataType.FLOAT_VALUE;
    int b = TensorProto.DataType.BOOL_VALUE;
    GraphProto inner =
        GraphProto.newBuilder()
            .setName("leaf")
            .addNode(node("Identity", new String[] {"x"}, new String[] {"leaf_out"}))
            .addOutput(value("leaf_out", f, "n"))
            .build();
    for (int level = 0; level < depth; level++) {
      GraphProto otherwise =
          tree
              ? inner.toBuilder().setName("else" + level).build()
              : GraphProto.newBuilder()
                  .setName("else" + level)
                  .addNode(node("Neg", new String[] {"x"}, new String[] {"else_out" + level}))
                  .addOutput(value("else_out" + level, f, "n"))
                  .build();
      inner =
          GraphProto.newBuilder()
              .setName("then" + level)
              .addNode(
                  node(
                      "If",
                      new String[] {"c"},
                      new String[] {"if_out" + level},
                      graphAttribute("then_branch", inner),
                      graphAttribute("else_branch", otherwise)))
              .addOutput(value("if_out" + level, f, "n"))
              .build();
    }
    GraphProto graph =
        inner.toBuilder()
            .setName("nested")
            .addInput(value("c", b))
            .addInput(value("x", f, "n"))
            .build();
    return model(graph);
  }

  /**
   * {@code count} sibling {@code If}s on a bool input {@code c}, each choosing between {@code x}
   * and {@code -x}, summed: {@code 2 * count} subgraphs, none nested.
   *
   * @param count how many
   * @return the model
   */
  public static ModelProto wideIfs(int count) {
    int f = TensorProto.DataType.FLOAT_VALUE;
    int b = TensorProto.DataType.BOOL_VALUE;
    GraphProto.Builder graph =
        GraphProto.newBuilder()
            .setName("wide")
            .addInput(value("c", b))
            .addInput(value("x", f, "n"));
    String sum = null;
    for (int i = 0; i < count; i++) {
      GraphProto then =
          GraphProto.newBuilder()
              .setName("then" + i)
              .addNode(node("Identity", new String[] {"x"}, new String[] {"t" + i}))
              .addOutput(value("t" + i, f, "n"))
              .build();
      GraphProto otherwise =
          GraphProto.newBuilder()
              .setName("else" + i)
              .addNode(node("Neg", new String[] {"x"}, new String[] {"e" + i}))
              .addOutput(value("e" + i, f, "n"))
              .build();
      graph.addNode(
          node(
              "If",
              new String[] {"c"},
              new String[] {"if" + i},
              graphAttribute("then_branch", then),
              graphAttribute("else_branch", otherwise)));
      if (sum == null) {
        sum = "if" + i;
      } else {
        graph.addNode(node("Add", new String[] {sum, "if" + i}, new String[] {"sum" + i}));
        sum = "sum" + i;
      }
    }
    graph.addOutput(value(sum, f, "n"));
    return model(graph.build());
  }
}
