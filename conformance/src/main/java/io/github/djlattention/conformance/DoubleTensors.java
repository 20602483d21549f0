package io.github.djlattention.conformance;

import ai.djl.ndarray.types.Shape;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.Arrays;

/**
 * The float64 arithmetic around the reference attention that block cases need: projections,
 * splitting and merging heads, repeating key/value heads and broadcasting masks. Plain loops over
 * row-major arrays, like {@link io.github.djlattention.reference.ReferenceAttention}.
 *
 * <p>Legend: B batch, L sequence length, H heads, G key/value heads, D head size.
 */
final class DoubleTensors {

  private DoubleTensors() {}

  /**
   * {@code y = x·Wᵀ + b} over the last axis.
   *
   * @param x (…, in)
   * @param weight (out, in)
   * @param bias (out) or null
   * @return (…, out)
   */
  static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
    int in = weight.shape()[1];
    int out = weight.shape()[0];
    int[] xs = x.shape();
    if (xs[xs.length - 1] != in) {
      throw new IllegalArgumentException(
          "x has " + xs[xs.length - 1] + " features, the weight takes " + in);
    }
    int rows = x.data().length / in;
    double[] y = new double[rows * out];
    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double sum = bias == null ? 0 : bias.data()[o];
        for (int i = 0; i < in; i++) {
          sum += x.data()[r * in + i] * weight.data()[o * in + i];
        }
        y[r * out + o] = sum;
      }
    }
    int[] ys = xs.clone();
    ys[ys.length - 1] = out;
    return new Tensor(y, ys);
  }

  /**
   * (B, L, H·D) to (B, H, L, D).
   *
   * @param x the merged tensor
   * @param heads H
   * @return the split tensor
   */
  static Tensor splitHeads(Tensor x, int heads) {
    int b = x.shape()[0];
    int length = x.shape()[1];
    int d = x.shape()[2] / heads;
    double[] y = new double[x.data().length];
    for (int n = 0; n < b; n++) {
      for (int l = 0; l < length; l++) {
        for (int h = 0; h < heads; h++) {
          System.arraycopy(
              x.data(),
              ((n * length + l) * heads + h) * d,
              y,
              ((n * heads + h) * length + l) * d,
              d);
        }
      }
    }
    return new Tensor(y, new int[] {b, heads, length, d});
  }

  /**
   * (B, H, L, D) to (B, L, H·D).
   *
   * @param x the split tensor
   * @return the merged tensor
   */
  static Tensor mergeHeads(Tensor x) {
    int[] s = x.shape();
    int b = s[0];
    int heads = s[1];
    int length = s[2];
    int d = s[3];
    double[] y = new double[x.data().length];
    for (int n = 0; n < b; n++) {
      for (int h = 0; h < heads; h++) {
        for (int l = 0; l < length; l++) {
          System.arraycopy(
              x.data(),
              ((n * heads + h) * length + l) * d,
              y,
              ((n * length + l) * heads + h) * d,
              d);
        }
      }
    }
    return new Tensor(y, new int[] {b, length, heads * d});
  }

  /**
   * (B, G, L, D) to (B, H, L, D): query head h reads key/value head h / (H/G).
   *
   * @param x the key or value
   * @param heads H, a multiple of G
   * @return the repeated tensor
   */
  static Tensor repeatHeads(Tensor x, int heads) {
    int[] s = x.shape();
    int groups = s[1];
    int block = s[2] * s[3];
    double[] y = new double[s[0] * heads * block];
    for (int n = 0; n < s[0]; n++) {
      for (int h = 0; h < heads; h++) {
        int g = h / (heads / groups);
        System.arraycopy(x.data(), (n * groups + g) * block, y, (n * heads + h) * block, block);
      }
    }
    return new Tensor(y, new int[] {s[0], heads, s[2], s[3]});
  }

  /**
   * Averages over axis 1: (B, H, S, T) to (B, S, T).
   *
   * @param x the per-head tensor
   * @return the mean
   */
  static Tensor meanOverHeads(Tensor x) {
    int[] s = x.shape();
    int plane = s[2] * s[3];
    double[] y = new double[s[0] * plane];
    for (int n = 0; n < s[0]; n++) {
      for (int h = 0; h < s[1]; h++) {
        for (int e = 0; e < plane; e++) {
          y[n * plane + e] += x.data()[(n * s[1] + h) * plane + e] / s[1];
        }
      }
    }
    return new Tensor(y, new int[] {s[0], s[2], s[3]});
  }

  /**
   * Where each element of a broadcast comes from: for every element of {@code full} (row-major),
   * the flat index of its source in a 4-D array of {@code shape}.
   *
   * @param shape four sizes, each 1 or the full size
   * @param full the full shape
   * @return the source indices
   */
  static int[] broadcastIndex(int[] shape, int[] full) {
    int size = full[0] * full[1] * full[2] * full[3];
    int[] index = new int[size];
    int n = 0;
    for (int a = 0; a < full[0]; a++) {
      for (int b = 0; b < full[1]; b++) {
        for (int c = 0; c < full[2]; c++) {
          for (int d = 0; d < full[3]; d++) {
            int aa = shape[0] == 1 ? 0 : a;
            int bb = shape[1] == 1 ? 0 : b;
            int cc = shape[2] == 1 ? 0 : c;
            int dd = shape[3] == 1 ? 0 : d;
            index[n++] = ((aa * shape[1] + bb) * shape[2] + cc) * shape[3] + dd;
          }
        }
      }
    }
    return index;
  }

  /**
   * A new shape with the same elements.
   *
   * @param x the tensor
   * @param shape the new sizes
   * @return the reshaped tensor
   */
  static Tensor reshape(Tensor x, int... shape) {
    return new Tensor(x.data(), shape);
  }

  /**
   * The DJL shape of int sizes.
   *
   * @param shape the sizes
   * @return the shape
   */
  static Shape toShape(int[] shape) {
    return new Shape(Arrays.stream(shape).asLongStream().toArray());
  }
}
