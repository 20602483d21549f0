package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * The validated sizes of one attention call, and the shapes its steps reshape to.
 *
 * <p>Legend: B batch, H query heads, G key/value heads, S query length, T key/value length, D
 * query/key head size, Dv value head size. {@code rank} is the callers' rank: 2 for (S, D), 3 for
 * (B, S, D), 4 for (B, H, S, D).
 */
record AttentionShape(
    int rank,
    long batch,
    long heads,
    long kvHeads,
    long queryLength,
    long keyLength,
    long headSize,
    long valueHeadSize) {

  /**
   * Validates query, key and value against each other.
   *
   * @throws IllegalArgumentException naming the shapes when they do not fit together
   */
  static AttentionShape of(NDArray query, NDArray key, NDArray value) {
    return of(query, key, value, false);
  }

  /**
   * Validates query, key and value against each other, in either layout of 4-D inputs.
   *
   * @param sequenceFirst whether the inputs are (B, S, H, D), (B, T, G, D), (B, T, G, Dv) ({@link
   *     AttentionOptions.Builder#optSequenceFirst}) rather than heads first
   * @throws IllegalArgumentException naming the shapes when they do not fit together, or when
   *     sequence-first inputs are not 4-D
   */
  static AttentionShape of(NDArray query, NDArray key, NDArray value, boolean sequenceFirst) {
    Shape q = query.getShape();
    Shape k = key.getShape();
    Shape v = value.getShape();
    int rank = q.dimension();
    if (sequenceFirst && (rank != 4 || k.dimension() != 4 || v.dimension() != 4)) {
      throw new IllegalArgumentException(
          "sequence-first attention takes 4-D query (B, S, H, D), key (B, T, G, D) and value"
              + " (B, T, G, Dv); got query "
              + q
              + ", key "
              + k
              + ", value "
              + v);
    }
    if (rank < 2 || rank > 4 || k.dimension() != rank || v.dimension() != rank) {
      throw new IllegalArgumentException(
          "query, key and value must all be (S, D), (B, S, D) or (B, H, S, D); got query "
              + q
              + ", key "
              + k
              + ", value "
              + v);
    }
    if (query.getDataType() != key.getDataType() || query.getDataType() != value.getDataType()) {
      throw new IllegalArgumentException(
          "query, key and value must share a dtype; got "
              + query.getDataType()
              + ", "
              + key.getDataType()
              + ", "
              + value.getDataType());
    }
    int headAxis = sequenceFirst ? 2 : 1;
    int lengthAxis = sequenceFirst ? 1 : rank - 2;
    long batch = rank >= 3 ? q.get(0) : 1;
    long heads = rank == 4 ? q.get(headAxis) : 1;
    long kvHeads = rank == 4 ? k.get(headAxis) : 1;
    long queryLength = q.get(lengthAxis);
    long keyLength = k.get(lengthAxis);
    long headSize = q.get(rank - 1);
    if (rank >= 3 && (k.get(0) != batch || v.get(0) != batch)) {
      throw new IllegalArgumentException(
          "batch sizes differ: query " + q + ", key " + k + ", value " + v);
    }
    if (k.get(rank - 1) != headSize) {
      throw new IllegalArgumentException(
          "query "
              + q
              + " and key "
              + k
              + " differ in head size: "
              + headSize
              + " vs "
              + k.get(rank - 1));
    }
    if (v.get(lengthAxis) != keyLength) {
      throw new IllegalArgumentException(
          "key "
              + k
              + " and value "
              + v
              + " differ in length: "
              + keyLength
              + " vs "
              + v.get(lengthAxis));
    }
    if (rank == 4 && v.get(headAxis) != kvHeads) {
      throw new IllegalArgumentException(
          "key "
              + k
              + " and value "
              + v
              + " differ in head count: "
              + kvHeads
              + " vs "
              + v.get(headAxis));
    }
    if (kvHeads == 0 || heads % kvHeads != 0) {
      throw new IllegalArgumentException(
          "query heads ("
              + heads
              + ") must be a multiple of key/value heads ("
              + kvHeads
              + "): query "
              + q
              + ", key "
              + k);
    }
    return new AttentionShape(
        rank, batch, heads, kvHeads, queryLength, keyLength, headSize, v.get(rank - 1));
  }

  /** Query heads per key/value head. */
  long groupSize() {
    return heads / kvHeads;
  }

  Shape query4d() {
    return new Shape(batch, heads, queryLength, headSize);
  }

  Shape key4d() {
    return new Shape(batch, kvHeads, keyLength, headSize);
  }

  Shape value4d() {
    return new Shape(batch, kvHeads, keyLength, valueHeadSize);
  }

  Shape scores4d() {
    return new Shape(batch, heads, queryLength, keyLength);
  }

  Shape output4d() {
    return new Shape(batch, heads, queryLength, valueHeadSize);
  }

  Shape groupedQuery() {
    return new Shape(batch, kvHeads, groupSize() * queryLength, headSize);
  }

  Shape groupedWeights() {
    return new Shape(batch, kvHeads, groupSize() * queryLength, keyLength);
  }

  /** The output in the callers' rank. */
  Shape outputShape() {
    return inCallerRank(output4d());
  }

  /** The weights in the callers' rank. */
  Shape weightsShape() {
    return inCallerRank(scores4d());
  }

  private Shape inCallerRank(Shape shape4d) {
    switch (rank) {
      case 2:
        return new Shape(shape4d.get(2), shape4d.get(3));
      case 3:
        return new Shape(shape4d.get(0), shape4d.get(2), shape4d.get(3));
      default:
        return shape4d;
    }
  }

  /**
   * Places a mask given in the callers' rank into (B, H, S, T), checking that it broadcasts.
   *
   * @param mask a shape of rank at most the callers' rank, right-aligned against the weights
   * @return the 4-D shape to reshape the mask to
   * @throws IllegalArgumentException when the mask does not broadcast to the weights
   */
  Shape mask4d(Shape mask) {
    Shape weights = weightsShape();
    if (mask.dimension() > rank) {
      throw new IllegalArgumentException(
          "mask " + mask + " has more dimensions than the attention weights " + weights);
    }
    long[] aligned = new long[rank];
    int offset = rank - mask.dimension();
    for (int i = 0; i < rank; i++) {
      aligned[i] = i < offset ? 1 : mask.get(i - offset);
      if (aligned[i] != 1 && aligned[i] != weights.get(i)) {
        throw new IllegalArgumentException(
            "mask " + mask + " does not broadcast to the attention weights " + weights);
      }
    }
    switch (rank) {
      case 2:
        return new Shape(1, 1, aligned[0], aligned[1]);
      case 3:
        return new Shape(aligned[0], 1, aligned[1], aligned[2]);
      default:
        return new Shape(aligned);
    }
  }
}
