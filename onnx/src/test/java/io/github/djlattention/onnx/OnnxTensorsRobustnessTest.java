package io.github.djlattention.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import io.github.djlattention.testing.TestTensors;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Tensor messages whose dims and data disagree, as a corrupted {@code input_N.pb} holds them, are
 * refused with an {@link IllegalArgumentException} naming the tensor, before any buffer of the
 * claimed size is allocated.
 */
class OnnxTensorsRobustnessTest {

  private NDManager manager;

  @BeforeEach
  void open() {
    manager = TestTensors.manager();
  }

  @AfterEach
  void close() {
    manager.close();
  }

  private static TensorProto floats(List<Long> dims, int rawBytes) {
    return TensorProto.newBuilder()
        .setName("Q")
        .setDataType(TensorProto.DataType.FLOAT_VALUE)
        .addAllDims(dims)
        .setRawData(ByteString.copyFrom(new byte[rawBytes]))
        .build();
  }

  private void refused(TensorProto tensor, String... parts) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> OnnxTensors.toNDArray(tensor, manager));
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should name " + part);
    }
  }

  @Test
  void dimsWhoseByteSizeOverflowsAnIntAreRefused() {
    // 4e10 bytes: Math.toIntExact threw ArithmeticException
    refused(floats(List.of(100_000L, 100_000L), 16), "'Q'", "[100000, 100000]");
  }

  @Test
  void dimsWhoseElementCountOverflowsALongAreRefused() {
    refused(floats(List.of(1L << 40, 1L << 40), 16), "'Q'");
  }

  @Test
  void negativeDimsAreRefused() {
    // allocateDirect(-16) threw "capacity < 0"
    refused(floats(List.of(-4L, 1L), 16), "'Q'", "[-4, 1]");
  }

  @Test
  void rawDataThatIsNotAWholeNumberOfElementsIsRefused() {
    // 17 bytes for 4 floats: the copy overflowed the buffer (BufferOverflowException)
    refused(floats(List.of(4L), 17), "'Q'", "17");
  }

  @Test
  void rawDataShorterThanTheDimsIsRefusedBeforeAllocatingTheDims() {
    // 1.6 GB claimed, 16 bytes present: refused without allocating 1.6 GB first
    refused(floats(List.of(20_000L, 20_000L), 16), "'Q'");
  }

  @Test
  void anEmptyTensorIsFine() {
    NDArray empty = OnnxTensors.toNDArray(floats(List.of(2L, 0L, 8L), 0), manager);
    assertEquals(new Shape(2, 0, 8), empty.getShape());
  }
}
