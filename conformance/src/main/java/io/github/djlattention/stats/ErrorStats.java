package io.github.djlattention.stats;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How far one array is from another, element by element: the largest absolute and relative errors,
 * percentiles of the absolute error, the cosine similarity, the element furthest outside the
 * tolerance and how many are outside it.
 *
 * <p>An element agrees when {@code |actual − expected| ≤ atol + rtol·|expected|}; equal infinities
 * agree, NaN never does. The relative error of an element is {@code |actual − expected| /
 * max(|expected|, floor)}: the floor (for example a thousandth of the largest expected magnitude)
 * keeps elements near zero from dominating it.
 *
 * @param count elements compared
 * @param maxAbs largest absolute error (NaN when a NaN appears, infinite when a finite value meets
 *     an infinite one)
 * @param maxRel largest relative error with the floor
 * @param relFloor the floor of the relative error's denominator
 * @param p50 median absolute error (nearest rank, as all three percentiles)
 * @param p90 90th percentile of the absolute error
 * @param p99 99th percentile of the absolute error
 * @param cosine cosine similarity of the two arrays as vectors (1 when both are zero, NaN when a
 *     value is not finite)
 * @param worstIndex index of the element furthest outside the tolerance (nearest its edge when all
 *     agree), in the full array's coordinates; empty when nothing was compared
 * @param worstExpected the expected value there
 * @param worstActual the actual value there
 * @param mismatched elements outside the tolerance
 * @param rtol the relative tolerance applied
 * @param atol the absolute tolerance applied
 */
public record ErrorStats(
    long count,
    double maxAbs,
    double maxRel,
    double relFloor,
    double p50,
    double p90,
    double p99,
    double cosine,
    long[] worstIndex,
    double worstExpected,
    double worstActual,
    long mismatched,
    double rtol,
    double atol) {

  /**
   * Whether every element agrees.
   *
   * @return true when none is outside the tolerance
   */
  public boolean agrees() {
    return mismatched == 0;
  }

  /**
   * The worst index as text, e.g. {@code [0, 3, 1, 7]}.
   *
   * @return the index
   */
  public String worstIndexText() {
    return Arrays.toString(worstIndex);
  }

  /**
   * Compares two arrays of the same shape.
   *
   * @param expected the reference values, C order
   * @param actual the compared values, C order
   * @param shape the shape of both
   * @param rtol relative tolerance
   * @param atol absolute tolerance
   * @param relFloor floor of the relative error's denominator
   * @return the statistics
   * @throws IllegalArgumentException when the lengths differ from each other or from the shape
   */
  public static ErrorStats of(
      double[] expected, double[] actual, long[] shape, double rtol, double atol, double relFloor) {
    check(expected, actual, shape);
    Accumulator all = new Accumulator(expected.length, shape, rtol, atol, relFloor);
    for (int i = 0; i < expected.length; i++) {
      all.add(i, expected[i], actual[i]);
    }
    return all.result();
  }

  /**
   * Compares two arrays of the same shape once per index along one axis, e.g. once per head along
   * axis 1 of (B, H, S, D).
   *
   * @param expected the reference values, C order
   * @param actual the compared values, C order
   * @param shape the shape of both
   * @param axis the axis to split along
   * @param rtol relative tolerance
   * @param atol absolute tolerance
   * @param relFloor floor of the relative error's denominator (the same for every slice)
   * @return one statistic per index along the axis; indices stay in the full array's coordinates
   * @throws IllegalArgumentException when the lengths differ or the axis is out of range
   */
  public static List<ErrorStats> perIndex(
      double[] expected,
      double[] actual,
      long[] shape,
      int axis,
      double rtol,
      double atol,
      double relFloor) {
    check(expected, actual, shape);
    if (axis < 0 || axis >= shape.length) {
      throw new IllegalArgumentException(
          "axis " + axis + " is out of range for shape " + Arrays.toString(shape));
    }
    int parts = Math.toIntExact(shape[axis]);
    long inner = 1;
    for (int d = axis + 1; d < shape.length; d++) {
      inner *= shape[d];
    }
    int sliceSize = parts == 0 ? 0 : expected.length / parts;
    List<Accumulator> accumulators = new ArrayList<>();
    for (int p = 0; p < parts; p++) {
      accumulators.add(new Accumulator(sliceSize, shape, rtol, atol, relFloor));
    }
    for (int i = 0; i < expected.length; i++) {
      int part = (int) ((i / inner) % parts);
      accumulators.get(part).add(i, expected[i], actual[i]);
    }
    return accumulators.stream().map(Accumulator::result).toList();
  }

  /**
   * A floor for the relative error: a fraction of the largest finite expected magnitude.
   *
   * @param expected the reference values
   * @param fraction e.g. 1e-3
   * @return the floor, at least {@link Double#MIN_NORMAL}
   */
  public static double floor(double[] expected, double fraction) {
    double max = 0;
    for (double v : expected) {
      if (Double.isFinite(v)) {
        max = Math.max(max, Math.abs(v));
      }
    }
    return Math.max(max * fraction, Double.MIN_NORMAL);
  }

  private static void check(double[] expected, double[] actual, long[] shape) {
    long size = 1;
    for (long d : shape) {
      size *= d;
    }
    if (expected.length != actual.length || expected.length != size) {
      throw new IllegalArgumentException(
          "cannot compare "
              + actual.length
              + " values with "
              + expected.length
              + " for shape "
              + Arrays.toString(shape));
    }
  }

  /** Collects the errors of one set of elements. */
  private static final class Accumulator {
    private final double[] errors;
    private final long[] shape;
    private final double rtol;
    private final double atol;
    private final double relFloor;
    private int count;
    private double maxAbs;
    private double maxRel;
    private double dot;
    private double expectedNorm;
    private double actualNorm;
    private boolean nonFinite;
    private long mismatched;
    private int worst = -1;
    private double worstScore = -1;
    private double worstExpected = Double.NaN;
    private double worstActual = Double.NaN;

    Accumulator(int capacity, long[] shape, double rtol, double atol, double relFloor) {
      this.errors = new double[capacity];
      this.shape = shape;
      this.rtol = rtol;
      this.atol = atol;
      this.relFloor = relFloor;
    }

    void add(int index, double expected, double actual) {
      double abs;
      boolean ok;
      if (Double.isNaN(expected) || Double.isNaN(actual)) {
        abs = Double.NaN;
        ok = false;
      } else if (expected == actual) {
        abs = 0; // equal infinities too
        ok = true;
      } else {
        abs = Math.abs(actual - expected);
        ok = Double.isFinite(abs) && abs <= atol + rtol * Math.abs(expected);
      }
      errors[count++] = Double.isNaN(abs) ? Double.POSITIVE_INFINITY : abs;
      maxAbs = Double.isNaN(abs) || Double.isNaN(maxAbs) ? Double.NaN : Math.max(maxAbs, abs);
      if (Double.isFinite(abs)) {
        maxRel = Math.max(maxRel, abs / Math.max(Math.abs(expected), relFloor));
      }
      if (Double.isFinite(expected) && Double.isFinite(actual)) {
        dot += expected * actual;
        expectedNorm += expected * expected;
        actualNorm += actual * actual;
      } else if (!(expected == actual)) {
        nonFinite = true;
      }
      if (!ok) {
        mismatched++;
      }
      double allowed = Math.max(atol + rtol * Math.abs(expected), Double.MIN_NORMAL);
      double score = Double.isFinite(abs) ? abs / allowed : Double.MAX_VALUE;
      if (score > worstScore) {
        worst = index;
        worstScore = score;
        worstExpected = expected;
        worstActual = actual;
      }
    }

    ErrorStats result() {
      double[] sorted = Arrays.copyOf(errors, count);
      Arrays.sort(sorted);
      double cosine;
      if (nonFinite) {
        cosine = Double.NaN;
      } else if (expectedNorm == 0 && actualNorm == 0) {
        cosine = 1;
      } else if (expectedNorm == 0 || actualNorm == 0) {
        cosine = 0;
      } else {
        cosine = dot / (Math.sqrt(expectedNorm) * Math.sqrt(actualNorm));
      }
      return new ErrorStats(
          count,
          maxAbs,
          maxRel,
          relFloor,
          percentile(sorted, 0.50),
          percentile(sorted, 0.90),
          percentile(sorted, 0.99),
          cosine,
          worst < 0 ? new long[0] : unravel(worst, shape),
          worstExpected,
          worstActual,
          mismatched,
          rtol,
          atol);
    }

    private static double percentile(double[] sorted, double q) {
      if (sorted.length == 0) {
        return 0;
      }
      int index = (int) Math.ceil(q * sorted.length) - 1;
      double value = sorted[Math.max(0, Math.min(sorted.length - 1, index))];
      return value == Double.POSITIVE_INFINITY ? Double.NaN : value;
    }

    private static long[] unravel(int flat, long[] shape) {
      long[] index = new long[shape.length];
      long rest = flat;
      for (int d = shape.length - 1; d >= 0; d--) {
        index[d] = shape[d] == 0 ? 0 : rest % shape[d];
        rest = shape[d] == 0 ? 0 : rest / shape[d];
      }
      return index;
    }
  }
}
