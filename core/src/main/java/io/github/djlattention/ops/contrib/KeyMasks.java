package io.github.djlattention.ops.contrib;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The key masks that {@code MultiHeadAttention} ({@code key_padding_mask}) and {@code Attention}
 * ({@code mask_index}) take, turned into "hidden" booleans, and the additive mask they and the
 * causal mask make with {@code mask_filter_value} and the attention bias.
 *
 * <p>Legend: B batch, H heads, S query length, T total key length (past + new), P past length, M
 * the maximum length of a 4-D mask.
 */
final class KeyMasks {

  private KeyMasks() {}

  /** Which layouts of an integer key mask an operator accepts. */
  enum Layouts {
    /** (B) lengths, (B, T) and (B, S, T): {@code MultiHeadAttention}. */
    KEY_PADDING,
    /** Those, (2B) end and start positions and (B, 1, M, M): {@code Attention}. */
    MASK_INDEX
  }

  /**
   * The keys an integer key mask hides.
   *
   * @param op names the operator and input in messages, e.g. {@code "Attention mask_index"}
   * @param mask the mask: (B) valid lengths (keys at and beyond are hidden); (2B) exclusive end
   *     positions followed by inclusive start positions; (B, T) or (B, S, T) with 0 where a key is
   *     hidden; (B, 1, M, M) whose rows P … P+S−1 and columns 0 … T−1 are taken
   * @param layouts the layouts the operator accepts
   * @param batch B
   * @param queryLength S
   * @param totalLength T
   * @param past P
   * @return boolean (B, 1 or S, T), true where the key is hidden; in the mask's manager
   * @throws IllegalArgumentException for a shape that is none of the layouts
   */
  static NDArray hidden(
      String op,
      NDArray mask,
      Layouts layouts,
      long batch,
      long queryLength,
      long totalLength,
      long past) {
    Shape shape = mask.getShape();
    NDManager manager = mask.getManager();
    NDArray cols = manager.arange(0, Math.toIntExact(totalLength), 1, DataType.INT64);
    NDArray m = mask.toType(DataType.INT64, false);
    switch (shape.dimension()) {
      case 1:
        if (shape.get(0) == batch) {
          return cols.reshape(1, 1, totalLength).gte(m.reshape(batch, 1, 1)); // (B, 1, T)
        }
        if (layouts == Layouts.MASK_INDEX && shape.get(0) == 2 * batch) {
          NDArray end = m.get(new NDIndex(":{}", batch)).reshape(batch, 1, 1);
          NDArray start = m.get(new NDIndex("{}:", batch)).reshape(batch, 1, 1);
          NDArray c = cols.reshape(1, 1, totalLength);
          return c.gte(end).logicalOr(c.lt(start)); // (B, 1, T)
        }
        break;
      case 2:
        if (shape.get(0) == batch && shape.get(1) == totalLength) {
          return m.reshape(batch, 1, totalLength).eq(0); // (B, 1, T)
        }
        break;
      case 3:
        if (shape.get(0) == batch && shape.get(1) == queryLength && shape.get(2) == totalLength) {
          return m.eq(0); // (B, S, T)
        }
        break;
      case 4:
        if (layouts == Layouts.MASK_INDEX
            && shape.get(0) == batch
            && shape.get(1) == 1
            && shape.get(2) == shape.get(3)
            && past + queryLength <= shape.get(2)
            && totalLength <= shape.get(3)) {
          NDArray rows =
              m.get(new NDIndex(":, 0, {}:{}, :{}", past, past + queryLength, totalLength));
          return rows.eq(0); // (B, S, T)
        }
        break;
      default:
        break;
    }
    String accepted =
        layouts == Layouts.MASK_INDEX
            ? "(B), (2B), (B, T), (B, S, T) or (B, 1, M, M) with M >= P + S and M >= T"
            : "(B), (B, T) or (B, S, T)";
    throw new IllegalArgumentException(
        op
            + " of shape "
            + shape
            + " is none of "
            + accepted
            + " for B="
            + batch
            + ", S="
            + queryLength
            + ", T="
            + totalLength
            + ", P="
            + past
            + " (the (3B + 2) layout is not implemented)");
  }

  /**
   * The causal mask of a query block after a past of P keys: query i sees keys j ≤ P + i.
   *
   * @param manager creates it
   * @return boolean (1, S, T), true where the key is hidden
   */
  static NDArray causal(NDManager manager, long queryLength, long totalLength, long past) {
    NDArray rows =
        manager
            .arange(0, Math.toIntExact(queryLength), 1, DataType.INT64)
            .reshape(1, queryLength, 1);
    NDArray cols =
        manager
            .arange(0, Math.toIntExact(totalLength), 1, DataType.INT64)
            .reshape(1, 1, totalLength);
    return cols.gt(rows.add(past)); // (1, S, T)
  }

  /**
   * The additive mask: the attention bias plus the fill value where a key is hidden, added once
   * however many of the masks hide it.
   *
   * @param manager creates the temporaries
   * @param hidden boolean (B or 1, S or 1, T), or null
   * @param bias the attention bias (B or 1, H or 1, S, T), or null
   * @param fill {@code mask_filter_value}
   * @param dtype the compute type
   * @return the mask, broadcastable to (B, H, S, T), or null when there is nothing to add
   */
  static NDArray additive(
      NDManager manager, NDArray hidden, NDArray bias, float fill, DataType dtype) {
    NDArray mask = null;
    if (hidden != null) {
      Shape h = hidden.getShape(); // (B or 1, S or 1, T)
      NDArray four = hidden.reshape(h.get(0), 1, h.get(1), h.get(2)); // (B or 1, 1, S or 1, T)
      NDArray fillValue = manager.full(four.getShape(), fill, dtype);
      mask = NDArrays.where(four, fillValue, fillValue.zerosLike());
    }
    if (bias != null) {
      NDArray b = bias.toType(dtype, false);
      mask = mask == null ? b : mask.add(b);
    }
    return mask;
  }
}
