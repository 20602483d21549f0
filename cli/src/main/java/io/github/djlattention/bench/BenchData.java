package io.github.djlattention.bench;

import java.util.Random;

/** The benchmark series' seeded inputs and their output comparison, in one place. */
final class BenchData {

  private BenchData() {}

  /** {@code size} floats uniform in [−1, 1), from {@code random}. */
  static float[] uniform(Random random, long size) {
    float[] data = new float[Math.toIntExact(size)];
    for (int n = 0; n < data.length; n++) {
      data[n] = random.nextFloat() * 2 - 1;
    }
    return data;
  }

  /** The largest |a − b| element-wise, or +∞ when the lengths differ (NaN compares as +∞ too). */
  static double maxAbsDiff(float[] a, float[] b) {
    if (a.length != b.length) {
      return Double.POSITIVE_INFINITY;
    }
    double worst = 0;
    for (int n = 0; n < a.length; n++) {
      double diff = Math.abs((double) a[n] - b[n]);
      worst = Double.isNaN(diff) ? Double.POSITIVE_INFINITY : Math.max(worst, diff);
    }
    return worst;
  }

  /** {@link #maxAbsDiff(float[], float[])} for doubles. */
  static double maxAbsDiff(double[] a, double[] b) {
    if (a.length != b.length) {
      return Double.POSITIVE_INFINITY;
    }
    double worst = 0;
    for (int n = 0; n < a.length; n++) {
      double diff = Math.abs(a[n] - b[n]);
      worst = Double.isNaN(diff) ? Double.POSITIVE_INFINITY : Math.max(worst, diff);
    }
    return worst;
  }
}
