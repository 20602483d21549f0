package io.github.djlattention.ops;

import ai.djl.ndarray.types.DataType;
import java.util.Locale;

/**
 * The scale and softcap values attention can compute with, checked once for every path (the
 * step-by-step chain and each kernel of the fast path).
 *
 * <p>{@link AttentionOptions} holds them as doubles, finite and positive; the computation uses them
 * in the compute type: float32 for float16 and float32 inputs, float64 for float64. A value that is
 * finite as a double can still be out of that type's reach: a scale of 1e39 is +∞ in float32 and
 * makes every score ±∞ or NaN, a softcap of 1e-50 is 0 and one of 1e-40 a subnormal (whose
 * reciprocal overflows). So both must be normal numbers of the compute type, from its smallest
 * normal value to its largest finite one; anything else is refused with an {@link
 * IllegalArgumentException} that names the value, the range and what the value would become. The
 * default scale 1/√D is not checked: it is in (0, 1] for every D ≥ 1, and D = 0 is left to IEEE
 * arithmetic.
 */
final class ScalarRanges {

  private ScalarRanges() {}

  /**
   * Checks the explicit scale and softcap of {@code options} against the compute type of {@code
   * inputType}.
   *
   * @param inputType the query's dtype; other than float16, float32 and float64 nothing is checked
   *     (the caller refuses those types itself)
   * @param options the options whose scale and softcap are checked
   * @throws IllegalArgumentException when the scale or the softcap is not a normal number of the
   *     compute type
   */
  static void check(DataType inputType, AttentionOptions options) {
    if (inputType != DataType.FLOAT16
        && inputType != DataType.FLOAT32
        && inputType != DataType.FLOAT64) {
      return;
    }
    DataType computeType = Attention.computeType(inputType);
    if (options.scale() != null) {
      check("scale", options.scale(), computeType);
    }
    if (options.softcap() != null) {
      check("softcap", options.softcap(), computeType);
    }
  }

  private static void check(String what, double value, DataType computeType) {
    if (computeType == DataType.FLOAT64) {
      if (value >= Double.MIN_NORMAL && value <= Double.MAX_VALUE) {
        return;
      }
      throw refused(what, value, "float64", Double.MIN_NORMAL, Double.MAX_VALUE, value);
    }
    float narrowed = (float) value; // rounded to nearest, as the kernels and libtorch round it
    if (narrowed >= Float.MIN_NORMAL && narrowed <= Float.MAX_VALUE) {
      return;
    }
    throw refused(what, value, "float32", Float.MIN_NORMAL, Float.MAX_VALUE, narrowed);
  }

  private static IllegalArgumentException refused(
      String what, double value, String type, Number min, Number max, double becomes) {
    String outcome =
        Double.isInfinite(becomes) || becomes == 0
            ? String.valueOf(becomes)
            : String.format(Locale.ROOT, "the subnormal %.6g", becomes); // the value it holds
    return new IllegalArgumentException(
        String.format(
            Locale.ROOT,
            "%s %s is outside the range %s can compute with: [%s, %s] (it would become %s)",
            what,
            value,
            type,
            min,
            max,
            outcome));
  }
}
