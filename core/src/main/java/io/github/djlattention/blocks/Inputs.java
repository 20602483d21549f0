package io.github.djlattention.blocks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;

/**
 * The inputs of an attention block: {@code (x)}, {@code (x, mask)}, {@code (query, key, value)} or
 * {@code (query, key, value, mask)}, the mask told apart by count.
 */
record Inputs(NDArray query, NDArray key, NDArray value, NDArray mask) {

  /**
   * Reads the inputs of {@code block}.
   *
   * @throws IllegalArgumentException when there are not 1 to 4 inputs or they are not rank 3
   */
  static Inputs of(NDList list, String block) {
    Inputs inputs;
    switch (list.size()) {
      case 1:
        inputs = new Inputs(list.get(0), list.get(0), list.get(0), null);
        break;
      case 2:
        inputs = new Inputs(list.get(0), list.get(0), list.get(0), list.get(1));
        break;
      case 3:
        inputs = new Inputs(list.get(0), list.get(1), list.get(2), null);
        break;
      case 4:
        inputs = new Inputs(list.get(0), list.get(1), list.get(2), list.get(3));
        break;
      default:
        throw new IllegalArgumentException(
            block
                + " takes (x), (x, mask), (query, key, value) or (query, key, value, mask); got "
                + list.size()
                + " inputs");
    }
    for (NDArray x : new NDArray[] {inputs.query, inputs.key, inputs.value}) {
      if (x.getShape().dimension() != 3) {
        throw new IllegalArgumentException(
            block + " inputs must be (B, S, E); got " + x.getShape());
      }
    }
    if (inputs.mask != null
        && inputs.mask.getDataType() != DataType.BOOLEAN
        && !inputs.mask.getDataType().isFloating()) {
      throw new IllegalArgumentException(
          block + " mask must be boolean or floating point, got " + inputs.mask.getDataType());
    }
    return inputs;
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
}
