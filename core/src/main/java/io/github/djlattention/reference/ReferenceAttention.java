package io.github.djlattention.reference;

import java.util.Arrays;

/**
 * Scaled dot-product attention in plain loops over {@code double} arrays, with no library
 * underneath: the control that the NDArray implementations are compared with.
 *
 * <p>All tensors are row-major (C order) and four-dimensional: query (B, H, S, D), key (B, G, T,
 * D), value (B, G, T, Dv), with H a multiple of G; query head h reads key/value head h / (H/G). The
 * optional additive mask broadcasts to (B, H, S, T) by the NumPy rules (each of its 4 sizes is 1 or
 * the full size). The steps follow the ONNX {@code Attention} operator: scale, softcap, mask,
 * causal, window and padding masks, softmax (a fully masked row gives zero weights), weighted sum.
 * A KV cache is given as the full key and value (cache followed by the new entries) plus the cache
 * length, which aligns the causal mask and the window; see {@link Options}.
 */
public final class ReferenceAttention {

  private ReferenceAttention() {}

  /**
   * A row-major tensor of doubles.
   *
   * @param data the elements in C order
   * @param shape the sizes, outermost first
   */
  public record Tensor(double[] data, int[] shape) {

    /**
     * Validates that {@code data} holds exactly the elements {@code shape} describes.
     *
     * @throws IllegalArgumentException when the sizes disagree
     */
    public Tensor {
      long size = 1;
      for (int dim : shape) {
        if (dim < 0) {
          throw new IllegalArgumentException("negative size in shape " + Arrays.toString(shape));
        }
        size *= dim;
      }
      if (size != data.length) {
        throw new IllegalArgumentException(
            "shape " + Arrays.toString(shape) + " needs " + size + " elements, got " + data.length);
      }
    }

    /** Returns the element at a 4-D index, broadcasting any axis of size 1. */
    double at(int b, int h, int i, int j) {
      int bb = shape[0] == 1 ? 0 : b;
      int hh = shape[1] == 1 ? 0 : h;
      int ii = shape[2] == 1 ? 0 : i;
      int jj = shape[3] == 1 ? 0 : j;
      return data[((bb * shape[1] + hh) * shape[2] + ii) * shape[3] + jj];
    }
  }

  /**
   * The attention output and weights.
   *
   * @param output (B, H, S, Dv)
   * @param weights (B, H, S, T)
   */
  public record Result(Tensor output, Tensor weights) {}

  /**
   * Settings of the reference attention.
   *
   * <p>Query i of batch b sits at position {@code p = offset + i}: {@code offset} is {@code
   * cacheLength} when it is at least 0 (the key holds a cache of that length followed by the new
   * keys), else {@code validKeys[b] − S} when valid key counts are given, else 0. Key j is hidden
   * when {@code causal} and {@code j > p}, when {@code leftWindow ≥ 0} and {@code j < p −
   * leftWindow}, when {@code rightWindow ≥ 0} and {@code j > p + rightWindow}, and when {@code j ≥
   * validKeys[b]}.
   *
   * @param mask an additive mask broadcastable to (B, H, S, T), −∞ where a key is masked, or null
   * @param causal whether query i sees only keys j ≤ its position
   * @param scale the score factor, or null for 1/√D
   * @param softcap the softcap c (scores become c·tanh(scores/c)), or null for none
   * @param cacheLength the length of the cache at the start of the key, or -1 for none
   * @param validKeys the number of valid keys per batch (B), or null if all are valid
   * @param leftWindow keys before the query's position it still sees, or -1 for unbounded
   * @param rightWindow keys after the query's position it still sees, or -1 for unbounded
   */
  public record Options(
      Tensor mask,
      boolean causal,
      Double scale,
      Double softcap,
      int cacheLength,
      long[] validKeys,
      int leftWindow,
      int rightWindow) {

    /**
     * Settings without cache, padding or window.
     *
     * @param mask an additive mask, or null
     * @param causal whether query i sees only keys j ≤ i
     * @param scale the score factor, or null for 1/√D
     * @param softcap the softcap, or null
     */
    public Options(Tensor mask, boolean causal, Double scale, Double softcap) {
      this(mask, causal, scale, softcap, -1, null, -1, -1);
    }

    /** No mask, not causal, scale 1/√D, no softcap. */
    public static Options defaults() {
      return new Options(null, false, null, null);
    }

    /**
     * Turns a boolean mask (true = the key takes part) into the additive mask this class takes.
     *
     * @param keep the mask elements in C order
     * @param shape its 4-D shape, broadcastable to (B, H, S, T)
     * @return 0 where {@code keep} is true, −∞ where it is false
     */
    public static Tensor additive(boolean[] keep, int[] shape) {
      double[] bias = new double[keep.length];
      for (int n = 0; n < keep.length; n++) {
        bias[n] = keep[n] ? 0 : Double.NEGATIVE_INFINITY;
      }
      return new Tensor(bias, shape);
    }
  }

  /**
   * A shape of a call of rank 2, 3 or 4 on the reference's four axes: (S, D) becomes (1, 1, S, D),
   * (B, S, D) becomes (B, 1, S, D), a rank-4 shape stays.
   *
   * @param shape two to four sizes
   * @return four sizes
   * @throws IllegalArgumentException for another rank
   */
  public static int[] onFourAxes(int[] shape) {
    switch (shape.length) {
      case 2:
        return new int[] {1, 1, shape[0], shape[1]};
      case 3:
        return new int[] {shape[0], 1, shape[1], shape[2]};
      case 4:
        return shape.clone();
      default:
        throw new IllegalArgumentException(
            "expected a shape of rank 2 to 4, got " + Arrays.toString(shape));
    }
  }

  /**
   * A (B, H, L, X) shape as a call of rank 2, 3 or 4 writes it: (L, X), (B, L, X) or (B, H, L, X);
   * the inverse of {@link #onFourAxes}.
   *
   * @param rank 2, 3 or 4
   * @param batch B
   * @param heads H
   * @param length L
   * @param size X
   * @return the sizes at that rank
   * @throws IllegalArgumentException for another rank
   */
  public static int[] atRank(int rank, int batch, int heads, int length, int size) {
    switch (rank) {
      case 2:
        return new int[] {length, size};
      case 3:
        return new int[] {batch, length, size};
      case 4:
        return new int[] {batch, heads, length, size};
      default:
        throw new IllegalArgumentException("expected rank 2 to 4, got " + rank);
    }
  }

  /**
   * A mask's shape on the reference's four axes, for a call of rank 2 to 4: aligned on the right
   * against the weights of that rank (NumPy's rule, missing axes of size 1), then {@link
   * #onFourAxes}.
   *
   * @param maskShape the mask's sizes, at most {@code rank} of them
   * @param rank the rank of the call's tensors
   * @return four sizes, 1 where the mask broadcasts
   * @throws IllegalArgumentException if the mask has more axes than the rank, or the rank is not 2
   *     to 4
   */
  public static int[] maskOnFourAxes(int[] maskShape, int rank) {
    if (maskShape.length > rank) {
      throw new IllegalArgumentException(
          "a mask " + Arrays.toString(maskShape) + " has more axes than rank " + rank);
    }
    int[] aligned = new int[rank];
    Arrays.fill(aligned, 1);
    System.arraycopy(maskShape, 0, aligned, rank - maskShape.length, maskShape.length);
    return onFourAxes(aligned);
  }

  /**
   * Computes attention in float64.
   *
   * @param query (B, H, S, D)
   * @param key (B, G, T, D)
   * @param value (B, G, T, Dv)
   * @param options the mask, causal flag, scale and softcap
   * @return the output and the weights
   * @throws IllegalArgumentException when the shapes do not fit together
   */
  public static Result attention(Tensor query, Tensor key, Tensor value, Options options) {
    int[] qs = query.shape();
    int[] ks = key.shape();
    int[] vs = value.shape();
    if (qs.length != 4 || ks.length != 4 || vs.length != 4) {
      throw new IllegalArgumentException("the reference takes 4-D (B, H, S, D) tensors");
    }
    int batch = qs[0];
    int heads = qs[1];
    int queryLength = qs[2];
    int headSize = qs[3];
    int kvHeads = ks[1];
    int keyLength = ks[2];
    int valueSize = vs[3];
    if (ks[0] != batch
        || vs[0] != batch
        || ks[3] != headSize
        || vs[1] != kvHeads
        || vs[2] != keyLength
        || kvHeads == 0
        || heads % kvHeads != 0) {
      throw new IllegalArgumentException(
          "shapes do not fit: query "
              + Arrays.toString(qs)
              + ", key "
              + Arrays.toString(ks)
              + ", value "
              + Arrays.toString(vs));
    }
    double scale = options.scale() != null ? options.scale() : 1.0 / Math.sqrt(headSize);
    int group = heads / kvHeads;

    double[] output = new double[batch * heads * queryLength * valueSize];
    double[] weights = new double[batch * heads * queryLength * keyLength];
    double[] row = new double[keyLength];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        int g = h / group;
        for (int i = 0; i < queryLength; i++) {
          // scores of query i against every key j
          for (int j = 0; j < keyLength; j++) {
            double dot = 0;
            for (int d = 0; d < headSize; d++) {
              dot += at(query, b, h, i, d) * at(key, b, g, j, d);
            }
            double score = dot * scale;
            if (options.softcap() != null) {
              score = options.softcap() * Math.tanh(score / options.softcap());
            }
            if (options.mask() != null) {
              score += options.mask().at(b, h, i, j);
            }
            if (hidden(options, b, queryLength, i, j)) {
              score = Double.NEGATIVE_INFINITY;
            }
            row[j] = score;
          }
          // softmax over the keys; a row with every key masked gets zeros
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j < keyLength; j++) {
            max = Math.max(max, row[j]);
          }
          double sum = 0;
          for (int j = 0; j < keyLength; j++) {
            row[j] = max == Double.NEGATIVE_INFINITY ? 0 : Math.exp(row[j] - max);
            sum += row[j];
          }
          int weightsBase = ((b * heads + h) * queryLength + i) * keyLength;
          for (int j = 0; j < keyLength; j++) {
            weights[weightsBase + j] = sum == 0 ? 0 : row[j] / sum;
          }
          // weighted sum of the values
          int outputBase = ((b * heads + h) * queryLength + i) * valueSize;
          for (int e = 0; e < valueSize; e++) {
            double acc = 0;
            for (int j = 0; j < keyLength; j++) {
              acc += weights[weightsBase + j] * at(value, b, g, j, e);
            }
            output[outputBase + e] = acc;
          }
        }
      }
    }
    return new Result(
        new Tensor(output, new int[] {batch, heads, queryLength, valueSize}),
        new Tensor(weights, new int[] {batch, heads, queryLength, keyLength}));
  }

  /** Whether the causal, window or padding rules hide key j from query i of batch b. */
  private static boolean hidden(Options options, int b, int queryLength, int i, int j) {
    long offset;
    if (options.cacheLength() >= 0) {
      offset = options.cacheLength();
    } else if (options.validKeys() != null) {
      offset = options.validKeys()[b] - queryLength;
    } else {
      offset = 0;
    }
    long position = offset + i;
    return (options.causal() && j > position)
        || (options.leftWindow() >= 0 && j < position - options.leftWindow())
        || (options.rightWindow() >= 0 && j > position + options.rightWindow())
        || (options.validKeys() != null && j >= options.validKeys()[b]);
  }

  private static double at(Tensor t, int b, int h, int i, int d) {
    int[] s = t.shape();
    return t.data()[((b * s[1] + h) * s[2] + i) * s[3] + d];
  }
}
