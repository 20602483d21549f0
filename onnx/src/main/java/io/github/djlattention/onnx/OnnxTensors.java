package io.github.djlattention.onnx;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.github.djlattention.io.ElementType;
import io.github.djlattention.io.InputLimits;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;

/**
 * Conversion between ONNX {@code TensorProto} messages and DJL {@link NDArray}s.
 *
 * <p>Reads tensors stored in {@code raw_data} (little-endian, the usual form) and in the typed
 * fields ({@code float_data}, {@code double_data}, {@code int64_data}, {@code int32_data}, which
 * also carries {@code float16}, {@code bool}, {@code int8/16}, {@code uint8} values). Writes {@code
 * raw_data}. Supported element types: float32, float64, float16, int32, int64, int8, uint8, bool.
 */
public final class OnnxTensors {

  private OnnxTensors() {}

  /**
   * Reads a serialized {@code TensorProto} file (such as a backend test's {@code input_0.pb}).
   *
   * @param file the {@code .pb} file
   * @return the parsed message
   * @throws UncheckedIOException if the file cannot be read
   * @throws IllegalArgumentException if the file is not a TensorProto
   */
  public static TensorProto read(Path file) {
    try {
      return TensorProto.parseFrom(InputLimits.readFile(file, InputLimits.Limit.MODEL_BYTES));
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("not a serialized onnx.TensorProto: " + file, e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  /**
   * The DJL data type of an ONNX {@code TensorProto.DataType} number, from the project's one table
   * ({@link ElementType}).
   *
   * @param onnxType the ONNX element type, e.g. 1 for float
   * @return the matching DJL type
   * @throws IllegalArgumentException for element types this project does not handle
   */
  public static DataType dataType(int onnxType) {
    return ElementType.ofOnnx(onnxType)
        .orElseThrow(
            () -> new IllegalArgumentException("unsupported ONNX element type " + onnxType))
        .dataType();
  }

  /**
   * The ONNX {@code TensorProto.DataType} number of a DJL data type, from the project's one table
   * ({@link ElementType}).
   *
   * @param dataType the DJL type
   * @return the ONNX element type number
   * @throws IllegalArgumentException for types without an ONNX counterpart handled here
   */
  public static int onnxType(DataType dataType) {
    return ElementType.of(dataType)
        .orElseThrow(() -> new IllegalArgumentException("unsupported DJL data type " + dataType))
        .onnxType();
  }

  /**
   * Converts a tensor message into an NDArray owned by {@code manager}, C-contiguous in memory that
   * the engine allocated, so that a view taken from it stays valid after the array is closed.
   *
   * @param tensor the message
   * @param manager the manager that will own the array
   * @return an array with the tensor's shape and element type
   * @throws IllegalArgumentException if the element type is unsupported, a dim is negative, the
   *     tensor needs more than 2³¹ − 1 bytes, or the data size does not match the dims (checked
   *     before the tensor's buffer is allocated)
   */
  public static NDArray toNDArray(TensorProto tensor, NDManager manager) {
    DataType type = dataType(tensor.getDataType());
    int width = type.getNumOfBytes();
    long count = elementCount(tensor, width);
    Shape shape = new Shape(tensor.getDimsList().stream().mapToLong(Long::longValue).toArray());
    if (!tensor.getRawData().isEmpty() && tensor.getRawData().size() != count * width) {
      throw new IllegalArgumentException(
          "tensor '"
              + tensor.getName()
              + "' holds "
              + tensor.getRawData().size()
              + " bytes of raw data but its dims "
              + tensor.getDimsList()
              + " need "
              + count * width);
    }
    ByteBuffer bytes = ByteBuffer.allocateDirect((int) (count * width));
    bytes.order(ByteOrder.nativeOrder());
    if (!tensor.getRawData().isEmpty()) {
      ByteBuffer raw = tensor.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      copyLittleEndian(raw, bytes, width);
    } else {
      fillFromTypedFields(tensor, type, count, bytes);
    }
    bytes.rewind();
    // The PyTorch engine wraps a direct buffer without copying, and only the array made from it
    // keeps the buffer reachable: a view of it (a reshape, a slice) would point into freed memory
    // once that array is closed. Copy once into memory that libtorch owns.
    NDArray array;
    try (NDArray wrapped = manager.create(bytes, shape, type)) {
      array = wrapped.duplicate();
    }
    if (!tensor.getName().isEmpty()) {
      array.setName(tensor.getName());
    }
    return array;
  }

  /**
   * Converts an NDArray into a tensor message with {@code raw_data}.
   *
   * @param name the tensor name (may be empty)
   * @param array the array; any device
   * @return the message
   * @throws IllegalArgumentException if the element type is unsupported
   */
  public static TensorProto toTensorProto(String name, NDArray array) {
    int onnxType = onnxType(array.getDataType());
    ByteBuffer data = array.toByteBuffer();
    ByteBuffer little = ByteBuffer.allocate(data.remaining()).order(ByteOrder.LITTLE_ENDIAN);
    copyLittleEndian(
        data.duplicate().order(data.order()), little, array.getDataType().getNumOfBytes());
    little.flip();
    TensorProto.Builder builder =
        TensorProto.newBuilder()
            .setName(name)
            .setDataType(onnxType)
            .setRawData(ByteString.copyFrom(little));
    for (long dim : array.getShape().getShape()) {
      builder.addDims(dim);
    }
    return builder.build();
  }

  /**
   * The element count of the tensor's dims, checked before anything is allocated.
   *
   * @throws IllegalArgumentException for a negative dim or more than 2³¹ − 1 bytes
   */
  private static long elementCount(TensorProto tensor, int width) {
    long count = 1;
    for (long dim : tensor.getDimsList()) {
      if (dim < 0) {
        throw new IllegalArgumentException(
            "tensor '"
                + tensor.getName()
                + "' has a negative size in its dims "
                + tensor.getDimsList());
      }
      count = dim == 0 || count <= Integer.MAX_VALUE / dim ? count * dim : Long.MAX_VALUE;
    }
    if (count > Integer.MAX_VALUE / width) {
      throw new IllegalArgumentException(
          "tensor '"
              + tensor.getName()
              + "' with dims "
              + tensor.getDimsList()
              + " needs more than "
              + Integer.MAX_VALUE
              + " bytes");
    }
    return count;
  }

  private static void checkCount(TensorProto tensor, long actual, long expected) {
    if (actual != expected) {
      throw new IllegalArgumentException(
          "tensor '"
              + tensor.getName()
              + "' holds "
              + actual
              + " elements but its dims "
              + tensor.getDimsList()
              + " need "
              + expected);
    }
  }

  /** Copies elements of {@code width} bytes, converting from the source's to the target's order. */
  private static void copyLittleEndian(ByteBuffer source, ByteBuffer target, int width) {
    if (width == 1 || source.order() == target.order()) {
      target.put(source);
      return;
    }
    byte[] element = new byte[width];
    while (source.remaining() >= width) {
      source.get(element);
      for (int i = width - 1; i >= 0; i--) {
        target.put(element[i]);
      }
    }
  }

  private static void fillFromTypedFields(
      TensorProto tensor, DataType type, long count, ByteBuffer out) {
    switch (type) {
      case FLOAT32:
        checkCount(tensor, tensor.getFloatDataCount(), count);
        tensor.getFloatDataList().forEach(out::putFloat);
        break;
      case FLOAT64:
        checkCount(tensor, tensor.getDoubleDataCount(), count);
        tensor.getDoubleDataList().forEach(out::putDouble);
        break;
      case INT64:
        checkCount(tensor, tensor.getInt64DataCount(), count);
        tensor.getInt64DataList().forEach(out::putLong);
        break;
      case INT32:
        checkCount(tensor, tensor.getInt32DataCount(), count);
        tensor.getInt32DataList().forEach(out::putInt);
        break;
      case FLOAT16:
        // float16 bit patterns travel in the low 16 bits of int32_data.
        checkCount(tensor, tensor.getInt32DataCount(), count);
        tensor.getInt32DataList().forEach(bits -> out.putShort((short) (int) bits));
        break;
      case BOOLEAN:
      case INT8:
      case UINT8:
        checkCount(tensor, tensor.getInt32DataCount(), count);
        putBytes(tensor.getInt32DataList(), out);
        break;
      default:
        throw new IllegalArgumentException("unsupported element type " + type);
    }
  }

  private static void putBytes(List<Integer> values, ByteBuffer out) {
    for (int value : values) {
      out.put((byte) value);
    }
  }
}
