package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.util.Arrays;

/**
 * The element-wise comparison of one output with the oracle's.
 *
 * @param output the output's name
 * @param dataType the expected output's element type
 * @param tolerance the tolerance applied
 * @param agrees whether shapes match and every element is within tolerance
 * @param maxAbsError largest {@code |actual - expected|} over finite pairs (infinite where a finite
 *     value meets an infinite one, NaN where a NaN appears)
 * @param maxRelError largest {@code |actual - expected| / |expected|} over finite pairs with a
 *     non-zero expected value
 * @param worstIndex index of the element furthest outside tolerance (or of the largest error if all
 *     are within), empty for a shape mismatch
 * @param worstExpected the oracle's value at {@link #worstIndex}
 * @param worstActual the implementation's value at {@link #worstIndex}
 * @param mismatched number of elements outside tolerance
 * @param note extra explanation, such as a shape mismatch; empty if none
 */
public record Comparison(
    String output,
    String dataType,
    Tolerance tolerance,
    boolean agrees,
    double maxAbsError,
    double maxRelError,
    long[] worstIndex,
    double worstExpected,
    double worstActual,
    long mismatched,
    String note) {

  /**
   * Compares an implementation's output with the oracle's.
   *
   * @param output the output's name
   * @param expected the oracle's array; its element type picks the tolerance
   * @param actual the implementation's array
   * @return the comparison
   */
  public static Comparison compare(String output, NDArray expected, NDArray actual) {
    return compare(output, expected, actual, Tolerances.forType(expected.getDataType()));
  }

  /**
   * Compares an implementation's output with the oracle's under a given tolerance.
   *
   * @param output the output's name
   * @param expected the oracle's array
   * @param actual the implementation's array
   * @param tolerance the tolerance, e.g. {@link Tolerances#forType} of the case's input type
   * @return the comparison
   */
  public static Comparison compare(
      String output, NDArray expected, NDArray actual, Tolerance tolerance) {
    DataType type = expected.getDataType();
    long[] shape = expected.getShape().getShape();
    if (!expected.getShape().equals(actual.getShape())) {
      return failed(
          output,
          expected,
          tolerance,
          "shape " + actual.getShape() + " where " + expected.getShape() + " was expected");
    }
    double[] want = Elements.toDoubles(expected);
    double[] got = Elements.toDoubles(actual);
    double maxAbs = 0;
    double maxRel = 0;
    long mismatched = 0;
    int worst = -1;
    double worstScore = -1;
    for (int i = 0; i < want.length; i++) {
      double abs = absError(want[i], got[i]);
      maxAbs = Double.isNaN(abs) || Double.isNaN(maxAbs) ? Double.NaN : Math.max(maxAbs, abs);
      if (want[i] != 0 && Double.isFinite(want[i]) && Double.isFinite(got[i])) {
        maxRel = Math.max(maxRel, abs / Math.abs(want[i]));
      }
      boolean ok = tolerance.accepts(want[i], got[i]);
      if (!ok) {
        mismatched++;
      }
      // Score: how far outside the allowed band; NaN and infinite misses rank first.
      double allowed = tolerance.atol() + tolerance.rtol() * Math.abs(want[i]);
      double score =
          ok ? (Double.isFinite(abs) ? abs / Math.max(allowed, Double.MIN_NORMAL) : 0) : 1 + abs;
      if (!ok && !Double.isFinite(abs)) {
        score = Double.MAX_VALUE;
      }
      if (worst < 0 || score > worstScore) {
        worst = i;
        worstScore = score;
      }
    }
    long[] index = worst < 0 ? new long[0] : Elements.unravel(worst, shape);
    return new Comparison(
        output,
        type.toString(),
        tolerance,
        mismatched == 0,
        maxAbs,
        maxRel,
        index,
        worst < 0 ? Double.NaN : want[worst],
        worst < 0 ? Double.NaN : got[worst],
        mismatched,
        "");
  }

  /**
   * A comparison for an output the implementation did not produce.
   *
   * @param output the output's name
   * @param expected the oracle's array
   * @param why the reason, e.g. the implementation's error
   * @return a failed comparison
   */
  public static Comparison missing(String output, NDArray expected, String why) {
    return failed(output, expected, Tolerances.forType(expected.getDataType()), why);
  }

  /** A comparison with no element compared: every expected element counts as mismatched. */
  private static Comparison failed(
      String output, NDArray expected, Tolerance tolerance, String note) {
    return new Comparison(
        output,
        expected.getDataType().toString(),
        tolerance,
        false,
        Double.POSITIVE_INFINITY,
        Double.POSITIVE_INFINITY,
        new long[0],
        Double.NaN,
        Double.NaN,
        expected.size(),
        note);
  }

  private static double absError(double expected, double actual) {
    if (Double.isNaN(expected) || Double.isNaN(actual)) {
      return Double.NaN;
    }
    if (expected == actual) {
      return 0; // also equal infinities
    }
    return Math.abs(actual - expected);
  }

  /**
   * The worst index as text, e.g. {@code [0, 1, 2, 3]}.
   *
   * @return the index
   */
  public String worstIndexText() {
    return Arrays.toString(worstIndex);
  }
}
