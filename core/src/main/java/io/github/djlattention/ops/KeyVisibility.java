package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Which keys each query may see, from the causal flag, the sliding window and the per-batch count
 * of valid keys.
 *
 * <p>Query i of the current block sits at absolute position {@code p = offset[b] + i}, where the
 * offset is the cache length when a KV cache is appended, else {@code nonPad[b] − S} when valid key
 * counts are given, else 0. Key j is visible when {@code j ≤ p} (causal), {@code p − left ≤ j}
 * (left window), {@code j ≤ p + right} (right window) and {@code j < nonPad[b]} (padding).
 */
final class KeyVisibility {

  private KeyVisibility() {}

  /**
   * Builds the visibility mask, or returns null when every key is visible.
   *
   * @param manager creates the temporaries
   * @param options the causal flag, window and valid key counts
   * @param batch B
   * @param queryLength S
   * @param keyLength T (including the cache)
   * @param cacheLength the length of the appended cache, or -1 when there is none
   * @return boolean (B or 1, 1, S, T), true where the key is visible; null if all are
   * @throws IllegalArgumentException when the valid key counts do not have B elements
   */
  static NDArray mask(
      NDManager manager,
      AttentionOptions options,
      long batch,
      long queryLength,
      long keyLength,
      long cacheLength) {
    NDArray nonPad = options.nonPadKeyLengths();
    boolean windowed = options.leftWindow() >= 0 || options.rightWindow() >= 0;
    if (!options.causal() && !windowed && nonPad == null) {
      return null;
    }
    NDArray lengths = null;
    if (nonPad != null) {
      if (nonPad.getShape().dimension() != 1 || nonPad.size() != batch) {
        throw new IllegalArgumentException(
            "valid key counts "
                + nonPad.getShape()
                + " must have one element per batch ("
                + batch
                + ")");
      }
      lengths = Attention.borrow(manager, nonPad); // the caller's array stays the caller's
      lengths = lengths.toType(DataType.INT64, false).reshape(batch, 1, 1, 1); // (B, 1, 1, 1)
    }
    NDArray offset; // (B or 1, 1, 1, 1)
    if (cacheLength >= 0) {
      offset = manager.create(new long[] {cacheLength}).reshape(1, 1, 1, 1);
    } else if (lengths != null) {
      offset = lengths.sub(queryLength);
    } else {
      offset = manager.create(new long[] {0}).reshape(1, 1, 1, 1);
    }
    NDArray rows =
        manager
            .arange(0, Math.toIntExact(queryLength), 1, DataType.INT64)
            .reshape(1, 1, queryLength, 1);
    NDArray position = rows.add(offset); // (B or 1, 1, S, 1)
    NDArray cols =
        manager
            .arange(0, Math.toIntExact(keyLength), 1, DataType.INT64)
            .reshape(1, 1, 1, keyLength);
    NDArray visible = manager.ones(new Shape(1, 1, 1, keyLength), DataType.BOOLEAN); // (1, 1, 1, T)
    if (options.causal()) {
      visible = visible.logicalAnd(cols.lte(position)); // (B or 1, 1, S, T)
    }
    if (options.leftWindow() >= 0) {
      visible = visible.logicalAnd(cols.gte(position.sub(options.leftWindow())));
    }
    if (options.rightWindow() >= 0) {
      visible = visible.logicalAnd(cols.lte(position.add(options.rightWindow())));
    }
    if (lengths != null) {
      visible = visible.logicalAnd(cols.lt(lengths)); // (B, 1, 1 or S, T)
    }
    return visible;
  }
}
