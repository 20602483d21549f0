package io.github.djlattention.compare;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The element-wise comparison of one array with an expected one: the tolerance verdict, where it is
 * worst, and error statistics. The project's one comparison: the conformance suites, {@code check}
 * and the tests all use it.
 *
 * <p>Element rule ({@link Tolerance#accepts}): finite values agree within {@code atol + rtol ·
 * |expected|}; an infinity agrees only with the same infinity; NaN agrees with nothing, not even
 * NaN (unless the tolerance says {@link Tolerance#withMatchingNan()}).
 *
 * <p>Per-element error, on which the statistics are built: 0 for a pair that agrees by that rule
 * without being finite (equal infinities, matching NaN); NaN when a NaN is in a pair that does not
 * agree; +∞ for a finite value against an infinity, or opposite infinities; else {@code |actual −
 * expected|}.
 *
 * <p>Use: {@code ElementComparison.compare(expected, actual)} (tolerance from the expected element
 * type, {@link Tolerances#forType}), {@code compare(expected, actual, tolerance)} on NDArrays, or
 * {@link #compare(double[], double[], long[], Tolerance, double)} on row-major values, or {@link
 * #perIndex} once per index along an axis (per head); then {@link #agrees()}, {@link #worst()} and
 * {@link #statistics()}. {@link #relativeFloor(double[], double)} gives a floor that follows the
 * data's scale.
 *
 * @param shape the expected array's shape
 * @param sameShape whether the actual array has that shape; when not, nothing was compared
 * @param tolerance the tolerance applied
 * @param mismatched elements outside the tolerance (every expected element when nothing was
 *     compared)
 * @param nonFiniteMismatches of those, the ones where a NaN or an infinity is involved
 * @param worst the element furthest outside the tolerance (the first non-finite mismatch, else the
 *     largest absolute error among mismatches), or, when every element agrees, the one closest to
 *     its bound; {@link Worst#NONE} when nothing was compared or there are no elements
 * @param statistics the error statistics
 */
public record ElementComparison(
    long[] shape,
    boolean sameShape,
    Tolerance tolerance,
    long mismatched,
    long nonFiniteMismatches,
    Worst worst,
    Statistics statistics) {

  /**
   * One element.
   *
   * @param flatIndex its row-major index, −1 for {@link #NONE}
   * @param index its index on each axis (empty for {@link #NONE})
   * @param expected the expected value there
   * @param actual the actual value there
   */
  public record Worst(long flatIndex, long[] index, double expected, double actual) {
    /** No element. */
    public static final Worst NONE = new Worst(-1, new long[0], Double.NaN, Double.NaN);

    /**
     * The index as text.
     *
     * @return e.g. {@code [0, 1, 2]}
     */
    public String indexText() {
      return Arrays.toString(index);
    }
  }

  /**
   * The 50th, 90th and 99th percentiles of a per-element error (nearest rank; NaN errors rank above
   * +∞).
   *
   * @param p50 the median
   * @param p90 the 90th percentile
   * @param p99 the 99th percentile
   */
  public record Percentiles(double p50, double p90, double p99) {
    /** The percentiles of no elements. */
    public static final Percentiles NONE = new Percentiles(Double.NaN, Double.NaN, Double.NaN);

    /** Nearest-rank percentiles by selection (expected linear time); reorders {@code errors}. */
    static Percentiles of(double[] errors) {
      int n = errors.length;
      if (n == 0) {
        return NONE;
      }
      // NaN ranks above +∞: move the NaNs to the end, select among the numbers before them.
      int numbers = 0;
      for (int i = 0; i < n; i++) {
        if (!Double.isNaN(errors[i])) {
          double v = errors[i];
          errors[i] = errors[numbers];
          errors[numbers++] = v;
        }
      }
      // Largest rank first: each selection leaves the smaller ranks in the part before it.
      double p99 = rank(errors, numbers, 0.99, numbers - 1);
      double p90 = rank(errors, numbers, 0.90, rankIndex(0.99, n));
      double p50 = rank(errors, numbers, 0.50, rankIndex(0.90, n));
      return new Percentiles(p50, p90, p99);
    }

    private static int rankIndex(double p, int n) {
      return Math.max((int) Math.ceil(p * n), 1) - 1;
    }

    /** The value at rank p among the first {@code numbers} values, searched in [0, last]. */
    private static double rank(double[] values, int numbers, double p, int last) {
      int k = rankIndex(p, values.length);
      if (k >= numbers) {
        return Double.NaN;
      }
      return select(values, 0, Math.min(last, numbers - 1), k);
    }

    /** The k-th smallest of {@code values[lo..hi]} (no NaN), partitioning in place. */
    private static double select(double[] values, int lo, int hi, int k) {
      while (lo < hi) {
        double pivot = median(values[lo], values[(lo + hi) >>> 1], values[hi]);
        int i = lo;
        int j = hi;
        while (i <= j) {
          while (values[i] < pivot) {
            i++;
          }
          while (values[j] > pivot) {
            j--;
          }
          if (i <= j) {
            double v = values[i];
            values[i++] = values[j];
            values[j--] = v;
          }
        }
        if (k <= j) {
          hi = j;
        } else if (k >= i) {
          lo = i;
        } else {
          return values[k];
        }
      }
      return values[k];
    }

    private static double median(double a, double b, double c) {
      return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    }
  }

  /**
   * Error statistics over the compared elements.
   *
   * @param elements how many elements were compared (0 when the shapes differ)
   * @param maxAbsError the largest per-element error: NaN if any is NaN, +∞ if any is infinite (and
   *     +∞ when nothing was compared)
   * @param maxRelError the largest {@code |actual − expected| / |expected|} over pairs where both
   *     are finite and the expected value is not zero (+∞ when nothing was compared)
   * @param relativeFloor the floor of the floored relative error
   * @param maxFlooredRelError the largest per-element error divided by {@code max(|expected|,
   *     relativeFloor)}, so that near-zero expected values do not dominate; NaN and +∞ as for the
   *     absolute error
   * @param absolute the percentiles of the per-element error
   * @param flooredRelative the percentiles of the floored relative error
   * @param cosineSimilarity {@code Σ e·a / (‖e‖ ‖a‖)} of the two arrays as vectors: 1 when both
   *     norms are 0, 0 when one is; pairs that agree without being finite (equal infinities) are
   *     left out, and any other non-finite pair makes it NaN (as does having no finite pair)
   */
  public record Statistics(
      long elements,
      double maxAbsError,
      double maxRelError,
      double relativeFloor,
      double maxFlooredRelError,
      Percentiles absolute,
      Percentiles flooredRelative,
      double cosineSimilarity) {

    static Statistics notCompared(double relativeFloor) {
      double inf = Double.POSITIVE_INFINITY;
      return new Statistics(
          0, inf, inf, relativeFloor, inf, Percentiles.NONE, Percentiles.NONE, Double.NaN);
    }
  }

  /**
   * Whether the shapes match and every element is within tolerance.
   *
   * @return true on agreement
   */
  public boolean agrees() {
    return sameShape && mismatched == 0;
  }

  /**
   * Compares two arrays under the tolerance of the expected array's element type.
   *
   * @param expected the oracle's array; its element type picks the tolerance
   * @param actual the array under test
   * @return the comparison
   */
  public static ElementComparison compare(NDArray expected, NDArray actual) {
    return compare(expected, actual, Tolerances.forType(expected.getDataType()));
  }

  /**
   * Compares two arrays under a tolerance, with its {@link Tolerance#relativeFloor()}.
   *
   * @param expected the oracle's array
   * @param actual the array under test; any element type, read as float64
   * @param tolerance the tolerance
   * @return the comparison; not compared when the shapes differ
   */
  public static ElementComparison compare(NDArray expected, NDArray actual, Tolerance tolerance) {
    return compare(expected, actual, tolerance, tolerance.relativeFloor());
  }

  /**
   * Compares two arrays under a tolerance, with a given floor for the relative error.
   *
   * @param expected the oracle's array
   * @param actual the array under test; any element type, read as float64
   * @param tolerance the tolerance
   * @param relativeFloor the floor of the floored relative error, > 0
   * @return the comparison; not compared when the shapes differ
   */
  public static ElementComparison compare(
      NDArray expected, NDArray actual, Tolerance tolerance, double relativeFloor) {
    long[] shape = expected.getShape().getShape();
    if (!expected.getShape().equals(actual.getShape())) {
      return notCompared(shape, tolerance, relativeFloor);
    }
    return compare(toDoubles(expected), toDoubles(actual), shape, tolerance, relativeFloor);
  }

  /**
   * Compares row-major values under a tolerance, with its {@link Tolerance#relativeFloor()}.
   *
   * @param expected the expected values
   * @param actual the values under test, as many
   * @param shape the arrays' shape (its product is the number of values)
   * @param tolerance the tolerance
   * @return the comparison
   * @throws IllegalArgumentException if the lengths differ or do not fit the shape
   */
  public static ElementComparison compare(
      double[] expected, double[] actual, long[] shape, Tolerance tolerance) {
    return compare(expected, actual, shape, tolerance, tolerance.relativeFloor());
  }

  /**
   * Compares row-major values under a tolerance, with a given floor for the relative error.
   *
   * @param expected the expected values
   * @param actual the values under test, as many
   * @param shape the arrays' shape (its product is the number of values)
   * @param tolerance the tolerance
   * @param relativeFloor the floor of the floored relative error, > 0
   * @return the comparison
   * @throws IllegalArgumentException if the lengths differ or do not fit the shape, or the floor is
   *     not positive and finite
   */
  public static ElementComparison compare(
      double[] expected, double[] actual, long[] shape, Tolerance tolerance, double relativeFloor) {
    requireFloor(relativeFloor);
    requireSizes(expected, actual, shape);
    int n = expected.length;
    double[] abs = new double[n];
    double[] floored = new double[n];
    double maxAbs = 0;
    double maxRel = 0;
    double maxFloored = 0;
    long mismatched = 0;
    long nonFinite = 0;
    int worst = -1;
    double worstScore = -1;
    for (int i = 0; i < n; i++) {
      double e = expected[i];
      double a = actual[i];
      boolean ok = tolerance.accepts(e, a);
      boolean finite = Double.isFinite(e) && Double.isFinite(a);
      abs[i] = error(e, a, ok);
      floored[i] = abs[i] / Math.max(Double.isFinite(e) ? Math.abs(e) : 0, relativeFloor);
      maxAbs = max(maxAbs, abs[i]);
      maxFloored = max(maxFloored, floored[i]);
      if (finite) {
        if (e != 0) {
          maxRel = Math.max(maxRel, abs[i] / Math.abs(e));
        }
      }
      if (!ok) {
        mismatched++;
        nonFinite += finite ? 0 : 1;
      }
      // How far outside the band: non-finite misses first, then misses by their error, then the
      // agreeing elements by how close they come to their bound.
      double score;
      if (ok) {
        score = finite ? abs[i] / Math.max(tolerance.allowed(e), Double.MIN_NORMAL) : 0;
      } else {
        score = finite ? 1 + abs[i] : Double.MAX_VALUE;
      }
      if (worst < 0 || score > worstScore) {
        worst = i;
        worstScore = score;
      }
    }
    Worst where =
        worst < 0
            ? Worst.NONE
            : new Worst(worst, unravel(worst, shape), expected[worst], actual[worst]);
    Statistics statistics =
        new Statistics(
            n,
            maxAbs,
            maxRel,
            relativeFloor,
            maxFloored,
            Percentiles.of(abs),
            Percentiles.of(floored),
            nonFinite > 0 ? Double.NaN : cosine(expected, actual));
    return new ElementComparison(
        shape.clone(), true, tolerance, mismatched, nonFinite, where, statistics);
  }

  /**
   * Compares row-major values once per index along one axis, e.g. once per head along axis 1 of (B,
   * H, S, D).
   *
   * @param expected the expected values
   * @param actual the values under test, as many
   * @param shape the arrays' shape
   * @param axis the axis to split along
   * @param tolerance the tolerance
   * @param relativeFloor the floor of the floored relative error (the same for every slice), > 0
   * @return one comparison per index along the axis, in order; each one's {@link #shape()} is the
   *     slice's (the axis of size 1), its worst element indexed in the whole array
   * @throws IllegalArgumentException if the lengths do not fit the shape or the axis is out of
   *     range
   */
  public static List<ElementComparison> perIndex(
      double[] expected,
      double[] actual,
      long[] shape,
      int axis,
      Tolerance tolerance,
      double relativeFloor) {
    if (axis < 0 || axis >= shape.length) {
      throw new IllegalArgumentException(
          "axis " + axis + " is out of range for shape " + Arrays.toString(shape));
    }
    requireFloor(relativeFloor);
    requireSizes(expected, actual, shape);
    int parts = Math.toIntExact(shape[axis]);
    long inner = 1;
    for (int d = axis + 1; d < shape.length; d++) {
      inner *= shape[d];
    }
    long[] sliceShape = shape.clone();
    sliceShape[axis] = 1;
    int sliceSize = parts == 0 ? 0 : expected.length / parts;
    List<ElementComparison> slices = new ArrayList<>(parts);
    for (int p = 0; p < parts; p++) {
      double[] e = new double[sliceSize];
      double[] a = new double[sliceSize];
      int[] whole = new int[sliceSize];
      for (int i = 0, n = 0; i < expected.length; i++) {
        if ((i / inner) % parts == p) {
          e[n] = expected[i];
          a[n] = actual[i];
          whole[n++] = i;
        }
      }
      ElementComparison slice = compare(e, a, sliceShape, tolerance, relativeFloor);
      Worst w = slice.worst();
      if (w.flatIndex() >= 0) {
        long[] index = w.index().clone();
        index[axis] = p;
        w = new Worst(whole[(int) w.flatIndex()], index, w.expected(), w.actual());
      }
      slices.add(
          new ElementComparison(
              slice.shape(),
              true,
              tolerance,
              slice.mismatched(),
              slice.nonFiniteMismatches(),
              w,
              slice.statistics()));
    }
    return slices;
  }

  /**
   * A floor for the relative error that follows the data's scale: a fraction of the largest finite
   * expected magnitude.
   *
   * @param expected the expected values
   * @param fraction e.g. 1e-3
   * @return the floor, at least {@link Double#MIN_NORMAL}
   */
  public static double relativeFloor(double[] expected, double fraction) {
    double max = 0;
    for (double v : expected) {
      if (Double.isFinite(v)) {
        max = Math.max(max, Math.abs(v));
      }
    }
    return Math.max(max * fraction, Double.MIN_NORMAL);
  }

  /**
   * The comparison of an output that was not produced, or not of the expected shape: every expected
   * element counts as mismatched.
   *
   * @param shape the expected shape
   * @param tolerance the tolerance that would have applied
   * @return a comparison that does not agree
   */
  public static ElementComparison notCompared(long[] shape, Tolerance tolerance) {
    return notCompared(shape, tolerance, tolerance.relativeFloor());
  }

  private static ElementComparison notCompared(
      long[] shape, Tolerance tolerance, double relativeFloor) {
    requireFloor(relativeFloor);
    long size = Arrays.stream(shape).reduce(1, Math::multiplyExact);
    return new ElementComparison(
        shape.clone(),
        false,
        tolerance,
        size,
        0,
        Worst.NONE,
        Statistics.notCompared(relativeFloor));
  }

  /** The per-element error of the class javadoc. */
  private static double error(double expected, double actual, boolean agrees) {
    if (agrees && !(Double.isFinite(expected) && Double.isFinite(actual))) {
      return 0; // equal infinities, or matching NaN
    }
    if (Double.isNaN(expected) || Double.isNaN(actual)) {
      return Double.NaN;
    }
    return Math.abs(actual - expected); // +∞ for a finite value against an infinity
  }

  /** The larger of two errors, NaN when either is. */
  private static double max(double a, double b) {
    return Double.isNaN(a) || Double.isNaN(b) ? Double.NaN : Math.max(a, b);
  }

  /** The cosine similarity over the pairs where both values are finite, scaled against overflow. */
  private static double cosine(double[] expected, double[] actual) {
    double scale = 0;
    boolean any = false;
    for (int i = 0; i < expected.length; i++) {
      if (Double.isFinite(expected[i]) && Double.isFinite(actual[i])) {
        any = true;
        scale = Math.max(scale, Math.max(Math.abs(expected[i]), Math.abs(actual[i])));
      }
    }
    if (!any) {
      return Double.NaN;
    }
    double dot = 0;
    double expectedNorm = 0;
    double actualNorm = 0;
    for (int i = 0; i < expected.length; i++) {
      if (scale > 0 && Double.isFinite(expected[i]) && Double.isFinite(actual[i])) {
        double e = expected[i] / scale;
        double a = actual[i] / scale;
        dot += e * a;
        expectedNorm += e * e;
        actualNorm += a * a;
      }
    }
    if (expectedNorm == 0 || actualNorm == 0) {
      return expectedNorm == actualNorm ? 1 : 0;
    }
    return Math.max(-1, Math.min(1, dot / (Math.sqrt(expectedNorm) * Math.sqrt(actualNorm))));
  }

  private static void requireSizes(double[] expected, double[] actual, long[] shape) {
    long size = Arrays.stream(shape).reduce(1, Math::multiplyExact);
    if (expected.length != actual.length || expected.length != size) {
      throw new IllegalArgumentException(
          "cannot compare "
              + actual.length
              + " values with "
              + expected.length
              + " expected ones of shape "
              + Arrays.toString(shape));
    }
  }

  private static void requireFloor(double relativeFloor) {
    if (!(relativeFloor > 0) || Double.isInfinite(relativeFloor)) {
      throw new IllegalArgumentException(
          "the relative error's floor must be finite and > 0, got " + relativeFloor);
    }
  }

  /** The array's values as float64, in row-major order. */
  private static double[] toDoubles(NDArray array) {
    if (array.getDataType() == DataType.FLOAT64) {
      return array.toDoubleArray();
    }
    try (NDArray converted = array.toType(DataType.FLOAT64, true)) {
      return converted.toDoubleArray();
    }
  }

  /** The multi-index of a row-major flat index. */
  private static long[] unravel(long flat, long[] shape) {
    long[] index = new long[shape.length];
    long rest = flat;
    for (int d = shape.length - 1; d >= 0; d--) {
      index[d] = rest % shape[d];
      rest /= shape[d];
    }
    return index;
  }
}
