package io.github.djlattention.cli;

import ai.djl.ndarray.NDArray;
import io.github.djlattention.compare.ElementComparison;
import io.github.djlattention.compare.Tolerance;
import java.util.Arrays;

/**
 * The element-wise comparison of one output between two sources ({@code check}).
 *
 * @param name the output's name
 * @param shape the reference's shape
 * @param sameShape whether both have that shape; if not, nothing else is meaningful
 * @param maxAbs largest |actual − reference| over elements where both are finite
 * @param maxRel largest |actual − reference| / |reference| over elements where both are finite and
 *     the reference is not zero
 * @param worstIndex the index of the first non-finite mismatch, else of the largest absolute error
 * @param nonFiniteMismatches elements where either side is NaN (NaN never agrees, as in the
 *     conformance suite's {@link Tolerance}), or one side is infinite and the other is not the same
 *     infinity
 * @param passed whether shapes agree, {@code maxAbs ≤ atol} and there are no non-finite mismatches
 */
record OutputComparison(
    String name,
    long[] shape,
    boolean sameShape,
    double maxAbs,
    double maxRel,
    long[] worstIndex,
    long nonFiniteMismatches,
    boolean passed) {

  /**
   * Compares {@code actual} with {@code reference}.
   *
   * @param name the output's name
   * @param actual the first source's array
   * @param reference the second source's array, the denominator of the relative error
   * @param atol the absolute tolerance
   * @return the comparison
   */
  static OutputComparison of(String name, NDArray actual, NDArray reference, double atol) {
    // The conformance suite's element rule: NaN never agrees, not even with NaN; an infinity
    // agrees only with the same infinity.
    ElementComparison c = ElementComparison.compare(reference, actual, new Tolerance(0, atol));
    return new OutputComparison(
        name,
        c.shape(),
        c.sameShape(),
        c.sameShape() ? c.statistics().maxAbsError() : Double.NaN,
        c.sameShape() ? c.statistics().maxRelError() : Double.NaN,
        c.worst().index(),
        c.nonFiniteMismatches(),
        c.agrees());
  }

  /** One line for the console. */
  String describe(String actualShape) {
    if (!sameShape) {
      return String.format(
          "%-8s shape %s where %s was expected  FAIL", name, actualShape, Arrays.toString(shape));
    }
    return String.format(
        "%-8s max_abs %.3e  max_rel %.3e  worst %s%s  %s",
        name,
        maxAbs,
        maxRel,
        Arrays.toString(worstIndex),
        nonFiniteMismatches > 0 ? "  non-finite mismatches " + nonFiniteMismatches : "",
        passed ? "ok" : "FAIL");
  }
}
