package io.github.djlattention.ops.contrib;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * Rotary position embedding with caller's cos/sin caches, as ONNX Runtime's {@code
 * com.microsoft.RotaryEmbedding} and {@code GroupQueryAttention}'s {@code do_rotary} apply it.
 *
 * <p>Legend: B batch, N heads, S length, D head size, R the rotary dimension (twice the caches'
 * second axis, at most D), P the caches' positions. For a token at position p, the first R of its D
 * features are rotated pairwise by the angles whose cosines and sines are row p of the caches;
 * features R … D−1 pass unchanged. The pairs are (x[d], x[d + R/2]) for d &lt; R/2 (the default,
 * "half" layout) or (x[2d], x[2d + 1]) when interleaved; each pair (a, b) becomes (a·cos − b·sin,
 * b·cos + a·sin).
 */
public final class RotaryEmbedding {

  private RotaryEmbedding() {}

  /**
   * Rotates the first R features of every token.
   *
   * @param x (B, N, S, D)
   * @param cos (P, R/2), the cosines by position
   * @param sin (P, R/2), the sines by position
   * @param positions (B, S) positions, each in [0, P)
   * @param interleaved whether the pairs are adjacent features rather than the two halves
   * @return the rotated array (B, N, S, D), in {@code x}'s manager
   * @throws IllegalArgumentException when the shapes do not fit or a position is outside the caches
   */
  public static NDArray apply(
      NDArray x, NDArray cos, NDArray sin, long[][] positions, boolean interleaved) {
    Shape xs = x.getShape();
    Shape cs = cos.getShape();
    if (xs.dimension() != 4) {
      throw new IllegalArgumentException("rotary embedding takes (B, N, S, D), got " + xs);
    }
    if (cs.dimension() != 2 || !cs.equals(sin.getShape())) {
      throw new IllegalArgumentException(
          "cos and sin caches must both be (P, R/2), got " + cs + " and " + sin.getShape());
    }
    long batch = xs.get(0);
    long length = xs.get(2);
    long headSize = xs.get(3);
    long half = cs.get(1);
    long rotary = 2 * half;
    if (half == 0 || rotary > headSize) {
      throw new IllegalArgumentException(
          "the caches' second axis ("
              + half
              + ") must be between 1 and half the head size ("
              + headSize
              + ")");
    }
    if (positions.length != batch) {
      throw new IllegalArgumentException(
          "positions for " + positions.length + " batches, the input has " + batch);
    }
    long[] flat = new long[Math.toIntExact(batch * length)];
    for (int b = 0; b < batch; b++) {
      if (positions[b].length != length) {
        throw new IllegalArgumentException(
            "batch " + b + " has " + positions[b].length + " positions for " + length + " tokens");
      }
      for (int s = 0; s < length; s++) {
        long p = positions[b][s];
        if (p < 0 || p >= cs.get(0)) {
          throw new IllegalArgumentException(
              "position "
                  + p
                  + " of batch "
                  + b
                  + ", token "
                  + s
                  + " is outside the caches' "
                  + cs.get(0)
                  + " positions");
        }
        flat[b * Math.toIntExact(length) + s] = p;
      }
    }
    NDManager parent = x.getManager();
    try (NDManager scope = parent.newSubManager()) {
      NDArray input = view(x, scope);
      NDArray index = scope.create(flat);
      Shape angles = new Shape(batch, 1, length, half);
      NDArray c = view(cos, scope).get(index).reshape(angles).toType(x.getDataType(), false);
      NDArray s = view(sin, scope).get(index).reshape(angles).toType(x.getDataType(), false);
      NDArray rotated;
      if (interleaved) {
        NDArray pairs =
            input.get(new NDIndex("..., :{}", rotary)).reshape(batch, xs.get(1), length, half, 2);
        NDArray a = pairs.get(new NDIndex("..., 0")); // (B, N, S, R/2)
        NDArray b = pairs.get(new NDIndex("..., 1"));
        rotated =
            NDArrays.stack(
                    new ai.djl.ndarray.NDList(a.mul(c).sub(b.mul(s)), b.mul(c).add(a.mul(s))), 4)
                .reshape(batch, xs.get(1), length, rotary); // (B, N, S, R)
      } else {
        NDArray a = input.get(new NDIndex("..., :{}", half)); // (B, N, S, R/2)
        NDArray b = input.get(new NDIndex("..., {}:{}", half, rotary));
        rotated = a.mul(c).sub(b.mul(s)).concat(b.mul(c).add(a.mul(s)), 3); // (B, N, S, R)
      }
      if (rotary < headSize) {
        rotated = rotated.concat(input.get(new NDIndex("..., {}:", rotary)), 3); // (B, N, S, D)
      }
      rotated.attach(parent);
      return rotated;
    }
  }

  private static NDArray view(NDArray array, NDManager scope) {
    NDArray view = array.reshape(array.getShape());
    view.attach(scope);
    return view;
  }
}
