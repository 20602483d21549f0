package io.github.djlattention.blocks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The inputs of an attention block: {@code (x)}, {@code (x, mask)}, {@code (query, key, value)} or
 * {@code (query, key, value, mask)}, the mask told apart by count, then, for a block built with a
 * key-padding mask, that mask as the last input.
 *
 * <p>Legend: B batch, H heads, S query length, T key/value length.
 *
 * @param query (B, S, E)
 * @param key (B, T, Ek)
 * @param value (B, T, Ev)
 * @param mask the attention mask (true = take part, or added), or null
 * @param keyPaddingMask (B, T), true = padding (ignored), or added; or null
 */
record Inputs(NDArray query, NDArray key, NDArray value, NDArray mask, NDArray keyPaddingMask) {

  /**
   * Reads the inputs of {@code block}.
   *
   * @param list the block's inputs
   * @param block the block's name, for messages
   * @param keyPaddingMask whether the last input is a key-padding mask
   * @throws IllegalArgumentException when the count does not fit, the arrays are not rank 3, or a
   *     mask is neither boolean nor floating point or the key-padding mask is not (B, T)
   */
  static Inputs of(NDList list, String block, boolean keyPaddingMask) {
    int count = list.size() - (keyPaddingMask ? 1 : 0);
    NDArray padding = keyPaddingMask && count >= 1 ? list.get(count) : null;
    Inputs inputs;
    switch (count) {
      case 1:
        inputs = new Inputs(list.get(0), list.get(0), list.get(0), null, padding);
        break;
      case 2:
        inputs = new Inputs(list.get(0), list.get(0), list.get(0), list.get(1), padding);
        break;
      case 3:
        inputs = new Inputs(list.get(0), list.get(1), list.get(2), null, padding);
        break;
      case 4:
        inputs = new Inputs(list.get(0), list.get(1), list.get(2), list.get(3), padding);
        break;
      default:
        throw new IllegalArgumentException(
            block
                + " takes (x), (x, mask), (query, key, value) or (query, key, value, mask)"
                + (keyPaddingMask ? ", then the key-padding mask" : "")
                + "; got "
                + list.size()
                + " inputs");
    }
    for (NDArray x : new NDArray[] {inputs.query, inputs.key, inputs.value}) {
      if (x.getShape().dimension() != 3) {
        throw new IllegalArgumentException(
            block + " inputs must be (B, S, E); got " + x.getShape());
      }
    }
    requireMaskType(block, "mask", inputs.mask);
    requireMaskType(block, "key-padding mask", inputs.keyPaddingMask);
    if (padding != null) {
      Shape expected = new Shape(inputs.query.getShape().get(0), inputs.key.getShape().get(1));
      if (!padding.getShape().equals(expected)) {
        throw new IllegalArgumentException(
            block
                + " key-padding mask must be (B, T) = "
                + expected
                + " for query "
                + inputs.query.getShape()
                + " and key "
                + inputs.key.getShape()
                + "; got "
                + padding.getShape());
      }
    }
    return inputs;
  }

  /**
   * The shape of the query, from a block's input shapes as {@link #of} reads them.
   *
   * @return {query, key} shapes
   */
  static Shape[] queryAndKey(Shape[] shapes, boolean keyPaddingMask) {
    int count = shapes.length - (keyPaddingMask ? 1 : 0);
    return new Shape[] {shapes[0], count >= 3 ? shapes[1] : shapes[0]};
  }

  private static void requireMaskType(String block, String what, NDArray mask) {
    if (mask != null
        && mask.getDataType() != DataType.BOOLEAN
        && !mask.getDataType().isFloating()) {
      throw new IllegalArgumentException(
          block + " " + what + " must be boolean or floating point, got " + mask.getDataType());
    }
  }

  /**
   * Checks the feature sizes and that query, key and value agree in batch and key/value length.
   *
   * @throws IllegalArgumentException naming the shapes when they do not
   */
  void requireFeatures(long querySize, long keySize, long valueSize) {
    if (query.getShape().get(2) != querySize
        || key.getShape().get(2) != keySize
        || value.getShape().get(2) != valueSize) {
      throw new IllegalArgumentException(
          String.format(
              "expected query (B, S, %d), key (B, T, %d), value (B, T, %d); got %s, %s, %s",
              querySize, keySize, valueSize, query.getShape(), key.getShape(), value.getShape()));
    }
    long batch = query.getShape().get(0);
    if (key.getShape().get(0) != batch
        || value.getShape().get(0) != batch
        || key.getShape().get(1) != value.getShape().get(1)) {
      throw new IllegalArgumentException(
          "query "
              + query.getShape()
              + ", key "
              + key.getShape()
              + " and value "
              + value.getShape()
              + " must share the batch size, and key and value the length");
    }
  }

  /**
   * The attention mask and the key-padding mask as one mask against weights of rank {@code rank}: 3
   * for (B, S, T), 4 for (B, H, S, T). A (B, S, T) attention mask gets a heads axis against rank 4;
   * the key-padding mask becomes (B, 1, T) or (B, 1, 1, T).
   *
   * <p>The result keeps the library's convention: boolean true = the key takes part, float = added
   * to the scores. A boolean key-padding mask (true = padding) hides its keys: And with a boolean
   * mask, −∞ in a float one. A float key-padding mask is added: to a float mask (both in the wider
   * of their types), or in place of the keys a boolean mask lets take part (−∞ elsewhere).
   *
   * @param rank the rank of the weights, 3 or 4
   * @param scope the manager that takes every new array; the caller's arrays are left alone
   * @return the mask, or null when there is none
   */
  NDArray combinedMask(int rank, NDManager scope) {
    NDArray placed = mask;
    if (mask != null && rank == 4 && mask.getShape().dimension() == 3) {
      placed = scoped(mask.expandDims(1), scope); // (B, 1, S, T)
    }
    if (keyPaddingMask == null) {
      return placed;
    }
    long batch = keyPaddingMask.getShape().get(0);
    long keys = keyPaddingMask.getShape().get(1);
    Shape perKey = rank == 4 ? new Shape(batch, 1, 1, keys) : new Shape(batch, 1, keys);
    NDArray padding = scoped(keyPaddingMask.reshape(perKey), scope); // (B, 1, [1,] T)
    boolean boolPadding = padding.getDataType() == DataType.BOOLEAN;
    if (boolPadding) {
      NDArray keep = scoped(padding.logicalNot(), scope); // true = the key takes part
      if (placed == null) {
        return keep;
      }
      if (placed.getDataType() == DataType.BOOLEAN) {
        return scoped(placed.logicalAnd(keep), scope);
      }
      return where(keep, placed, placed.getDataType(), scope); // −∞ on padding keys
    }
    if (placed == null) {
      return padding;
    }
    if (placed.getDataType() == DataType.BOOLEAN) {
      return where(placed, padding, padding.getDataType(), scope); // −∞ where the mask hides
    }
    DataType type = wider(placed.getDataType(), padding.getDataType());
    NDArray a = scoped(placed.toType(type, true), scope);
    NDArray b = scoped(padding.toType(type, true), scope);
    return scoped(a.add(b), scope);
  }

  /** {@code keep ? value : −∞}, broadcast to the shape of both. */
  private static NDArray where(NDArray keep, NDArray value, DataType type, NDManager scope) {
    Shape shape = broadcast(keep.getShape(), value.getShape());
    NDArray condition = scoped(keep.broadcast(shape), scope);
    NDArray values = scoped(value.broadcast(shape), scope);
    NDArray minusInf = scope.full(new Shape(), Float.NEGATIVE_INFINITY, type);
    return scoped(NDArrays.where(condition, values, minusInf), scope);
  }

  /** The NumPy broadcast of two shapes, right-aligned. */
  private static Shape broadcast(Shape a, Shape b) {
    int rank = Math.max(a.dimension(), b.dimension());
    long[] dims = new long[rank];
    for (int i = 0; i < rank; i++) {
      int ia = i - (rank - a.dimension());
      int ib = i - (rank - b.dimension());
      long da = ia < 0 ? 1 : a.get(ia);
      long db = ib < 0 ? 1 : b.get(ib);
      if (da != db && da != 1 && db != 1) {
        throw new IllegalArgumentException(
            "the mask " + a + " and the key-padding mask " + b + " do not broadcast together");
      }
      dims[i] = Math.max(da, db);
    }
    return new Shape(dims);
  }

  private static DataType wider(DataType a, DataType b) {
    if (a == b) {
      return a;
    }
    return a == DataType.FLOAT64 || b == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
  }

  /** Attaches a new array to the scope (never one of the caller's). */
  private static NDArray scoped(NDArray array, NDManager scope) {
    array.attach(scope);
    return array;
  }
}
