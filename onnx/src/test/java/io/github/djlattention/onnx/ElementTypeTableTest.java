package io.github.djlattention.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxJavaType;
import io.github.djlattention.io.ElementType;
import io.github.djlattention.ort.OrtRunner;
import io.github.djlattention.testing.TestTensors;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The one element-type table ({@link ElementType}, in core, which cannot see the ONNX classes)
 * against ONNX's generated constants and ONNX Runtime's own type mapping: every row's ONNX number
 * is the protobuf constant of that name, and a tensor of every type goes through ONNX Runtime and
 * back with its type and values.
 */
class ElementTypeTableTest {

  private static final Map<ElementType, TensorProto.DataType> ONNX =
      Map.of(
          ElementType.FLOAT32, TensorProto.DataType.FLOAT,
          ElementType.FLOAT64, TensorProto.DataType.DOUBLE,
          ElementType.FLOAT16, TensorProto.DataType.FLOAT16,
          ElementType.BOOL, TensorProto.DataType.BOOL,
          ElementType.INT8, TensorProto.DataType.INT8,
          ElementType.UINT8, TensorProto.DataType.UINT8,
          ElementType.INT32, TensorProto.DataType.INT32,
          ElementType.INT64, TensorProto.DataType.INT64);

  @ParameterizedTest
  @EnumSource(ElementType.class)
  void theOnnxNameAndNumberAreTheProtobufConstant(ElementType type) {
    assertEquals(ONNX.get(type).getNumber(), type.onnxType());
    assertEquals(type.dataType(), OnnxTensors.dataType(type.onnxType()));
    assertEquals(type.onnxType(), OnnxTensors.onnxType(type.dataType()));
    assertEquals(ONNX.get(type).name(), type.onnxName());
    // ONNX Runtime's Java types share the ONNX names (its OnnxTensorType numbers differ from
    // ONNX's)
    assertEquals(type.onnxName(), OnnxJavaType.valueOf(type.onnxName()).name());
  }

  @ParameterizedTest
  @EnumSource(ElementType.class)
  void aTensorOfEveryTypeGoesThroughOnnxRuntimeUnchanged(ElementType type) {
    OnnxGraphBuilder graph = new OnnxGraphBuilder("identity", OnnxConstants.DECOMPOSED_OPSET);
    String x = graph.input("x", type.onnxType(), 2L, 3L);
    graph.output(graph.node("Identity", "y", List.of(x)), type.onnxType(), 2L, 3L);
    try (NDManager manager = TestTensors.manager();
        OrtRunner runner = OrtRunner.builder().build(graph.build(Map.of()).toByteArray())) {
      NDArray input =
          manager
              .create(new float[] {0, 1, 0, 1, 1, 0}, new Shape(2, 3))
              .toType(type.dataType(), false);
      NDArray output = runner.run(Map.of("x", input), manager).get("y");
      assertEquals(type.dataType(), output.getDataType());
      assertArrayEquals(
          input.toType(DataType.FLOAT64, false).toDoubleArray(),
          output.toType(DataType.FLOAT64, false).toDoubleArray());
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = DataType.class,
      names = {"BFLOAT16", "UINT32", "STRING"})
  void typesOutsideTheTableAreNamed(DataType type) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> OnnxTensors.onnxType(type));
    assertEquals("unsupported DJL data type " + type, e.getMessage());
  }
}
