package io.github.djlattention.cli;

import ai.djl.ndarray.NDArray;
import io.github.djlattention.conformance.Elements;
import io.github.djlattention.conformance.Tolerance;
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
    long[] shape = reference.getShape().getShape();
    if (!actual.getShape().equals(reference.getShape())) {
      return new OutputComparison(
          name, shape, false, Double.NaN, Double.NaN, new long[0], 0, false);
    }
    double[] got = Elements.toDoubles(actual);
    double[] want = Elements.toDoubles(reference);
    double maxAbs = 0;
    double maxRel = 0;
    int worst = got.length == 0 ? -1 : 0;
    int firstNonFinite = -1;
    long nonFinite = 0;
    // The conformance suite's element rule: NaN never agrees, not even with NaN; an infinity
    // agrees only with the same infinity.
    Tolerance tolerance = new Tolerance(0, atol);
    for (int i = 0; i < got.length; i++) {
      if (!Double.isFinite(got[i]) || !Double.isFinite(want[i])) {
        if (!tolerance.accepts(want[i], got[i])) {
          nonFinite++;
          firstNonFinite = firstNonFinite < 0 ? i : firstNonFinite;
        }
        continue;
      }
      double abs = Math.abs(got[i] - want[i]);
      if (abs > maxAbs) {
        maxAbs = abs;
        worst = i;
      }
      if (want[i] != 0) {
        maxRel = Math.max(maxRel, abs / Math.abs(want[i]));
      }
    }
    int index = firstNonFinite >= 0 ? firstNonFinite : worst;
    return new OutputComparison(
        name,
        shape,
        true,
        maxAbs,
        maxRel,
        index < 0 ? new long[0] : Elements.unravel(index, shape),
        nonFinite,
        nonFinite == 0 && maxAbs <= atol);
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
