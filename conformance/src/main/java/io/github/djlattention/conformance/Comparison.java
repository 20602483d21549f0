package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import io.github.djlattention.compare.ElementComparison;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.compare.Tolerances;

/**
 * One named output compared with the oracle's: the {@link ElementComparison} (verdict, worst
 * element, error statistics) with the output's name and element type, and a note when nothing was
 * compared.
 *
 * @param output the output's name
 * @param dataType the expected output's element type, e.g. {@code float32}
 * @param elements the element-wise comparison
 * @param note why nothing was compared (a shape mismatch, a missing output); empty otherwise
 */
public record Comparison(String output, String dataType, ElementComparison elements, String note) {

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
    ElementComparison elements = ElementComparison.compare(expected, actual, tolerance);
    String note =
        elements.sameShape()
            ? ""
            : "shape " + actual.getShape() + " where " + expected.getShape() + " was expected";
    return new Comparison(output, expected.getDataType().toString(), elements, note);
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
    ElementComparison elements =
        ElementComparison.notCompared(
            expected.getShape().getShape(), Tolerances.forType(expected.getDataType()));
    return new Comparison(output, expected.getDataType().toString(), elements, why);
  }

  /**
   * Whether shapes match and every element is within tolerance.
   *
   * @return true on agreement
   */
  public boolean agrees() {
    return elements.agrees();
  }

  /**
   * The tolerance applied.
   *
   * @return the tolerance
   */
  public Tolerance tolerance() {
    return elements.tolerance();
  }
}
