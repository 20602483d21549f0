package io.github.djlattention.verify;

import ai.onnx.proto.OnnxMl.TensorProto;
import io.github.djlattention.onnx.inspect.ConstantValues;
import io.github.djlattention.onnx.inspect.ModelGraph;
import io.github.djlattention.onnx.inspect.Projection;

/**
 * A projection's weights as the project's blocks store them: W (out, in) row-major, y = x·Wᵀ + b,
 * read from the graph's initializers in float64; quantized weights are dequantized, {@code (W_q −
 * zero_point) · scale} per column (or with one scale for all).
 *
 * @param weight (out, in), row-major
 * @param bias (out), or null
 * @param in input features
 * @param out output features
 */
record LinearWeights(double[] weight, double[] bias, int in, int out) {

  /**
   * Reads a projection's weights (its columns only, for a packed weight).
   *
   * @throws IllegalArgumentException when an initializer is missing or has an unexpected shape
   */
  static LinearWeights of(Projection projection, ModelGraph graph) {
    TensorProto stored = constant(graph, projection.weight());
    long[] dims = ConstantValues.dims(stored);
    if (dims.length != 2) {
      throw new IllegalArgumentException(
          "weight " + projection.weight() + " is not a matrix: " + java.util.Arrays.toString(dims));
    }
    boolean outIn =
        projection instanceof Projection.FloatWeights f && f.transposed(); // stored (out, in)
    int rows = Math.toIntExact(dims[0]);
    int columns = Math.toIntExact(dims[1]);
    int in = outIn ? columns : rows;
    int totalOut = outIn ? rows : columns;
    int start = Math.toIntExact(projection.columnStart());
    int end = Math.toIntExact(projection.columnEnd());
    if (start < 0 || end > totalOut || start >= end) {
      throw new IllegalArgumentException(
          "columns [" + start + ", " + end + ") do not fit weight " + projection.weight());
    }
    int out = end - start;
    double[] values = ConstantValues.doubles(stored);
    double[] scale = null;
    double[] zeroPoint = null;
    if (projection instanceof Projection.DynamicQuantized q) {
      scale = ConstantValues.doubles(constant(graph, q.weightScale()));
      zeroPoint =
          q.weightZeroPoint() == null
              ? null
              : ConstantValues.doubles(constant(graph, q.weightZeroPoint()));
    } else if (projection instanceof Projection.QLinear q) {
      scale = ConstantValues.doubles(constant(graph, q.weightScale()));
      zeroPoint =
          q.weightZeroPoint() == null
              ? null
              : ConstantValues.doubles(constant(graph, q.weightZeroPoint()));
    }
    double[] weight = new double[out * in];
    for (int o = 0; o < out; o++) {
      int column = start + o;
      for (int i = 0; i < in; i++) {
        double w = outIn ? values[column * in + i] : values[i * totalOut + column];
        if (scale != null) {
          double z = zeroPoint == null ? 0 : perColumn(zeroPoint, column, projection.weight());
          w = (w - z) * perColumn(scale, column, projection.weight());
        }
        weight[o * in + i] = w;
      }
    }
    double[] bias = null;
    if (projection.bias() != null) {
      double[] all = ConstantValues.doubles(constant(graph, projection.bias()));
      if (all.length != totalOut) {
        throw new IllegalArgumentException(
            "bias "
                + projection.bias()
                + " has "
                + all.length
                + " values for "
                + totalOut
                + " columns");
      }
      bias = java.util.Arrays.copyOfRange(all, start, end);
    }
    return new LinearWeights(weight, bias, in, out);
  }

  /** The same map with W and b multiplied by a factor (a scale folded into the query). */
  LinearWeights times(double factor) {
    double[] w = weight.clone();
    for (int i = 0; i < w.length; i++) {
      w[i] *= factor;
    }
    double[] b = bias == null ? null : bias.clone();
    if (b != null) {
      for (int i = 0; i < b.length; i++) {
        b[i] *= factor;
      }
    }
    return new LinearWeights(w, b, in, out);
  }

  /**
   * Applies the map in float64 to x (rows, in).
   *
   * @param x row-major (rows, in)
   * @param rows the number of rows
   * @return (rows, out)
   */
  double[] apply(double[] x, int rows) {
    double[] y = new double[rows * out];
    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double sum = bias == null ? 0 : bias[o];
        int wBase = o * in;
        int xBase = r * in;
        for (int i = 0; i < in; i++) {
          sum += x[xBase + i] * weight[wBase + i];
        }
        y[r * out + o] = sum;
      }
    }
    return y;
  }

  private static double perColumn(double[] values, int column, String weight) {
    if (values.length == 1) {
      return values[0];
    }
    if (column >= values.length) {
      throw new IllegalArgumentException(
          "quantization parameters of "
              + weight
              + " have "
              + values.length
              + " values, column "
              + column
              + " has none");
    }
    return values[column];
  }

  private static TensorProto constant(ModelGraph graph, String name) {
    return graph
        .constant(name)
        .orElseThrow(
            () -> new IllegalArgumentException("initializer '" + name + "' is not in the model"));
  }
}
