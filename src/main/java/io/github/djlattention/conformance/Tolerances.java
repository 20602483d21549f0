package io.github.djlattention.conformance;

import ai.djl.ndarray.types.DataType;

/**
 * The project's tolerances, one per element type, in one place.
 *
 * <ul>
 *   <li>float32: rtol 1e-3, atol 1e-5 (the ONNX reference's own relative tolerance; measured
 *       DJL-vs-oracle errors are below 1e-6).
 *   <li>float16: rtol 1e-3, atol 1e-3, about two float16 ulps near 1: the oracle computes in
 *       float16 step by step while implementations may round once at the end.
 *   <li>float64: rtol 1e-7, atol 1e-10.
 *   <li>integer and bool outputs: exact.
 * </ul>
 */
public final class Tolerances {

  /** Tolerance for float32 outputs. */
  public static final Tolerance FLOAT32 = new Tolerance(1e-3, 1e-5);

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
