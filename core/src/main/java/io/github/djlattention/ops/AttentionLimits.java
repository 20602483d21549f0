package io.github.djlattention.ops;

import ai.djl.ndarray.types.Shape;

/**
 * Size bounds checked before attention allocates its (B, H, S, T) scores.
 *
 * <p>Legend: B batch, H query heads, S query length, T key/value length. Attention materializes
 * several arrays of B·H·S·T elements (scores, weights, masks); when that count overflows a {@code
 * long}, or exceeds {@link #maxScoreElements()}, the call is refused with an {@link
 * IllegalArgumentException} instead of failing inside the native allocator. Zero-length inputs can
 * hide a huge product: query (3·10⁹, 0) against key (3·10⁹, 0) holds no elements but asks for
 * 9·10¹⁸ scores.
 *
 * <p>The bound defaults to {@value #DEFAULT_MAX_SCORE_ELEMENTS} elements (4 GiB of float32 per
 * array) and can be changed with the system property {@value #MAX_SCORE_ELEMENTS_PROPERTY}. Code
 * that holds all the scores at once calls {@link #checkScores}; a tiled path that never does need
 * not.
 */
public final class AttentionLimits {

  /** The system property that overrides the bound on B·H·S·T. */
  public static final String MAX_SCORE_ELEMENTS_PROPERTY = "djlattention.maxScoreElements";

  /** The default bound on B·H·S·T: 2³⁰ elements. */
  public static final long DEFAULT_MAX_SCORE_ELEMENTS = 1L << 30;

  private AttentionLimits() {}

  /**
   * Returns the largest B·H·S·T that attention accepts.
   *
   * @return the bound from {@value #MAX_SCORE_ELEMENTS_PROPERTY}, or the default
   * @throws IllegalStateException when the property is set but is not a positive integer
   */
  public static long maxScoreElements() {
    String value = System.getProperty(MAX_SCORE_ELEMENTS_PROPERTY);
    if (value == null) {
      return DEFAULT_MAX_SCORE_ELEMENTS;
    }
    try {
      long bound = Long.parseLong(value.trim());
      if (bound > 0) {
        return bound;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalStateException(
        "system property "
            + MAX_SCORE_ELEMENTS_PROPERTY
            + " must be a positive integer, got '"
            + value
            + "'");
  }

  /**
   * Checks that attention scores of shape (B, H, S, T) may be allocated.
   *
   * @param batch B
   * @param heads H
   * @param queryLength S
   * @param keyLength T
   * @throws IllegalArgumentException when B·H·S·T overflows or exceeds {@link #maxScoreElements()}
   */
  public static void checkScores(long batch, long heads, long queryLength, long keyLength) {
    long bound = maxScoreElements();
    long elements;
    try {
      elements =
          Math.multiplyExact(
              Math.multiplyExact(Math.multiplyExact(batch, heads), queryLength), keyLength);
    } catch (ArithmeticException e) {
      elements = -1;
    }
    if (elements < 0 || elements > bound) {
      throw new IllegalArgumentException(
          String.format(
              "attention scores (B, H, S, T) = (%d, %d, %d, %d) would hold %s elements, more than"
                  + " the limit of %d (system property %s)",
              batch,
              heads,
              queryLength,
              keyLength,
              elements < 0 ? "over 2^63" : Long.toString(elements),
              bound,
              MAX_SCORE_ELEMENTS_PROPERTY));
    }
  }

  /**
   * Checks that the scores of query (…, S, D) against key (…, T, D) may be allocated: the product
   * of the leading sizes (the larger of the two where they broadcast), S and T.
   *
   * @param query the query shape (…, S, D)
   * @param key the key shape (…, T, D)
   * @throws IllegalArgumentException when the product overflows or exceeds {@link
   *     #maxScoreElements()}
   */
  public static void checkScores(Shape query, Shape key) {
    int rank = Math.max(query.dimension(), key.dimension());
    long leading = 1;
    try {
      for (int i = 0; i < rank - 2; i++) {
        leading =
            Math.multiplyExact(
                leading, Math.max(sizeFromEnd(query, rank - i), sizeFromEnd(key, rank - i)));
      }
    } catch (ArithmeticException e) {
      leading = Long.MAX_VALUE;
    }
    checkScores(leading, 1, sizeFromEnd(query, 2), sizeFromEnd(key, 2));
  }

  /** The size {@code fromEnd} axes from the end (1 = last), or 1 where the shape is shorter. */
  private static long sizeFromEnd(Shape shape, int fromEnd) {
    int axis = shape.dimension() - fromEnd;
    return axis >= 0 ? shape.get(axis) : 1;
  }
}
