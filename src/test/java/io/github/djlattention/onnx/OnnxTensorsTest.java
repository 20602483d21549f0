package io.github.djlattention.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.TensorProto;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class OnnxTensorsTest {

  @Test
  void roundTripsEveryHandledType() {
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray floats =
          m.create(new float[] {1.5f, -2, 3, Float.NEGATIVE_INFINITY}, new Shape(2, 2));
      for (DataType type :
          new DataType[] {
            DataType.FLOAT32, DataType.FLOAT64, DataType.FLOAT16, DataType.INT64, DataType.INT32
          }) {
        NDArray array =
            type == DataType.INT64 || type == DataType.INT32
                ? m.create(new long[] {1, -2, 3, 4}, new Shape(2, 2)).toType(type, false)
                : floats.toType(type, false);
        TensorProto proto = OnnxTensors.toTensorProto("x", array);
        assertEquals(OnnxTensors.onnxType(type), proto.getDataType());
        NDArray back = OnnxTensors.toNDArray(proto, m);
        assertEquals(array.getShape(), back.getShape());
        assertEquals(type, back.getDataType());
        assertArrayEquals(array.toByteArray(), back.toByteArray(), type.toString());
        assertEquals("x", back.getName());
      }
      NDArray bools = m.create(new boolean[] {true, false, true});
      NDArray back = OnnxTensors.toNDArray(OnnxTensors.toTensorProto("b", bools), m);
      assertArrayEquals(bools.toBooleanArray(), back.toBooleanArray());
    }
  }

  @Test
  void readsTypedFields() {
    try (NDManager m = NDManager.newBaseManager()) {
      TensorProto floats =
          TensorProto.newBuilder()
              .setDataType(1)
              .addDims(2)
              .addFloatData(1.5f)
              .addFloatData(-3)
              .build();
      assertArrayEquals(new float[] {1.5f, -3}, OnnxTensors.toNDArray(floats, m).toFloatArray());
      // float16 bit patterns in int32_data: 0x3C00 = 1.0, 0xC000 = -2.0
      TensorProto halves =
          TensorProto.newBuilder()
              .setDataType(10)
              .addDims(2)
              .addInt32Data(0x3C00)
              .addInt32Data(0xC000)
              .build();
      NDArray half = OnnxTensors.toNDArray(halves, m);
      assertEquals(DataType.FLOAT16, half.getDataType());
      assertArrayEquals(new float[] {1, -2}, half.toType(DataType.FLOAT32, false).toFloatArray());
      TensorProto longs =
          TensorProto.newBuilder()
              .setDataType(7)
              .addDims(3)
              .addInt64Data(4)
              .addInt64Data(-1)
              .addInt64Data(9)
              .build();
      assertArrayEquals(new long[] {4, -1, 9}, OnnxTensors.toNDArray(longs, m).toLongArray());
      TensorProto bools =
          TensorProto.newBuilder()
              .setDataType(9)
              .addDims(2)
              .addInt32Data(1)
              .addInt32Data(0)
              .build();
      assertArrayEquals(
          new boolean[] {true, false}, OnnxTensors.toNDArray(bools, m).toBooleanArray());
    }
  }

  @Test
  void readsTheCasesRawData() {
    try (NDManager m = NDManager.newBaseManager()) {
      Path file =
          Path.of("conformance/onnx-attention/test_attention_4d_fp16/test_data_set_0/input_0.pb");
      NDArray q = OnnxTensors.toNDArray(OnnxTensors.read(file), m);
      assertEquals(new Shape(2, 3, 4, 8), q.getShape());
      assertEquals(DataType.FLOAT16, q.getDataType());
      assertEquals("Q", q.getName());
    }
  }

  @Test
  void rejectsWrongSizesAndTypes() {
    try (NDManager m = NDManager.newBaseManager()) {
      TensorProto shortData =
          TensorProto.newBuilder().setDataType(1).addDims(3).addFloatData(1).build();
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> OnnxTensors.toNDArray(shortData, m));
      assertEquals("tensor '' holds 1 elements but its dims [3] need 3", e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> OnnxTensors.dataType(8));
    }
  }
}
