package io.github.djlattention.onnx.inspect;

import ai.onnx.proto.OnnxMl.TensorProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reads the elements of a {@code TensorProto} (an initializer or a {@code Constant}) as doubles in
 * plain Java, from {@code raw_data} (little-endian) or from the typed fields: float32, float64,
 * float16, int8, uint8, int16, int32, int64 and bool.
 */
public final class ConstantValues {

  private ConstantValues() {}

  /**
   * The tensor's dims.
   *
   * @param tensor the tensor
   * @return its dims, empty for a scalar
   */
  public static long[] dims(TensorProto tensor) {
    return tensor.getDimsList().stream().mapToLong(Long::longValue).toArray();
  }

  /**
   * The number of elements the dims describe.
   *
   * @param tensor the tensor
   * @return the count (1 for a scalar)
   * @throws IllegalArgumentException for a negative dim or more than 2³¹ − 1 elements
   */
  public static int size(TensorProto tensor) {
    long count = 1;
    for (long dim : tensor.getDimsList()) {
      if (dim < 0) {
        throw new IllegalArgumentException(
            "tensor '" + tensor.getName() + "' has a negative dim " + tensor.getDimsList());
      }
      count *= dim;
      if (count > Integer.MAX_VALUE) {
        throw new IllegalArgumentException(
            "tensor '" + tensor.getName() + "' has more than 2^31 - 1 elements");
      }
    }
    return (int) count;
  }

  /**
   * The elements as doubles, in C order.
   *
   * @param tensor the tensor
   * @return the values
   * @throws IllegalArgumentException for external data, an element type not listed above, or data
   *     that does not match the dims
   */
  public static double[] doubles(TensorProto tensor) {
    if (tensor.getDataLocation() == TensorProto.DataLocation.EXTERNAL
        || tensor.getExternalDataCount() > 0) {
      throw new IllegalArgumentException(
          "tensor '" + tensor.getName() + "' keeps its data in an external file");
    }
    int count = size(tensor);
    int type = tensor.getDataType();
    double[] values = new double[count];
    if (!tensor.getRawData().isEmpty()) {
      ByteBuffer raw = tensor.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
      int width = width(tensor);
      if (raw.remaining() != (long) count * width) {
        throw new IllegalArgumentException(
            "tensor '"
                + tensor.getName()
                + "' holds "
                + raw.remaining()
                + " bytes for dims "
                + tensor.getDimsList());
      }
      for (int i = 0; i < count; i++) {
        values[i] = readRaw(raw, type);
      }
      return values;
    }
    switch (type) {
      case TensorProto.DataType.FLOAT_VALUE:
        check(tensor, tensor.getFloatDataCount(), count);
        for (int i = 0; i < count; i++) {
          values[i] = tensor.getFloatData(i);
        }
        break;
      case TensorProto.DataType.DOUBLE_VALUE:
        check(tensor, tensor.getDoubleDataCount(), count);
        for (int i = 0; i < count; i++) {
          values[i] = tensor.getDoubleData(i);
        }
        break;
      case TensorProto.DataType.INT64_VALUE:
        check(tensor, tensor.getInt64DataCount(), count);
        for (int i = 0; i < count; i++) {
          values[i] = tensor.getInt64Data(i);
        }
        break;
      case TensorProto.DataType.FLOAT16_VALUE:
        check(tensor, tensor.getInt32DataCount(), count);
        for (int i = 0; i < count; i++) {
          values[i] = halfToFloat(tensor.getInt32Data(i));
        }
        break;
      case TensorProto.DataType.INT32_VALUE:
      case TensorProto.DataType.INT16_VALUE:
      case TensorProto.DataType.INT8_VALUE:
      case TensorProto.DataType.UINT8_VALUE:
      case TensorProto.DataType.BOOL_VALUE:
        check(tensor, tensor.getInt32DataCount(), count);
        for (int i = 0; i < count; i++) {
          values[i] = tensor.getInt32Data(i);
        }
        break;
      default:
        throw unsupported(tensor);
    }
    return values;
  }

  /**
   * The single element of a one-element tensor.
   *
   * @param tensor the tensor
   * @return its value, empty when it has more or fewer than one element or an unreadable type
   */
  public static java.util.Optional<Double> scalar(TensorProto tensor) {
    try {
      double[] values = doubles(tensor);
      return values.length == 1
          ? java.util.Optional.of(values[0])
          : java.util.Optional.<Double>empty();
    } catch (IllegalArgumentException e) {
      return java.util.Optional.empty();
    }
  }

  private static int width(TensorProto tensor) {
    switch (tensor.getDataType()) {
      case TensorProto.DataType.FLOAT_VALUE:
      case TensorProto.DataType.INT32_VALUE:
        return 4;
      case TensorProto.DataType.DOUBLE_VALUE:
      case TensorProto.DataType.INT64_VALUE:
        return 8;
      case TensorProto.DataType.FLOAT16_VALUE:
      case TensorProto.DataType.INT16_VALUE:
        return 2;
      case TensorProto.DataType.INT8_VALUE:
      case TensorProto.DataType.UINT8_VALUE:
      case TensorProto.DataType.BOOL_VALUE:
        return 1;
      default:
        throw unsupported(tensor);
    }
  }

  private static double readRaw(ByteBuffer raw, int type) {
    switch (type) {
      case TensorProto.DataType.FLOAT_VALUE:
        return raw.getFloat();
      case TensorProto.DataType.DOUBLE_VALUE:
        return raw.getDouble();
      case TensorProto.DataType.INT64_VALUE:
        return raw.getLong();
      case TensorProto.DataType.INT32_VALUE:
        return raw.getInt();
      case TensorProto.DataType.INT16_VALUE:
        return raw.getShort();
      case TensorProto.DataType.FLOAT16_VALUE:
        return halfToFloat(raw.getShort());
      case TensorProto.DataType.INT8_VALUE:
        return raw.get();
      case TensorProto.DataType.UINT8_VALUE:
      case TensorProto.DataType.BOOL_VALUE:
        return raw.get() & 0xff;
      default:
        throw new IllegalStateException("unreachable element type " + type);
    }
  }

  /** An IEEE 754 half-precision bit pattern (the low 16 bits) as a float. */
  static float halfToFloat(int bits) {
    int sign = (bits >> 15) & 1;
    int exponent = (bits >> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    float magnitude;
    if (exponent == 0) {
      magnitude = mantissa * 0x1p-24f; // subnormal
    } else if (exponent == 31) {
      magnitude = mantissa == 0 ? Float.POSITIVE_INFINITY : Float.NaN;
    } else {
      magnitude = (1 + mantissa / 1024f) * (float) Math.pow(2, exponent - 15);
    }
    return sign == 1 ? -magnitude : magnitude;
  }

  private static void check(TensorProto tensor, int actual, int expected) {
    if (actual != expected) {
      throw new IllegalArgumentException(
          "tensor '"
              + tensor.getName()
              + "' holds "
              + actual
              + " values for dims "
              + tensor.getDimsList());
    }
  }

  private static IllegalArgumentException unsupported(TensorProto tensor) {
    return new IllegalArgumentException(
        "tensor '"
            + tensor.getName()
            + "' has element type "
            + tensor.getDataType()
            + ", which this reader does not handle");
  }
}
