package io.github.djlattention.ops.contrib;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/** Array steps the contrib operators share. Legend as in {@link ContribMultiHeadAttention}. */
final class ContribArrays {

  private ContribArrays() {}

  /**
   * A shared cache buffer with new rows written at a position, the rest unchanged.
   *
   * @param buffer (B, N, M, D)
   * @param rows (B, N, L, D)
   * @param at the first row written; at + L ≤ M
   * @return (B, N, M, D), a new array
   */
  static NDArray write(NDArray buffer, NDArray rows, long at) {
    long length = buffer.getShape().get(2);
    long end = at + rows.getShape().get(2);
    NDArray updated = at == 0 ? rows : buffer.get(new NDIndex(":, :, :{}", at)).concat(rows, 2);
    if (end < length) {
      updated = updated.concat(buffer.get(new NDIndex(":, :, {}:", end)), 2);
    }
    return updated; // (B, N, M, D)
  }

  /** (B, H, S, Dv) to (B, S, H·Dv). */
  static NDArray mergeHeads(NDArray x) {
    Shape s = x.getShape();
    return x.transpose(0, 2, 1, 3).reshape(s.get(0), s.get(2), s.get(1) * s.get(3));
  }

  /** Hands the results to the caller's manager before the call's scope closes. */
  static ContribResult result(
      NDManager parent, NDArray output, NDArray presentKey, NDArray presentValue, NDArray weights) {
    NDArray[] arrays = {output, presentKey, presentValue, weights};
    for (int i = 0; i < arrays.length; i++) {
      if (arrays[i] != null) {
        arrays[i] = arrays[i].reshape(arrays[i].getShape()); // a handle of our own to hand over
        arrays[i].attach(parent);
      }
    }
    return new ContribResult(arrays[0], arrays[1], arrays[2], arrays[3]);
  }
}
