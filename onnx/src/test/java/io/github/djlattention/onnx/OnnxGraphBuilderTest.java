package io.github.djlattention.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Unique names, wiring checks and the model stamp of {@link OnnxGraphBuilder}. */
class OnnxGraphBuilderTest {

  @Test
  void freshNamesAreUniqueAndReservedNamesExact() {
    OnnxGraphBuilder graph = new OnnxGraphBuilder("g", OnnxConstants.DECOMPOSED_OPSET);
    assertEquals("x", graph.input("x", TensorProto.DataType.FLOAT_VALUE, "batch", 4L));
    assertEquals("x_1", graph.fresh("x"));
    assertEquals("x_2", graph.fresh("x"));
    assertEquals("y", graph.reserve("y"));
    assertThrows(IllegalStateException.class, () -> graph.reserve("x_1"));
  }

  @Test
  void nodesMustReadProducedValues() {
    OnnxGraphBuilder graph = new OnnxGraphBuilder("g", OnnxConstants.ATTENTION_OPSET);
    graph.input("x", TensorProto.DataType.FLOAT_VALUE, "batch");
    assertThrows(IllegalStateException.class, () -> graph.node("Relu", "y", List.of("nope")));
    String y = graph.node("Relu", "y", List.of("x"));
    graph.output(y, TensorProto.DataType.FLOAT_VALUE, "batch");
    assertThrows(
        IllegalStateException.class,
        () -> graph.output("z", TensorProto.DataType.FLOAT_VALUE, "batch"));
    ModelProto model = graph.build(Map.of("k", "v"));
    assertEquals(OnnxConstants.ATTENTION_IR_VERSION, model.getIrVersion());
    assertEquals(OnnxConstants.ATTENTION_OPSET, model.getOpsetImport(0).getVersion());
    assertEquals(OnnxConstants.PRODUCER_VERSION, model.getProducerVersion());
    assertEquals("Relu_1", model.getGraph().getNode(0).getName());
    assertEquals("v", model.getMetadataProps(0).getValue());
  }

  @Test
  void rejectsUnknownOpsets() {
    assertThrows(IllegalArgumentException.class, () -> new OnnxGraphBuilder("g", 13));
  }
}
