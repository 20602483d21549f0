package io.github.djlattention.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import io.github.djlattention.testing.NativeLifetime;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
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

  /**
   * The array owns its memory: a view of it (which shares its storage) stays valid after the array
   * is closed and the garbage collector has freed and reused every unreachable buffer.
   */
  @Test
  void arraysOwnTheirMemory() {
    DataType[] types = {
      DataType.FLOAT32,
      DataType.FLOAT64,
      DataType.FLOAT16,
      DataType.INT32,
      DataType.INT64,
      DataType.INT8,
      DataType.UINT8,
      DataType.BOOLEAN
    };
    try (NDManager m = NDManager.newBaseManager()) {
      List<byte[]> expected = new ArrayList<>();
      List<NDArray> views = new ArrayList<>();
      long[] sizes = new long[types.length];
      Random random = new Random(4);
      for (int t = 0; t < types.length; t++) {
        DataType type = types[t];
        byte[] raw = new byte[3 * 5 * 7 * type.getNumOfBytes()];
        random.nextBytes(raw);
        if (type == DataType.BOOLEAN) {
          for (int i = 0; i < raw.length; i++) {
            raw[i] &= 1;
          }
        }
        sizes[t] = raw.length;
        TensorProto proto =
            TensorProto.newBuilder()
                .setDataType(OnnxTensors.onnxType(type))
                .addDims(3)
                .addDims(5)
                .addDims(7)
                .setRawData(ByteString.copyFrom(raw))
                .build();
        NDArray array = OnnxTensors.toNDArray(proto, m); // (3, 5, 7)
        assertTrue(NativeLifetime.isCContiguous(array), type.toString());
        expected.add(nativeOrder(raw, type.getNumOfBytes()));
        views.add(array.reshape(-1)); // (105)
        array.close();
      }
      NativeLifetime.collectAndReuse(sizes);
      for (int t = 0; t < types.length; t++) {
        assertArrayEquals(expected.get(t), views.get(t).toByteArray(), types[t] + " (a view)");
      }
    }
  }

  private static byte[] nativeOrder(byte[] littleEndian, int width) {
    if (width == 1 || ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
      return littleEndian;
    }
    byte[] swapped = new byte[littleEndian.length];
    for (int start = 0; start < swapped.length; start += width) {
      for (int i = 0; i < width; i++) {
        swapped[start + i] = littleEndian[start + width - 1 - i];
      }
    }
    return swapped;
  }
}
