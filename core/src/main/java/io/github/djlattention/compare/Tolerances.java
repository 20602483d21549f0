package io.github.djlattention.compare;

import ai.djl.ndarray.types.DataType;

/**
 * The project's tolerances, one per element type, in one place: the conformance suites' verdicts
 * and the default of {@link ElementComparison#compare(ai.djl.ndarray.NDArray,
 * ai.djl.ndarray.NDArray)}.
 *
 * <ul>
 *   <li>float32: rtol 1e-4, atol 1e-6. On the conformance suite's ONNX operator cases both DJL and
 *       ONNX Runtime stay below 2.4e-7 absolute and 4.8e-7 relative error, so this leaves a margin
 *       of about four in absolute and two hundred in relative terms, ten times tighter than the
 *       ONNX backend tests' rtol 1e-3.
 *   <li>float16: rtol 1e-3, atol 1e-3, about one float16 ulp near 1 each: the oracle computes in
 *       float16 step by step while implementations compute in float32 and round once at the end
 *       (measured: 4.9e-4 absolute, 9.8e-4 relative).
 *   <li>float64: rtol 1e-7, atol 1e-10.
 *   <li>integer and bool outputs: exact.
 * </ul>
 */
public final class Tolerances {

  /** Tolerance for float32 outputs. */
  public static final Tolerance FLOAT32 = new Tolerance(1e-4, 1e-6);

  /** Tolerance for float16 outputs. */
  public static final Tolerance FLOAT16 = new Tolerance(1e-3, 1e-3);

  /** Tolerance for float64 outputs. */
  public static final Tolerance FLOAT64 = new Tolerance(1e-7, 1e-10);

  /** Tolerance for integer and bool outputs. */
  public static final Tolerance EXACT = new Tolerance(0, 0);

  private Tolerances() {}

  /**
   * The tolerance for outputs of one element type.
   *
   * @param type the expected output's element type
   * @return its tolerance
   */
  public static Tolerance forType(DataType type) {
    switch (type) {
      case FLOAT32:
        return FLOAT32;
      case FLOAT16:
      case BFLOAT16:
        return FLOAT16;
      case FLOAT64:
        return FLOAT64;
      default:
        return EXACT;
    }
  }
}
