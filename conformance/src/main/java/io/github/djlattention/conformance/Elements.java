package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * Element access shared by the element-wise comparisons ({@link Comparison} and the CLI's {@code
 * check}): an array's values as float64 in row-major order, and a flat index back to a multi-index.
 */
public final class Elements {

  private Elements() {}

  /**
   * The array's values as float64, in row-major order.
   *
   * @param array the array
   * @return its values
   */
  public static double[] toDoubles(NDArray array) {
    if (array.getDataType() == DataType.FLOAT64) {
      return array.toDoubleArray();
    }
    try (NDArray converted = array.toType(DataType.FLOAT64, true)) {
      return converted.toDoubleArray();
    }
  }

  /**
   * The multi-index of a row-major flat index.
   *
   * @param flat the flat index, in {@code [0, product of shape)}
   * @param shape the array's shape
   * @return one index per axis
   */
  public static long[] unravel(int flat, long[] shape) {
    long[] index = new long[shape.length];
    long rest = flat;
    for (int d = shape.length - 1; d >= 0; d--) {
      index[d] = rest % shape[d];
      rest /= shape[d];
    }
    return index;
  }
}
