package io.github.djlattention.conformance;

/**
 * An element-wise closeness test: {@code |actual - expected| <= atol + rtol * |expected|}, with
 * equal infinities treated as equal and NaN never equal.
 *
 * @param rtol relative tolerance
 * @param atol absolute tolerance
 */
public record Tolerance(double rtol, double atol) {

  /**
   * Checks that both tolerances are finite and non-negative.
   *
   * @throws IllegalArgumentException otherwise
   */
  public Tolerance {
    if (!(rtol >= 0 && atol >= 0) || Double.isInfinite(rtol) || Double.isInfinite(atol)) {
      throw new IllegalArgumentException(
          "tolerances must be finite and >= 0, got rtol=" + rtol + ", atol=" + atol);
    }
  }

  /**
   * Whether one element is close enough.
   *
   * @param expected the oracle's value
   * @param actual the implementation's value
   * @return true when within tolerance
   */
  public boolean accepts(double expected, double actual) {
    if (Double.isNaN(expected) || Double.isNaN(actual)) {
      return false;
    }
    if (Double.isInfinite(expected) || Double.isInfinite(actual)) {
      return expected == actual;
    }
    return Math.abs(actual - expected) <= atol + rtol * Math.abs(expected);
  }

  @Override
  public String toString() {
    return "rtol " + rtol + ", atol " + atol;
  }
}
