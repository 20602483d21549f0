package io.github.djlattention.compare;

/**
 * An element-wise closeness test: {@code |actual - expected| <= atol + rtol * |expected|}, with
 * equal infinities treated as equal and NaN never equal to anything, not even to NaN.
 *
 * <p>That NaN rule is the one the conformance suites and {@code check} apply. A test that asserts
 * that NaN <em>propagates</em> (the result has NaN exactly where the reference has) asks for {@link
 * #withMatchingNan()}, under which a NaN agrees with a NaN and with nothing else.
 *
 * @param rtol relative tolerance
 * @param atol absolute tolerance
 * @param nanMatchesNan whether a NaN agrees with a NaN (false for every verdict of the project)
 */
public record Tolerance(double rtol, double atol, boolean nanMatchesNan) {

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
   * A tolerance under which NaN never agrees.
   *
   * @param rtol relative tolerance
   * @param atol absolute tolerance
   * @throws IllegalArgumentException if either is negative, infinite or NaN
   */
  public Tolerance(double rtol, double atol) {
    this(rtol, atol, false);
  }

  /**
   * The same bounds, with a NaN agreeing with a NaN (for tests of NaN propagation).
   *
   * @return the tolerance
   */
  public Tolerance withMatchingNan() {
    return new Tolerance(rtol, atol, true);
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
      return nanMatchesNan && Double.isNaN(expected) && Double.isNaN(actual);
    }
    if (Double.isInfinite(expected) || Double.isInfinite(actual)) {
      return expected == actual;
    }
    return Math.abs(actual - expected) <= allowed(expected);
  }

  /**
   * The largest absolute error accepted at one expected value.
   *
   * @param expected a finite expected value
   * @return {@code atol + rtol * |expected|}
   */
  public double allowed(double expected) {
    return atol + rtol * Math.abs(expected);
  }

  /**
   * The default floor of the relative error in {@link ElementComparison}: below this magnitude the
   * absolute term of the tolerance dominates, so relative errors there decide nothing.
   *
   * @return {@code atol / rtol} when rtol > 0, else atol when > 0, else {@link Double#MIN_NORMAL}
   */
  public double relativeFloor() {
    if (rtol > 0) {
      return Math.max(atol / rtol, Double.MIN_NORMAL);
    }
    return atol > 0 ? atol : Double.MIN_NORMAL;
  }

  @Override
  public String toString() {
    return "rtol " + rtol + ", atol " + atol + (nanMatchesNan ? ", NaN matches NaN" : "");
  }
}
