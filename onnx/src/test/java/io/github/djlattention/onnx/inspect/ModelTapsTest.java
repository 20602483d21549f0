package io.github.djlattention.onnx.inspect;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import io.github.djlattention.ort.OrtRunner;
import io.github.djlattention.testing.TestTensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Exposing intermediate tensors as graph outputs, and reading constants in plain Java. */
class ModelTapsTest {

  @Test
  void tapsOnlyComputedTensorsAndOnnxRuntimeReturnsThem() {
    try (NDManager m = TestTensors.manager()) {
      ModelProto model = PatternGraphs.bertStyle(m, 0.5f);
      ModelGraph graph = new ModelGraph(model);
      AttentionSite site = AttentionFinder.find(graph).get(0);
      List<String> wanted =
          List.of("x", "scale", site.query(), site.weights(), site.output(), "attn_out");
      // The input, the constant and the existing output are not added.
      assertEquals(
          List.of(site.query(), site.weights(), site.output()), ModelTaps.computed(graph, wanted));
      ModelProto tapped = ModelTaps.tap(graph, wanted);
      assertEquals(model.getGraph().getNodeList(), tapped.getGraph().getNodeList());
      assertEquals(4, tapped.getGraph().getOutputCount());
      assertEquals(1, model.getGraph().getOutputCount(), "the original is unchanged");
      try (OrtRunner runner = OrtRunner.builder().build(tapped.toByteArray())) {
        NDArray x = m.randomUniform(-1, 1, new Shape(2, 3, 16));
        NDArray mask = m.create(new long[][] {{1, 1, 0}, {1, 1, 1}});
        Map<String, NDArray> out = runner.run(Map.of("x", x, "attention_mask", mask), m);
        assertEquals(new Shape(2, 4, 3, 3), out.get(site.weights()).getShape());
        assertEquals(new Shape(2, 4, 3, 4), out.get(site.output()).getShape());
        // padding key 2 of batch 0 gets no weight
        assertTrue(out.get(site.weights()).get(0).get(":, :, 2").abs().max().getFloat() < 1e-6);
      }
      assertThrows(
          IllegalArgumentException.class, () -> ModelTaps.computed(graph, List.of("no_such")));
    }
  }

  @Test
  void constantValuesReadRawAndTypedFields() {
    ByteBuffer raw = ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN);
    raw.putShort((short) 0x3c00).putShort((short) 0xc000).putShort((short) 0x7c00).flip();
    TensorProto half =
        TensorProto.newBuilder()
            .setDataType(TensorProto.DataType.FLOAT16_VALUE)
            .addDims(3)
            .setRawData(ByteString.copyFrom(raw))
            .build();
    assertArrayEquals(
        new double[] {1, -2, Double.POSITIVE_INFINITY}, ConstantValues.doubles(half), 0);
    TensorProto int8 =
        TensorProto.newBuilder()
            .setDataType(TensorProto.DataType.INT8_VALUE)
            .addDims(2)
            .setRawData(ByteString.copyFrom(new byte[] {(byte) -3, 7}))
            .build();
    assertArrayEquals(new double[] {-3, 7}, ConstantValues.doubles(int8), 0);
    TensorProto uint8 = int8.toBuilder().setDataType(TensorProto.DataType.UINT8_VALUE).build();
    assertArrayEquals(new double[] {253, 7}, ConstantValues.doubles(uint8), 0);
    TensorProto floats =
        TensorProto.newBuilder()
            .setDataType(TensorProto.DataType.FLOAT_VALUE)
            .addDims(2)
            .addFloatData(0.25f)
            .addFloatData(-1f)
            .build();
    assertArrayEquals(new double[] {0.25, -1}, ConstantValues.doubles(floats), 0);
    assertEquals(java.util.Optional.empty(), ConstantValues.scalar(floats));
    TensorProto wrong = floats.toBuilder().addDims(2).build();
    assertThrows(IllegalArgumentException.class, () -> ConstantValues.doubles(wrong));
    TensorProto external =
        floats.toBuilder().setDataLocation(TensorProto.DataLocation.EXTERNAL).build();
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> ConstantValues.doubles(external));
    assertTrue(e.getMessage().contains("external"), e.getMessage());
  }
}
