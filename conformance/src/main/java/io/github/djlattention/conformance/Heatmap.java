package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * A two-dimensional slice of attention weights for display: row = query, column = key.
 *
 * @param title what the map shows, e.g. {@code djl} or {@code djl - onnxruntime}
 * @param rows number of query positions (S)
 * @param columns number of key positions (T)
 * @param values row-major values, {@code rows * columns} of them
 */
public record Heatmap(String title, int rows, int columns, float[] values) {

  /**
   * Checks the value count.
   *
   * @throws IllegalArgumentException if {@code values.length != rows * columns}
   */
  public Heatmap {
    if (values.length != rows * columns) {
      throw new IllegalArgumentException(
          "heatmap '" + title + "' has " + values.length + " values for " + rows + "x" + columns);
    }
  }

  /**
   * The first (batch 0, head 0) {@code (S, T)} slice of a weights array.
   *
   * @param title the map's title
   * @param weights weights of shape (..., S, T), at least 2-D
   * @return the slice
   * @throws IllegalArgumentException if the array has fewer than two dimensions
   */
  public static Heatmap firstSlice(String title, NDArray weights) {
    Shape shape = weights.getShape();
    if (shape.dimension() < 2) {
      throw new IllegalArgumentException("attention weights must be at least 2-D, got " + shape);
    }
    int rows = Math.toIntExact(shape.get(shape.dimension() - 2));
    int columns = Math.toIntExact(shape.get(shape.dimension() - 1));
    try (NDArray flat = weights.reshape(-1, rows, columns); // (B*H, S, T)
        NDArray first = flat.get(0); // (S, T)
        NDArray asFloat = first.toType(DataType.FLOAT32, true)) {
      return new Heatmap(title, rows, columns, asFloat.toFloatArray());
    }
  }

  /**
   * This map minus another of the same size.
   *
   * @param title the difference's title
   * @param other the subtrahend
   * @return the element-wise difference
   * @throws IllegalArgumentException if the sizes differ
   */
  public Heatmap minus(String title, Heatmap other) {
    if (other.rows != rows || other.columns != columns) {
      throw new IllegalArgumentException(
          "cannot subtract a "
              + other.rows
              + "x"
              + other.columns
              + " map from a "
              + rows
              + "x"
              + columns
              + " map");
    }
    float[] difference = new float[values.length];
    for (int i = 0; i < values.length; i++) {
      difference[i] = values[i] - other.values[i];
    }
    return new Heatmap(title, rows, columns, difference);
  }
}
