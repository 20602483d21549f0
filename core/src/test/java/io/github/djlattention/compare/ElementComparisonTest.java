package io.github.djlattention.compare;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.compare.ElementComparison.Statistics;
import io.github.djlattention.testing.TestTensors;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The one element-wise comparison: verdict, NaN and infinity rule, worst element, statistics. */
class ElementComparisonTest {

  private static final double NAN = Double.NaN;
  private static final double INF = Double.POSITIVE_INFINITY;

  private static ElementComparison compare(double[] expected, double[] actual, Tolerance t) {
    return ElementComparison.compare(expected, actual, new long[] {expected.length}, t);
  }

  @Test
  void reportsTheWorstElementItsIndexAndTheErrors() {
    ElementComparison c =
        ElementComparison.compare(
            new double[] {1, 2, 3, 4, 5, 6},
            new double[] {1, 2, 3, 4, 5.5, 6},
            new long[] {2, 3},
            Tolerances.FLOAT32);
    assertFalse(c.agrees());
    assertEquals(1, c.mismatched());
    assertEquals(0, c.nonFiniteMismatches());
    assertEquals(4, c.worst().flatIndex());
    assertArrayEquals(new long[] {1, 1}, c.worst().index());
    assertEquals("[1, 1]", c.worst().indexText());
    assertEquals(5.0, c.worst().expected());
    assertEquals(5.5, c.worst().actual());
    assertEquals(6, c.statistics().elements());
    assertEquals(0.5, c.statistics().maxAbsError());
    assertEquals(0.1, c.statistics().maxRelError(), 1e-15);
  }

  @Test
  void amongAgreeingElementsTheWorstIsClosestToItsBound() {
    // 1e-4 off at 100 (bound 1e-2) is further inside than 1e-6 off at 0 (bound 1e-6)
    Tolerance t = new Tolerance(1e-4, 1e-6);
    ElementComparison c = compare(new double[] {100, 0}, new double[] {100.0001, 1e-6}, t);
    assertTrue(c.agrees());
    assertEquals(1, c.worst().flatIndex());
    assertEquals(1e-4, c.statistics().maxAbsError(), 1e-12);
  }

  @Test
  void nanNeverAgreesEqualInfinitiesDoAndOthersCountAsNonFinite() {
    Tolerance t = new Tolerance(0, 1e-4);
    ElementComparison c =
        compare(
            new double[] {1, -INF, NAN, 2, INF, 0}, new double[] {1, -INF, NAN, INF, -INF, NAN}, t);
    assertEquals(4, c.mismatched());
    assertEquals(4, c.nonFiniteMismatches());
    assertEquals(2, c.worst().flatIndex(), "the first non-finite mismatch");
    assertTrue(Double.isNaN(c.statistics().maxAbsError()));
    assertEquals(0, c.statistics().maxRelError(), "over finite pairs only");
    assertTrue(compare(new double[] {-INF, 1}, new double[] {-INF, 1}, t).agrees());
    ElementComparison finiteAgainstInfinity = compare(new double[] {0}, new double[] {INF}, t);
    assertEquals(INF, finiteAgainstInfinity.statistics().maxAbsError());
    assertFalse(compare(new double[] {-INF}, new double[] {-3.4028234663852886e38}, t).agrees());
  }

  @Test
  void nanMatchesNanOnlyWhenTheToleranceSaysSo() {
    Tolerance propagating = new Tolerance(0, 1e-4).withMatchingNan();
    ElementComparison both = compare(new double[] {NAN, 1}, new double[] {NAN, 1}, propagating);
    assertTrue(both.agrees());
    assertEquals(0, both.statistics().maxAbsError());
    assertFalse(compare(new double[] {NAN}, new double[] {1}, propagating).agrees());
    assertFalse(compare(new double[] {1}, new double[] {NAN}, propagating).agrees());
    assertFalse(compare(new double[] {NAN}, new double[] {NAN}, new Tolerance(0, 1e-4)).agrees());
  }

  @Test
  void theFlooredRelativeErrorIgnoresNearZeroExpectedValues() {
    // 1e-9 off at 1e-9 is a relative error of 1; against the floor 1e-2 it is 1e-7
    Tolerance t = Tolerances.FLOAT32;
    assertEquals(1e-2, t.relativeFloor(), 1e-15);
    ElementComparison c = compare(new double[] {1e-9, 1}, new double[] {2e-9, 1.00001}, t);
    Statistics s = c.statistics();
    assertEquals(1.0, s.maxRelError(), 1e-9);
    assertEquals(1e-5, s.maxFlooredRelError(), 1e-12);
    assertEquals(1e-2, s.relativeFloor(), 1e-15);
    ElementComparison tight =
        ElementComparison.compare(
            new double[] {1e-9, 1}, new double[] {2e-9, 1.00001}, new long[] {2}, t, 1e-12);
    assertEquals(1.0, tight.statistics().maxFlooredRelError(), 1e-9);
    assertEquals(1e-4, new Tolerance(0, 1e-4).relativeFloor());
    assertEquals(Double.MIN_NORMAL, Tolerances.EXACT.relativeFloor());
    assertThrows(
        IllegalArgumentException.class,
        () -> ElementComparison.compare(new double[] {1}, new double[] {1}, new long[] {1}, t, 0));
  }

  @Test
  void percentilesAreNearestRankOfTheErrors() {
    int n = 200;
    double[] expected = new double[n];
    double[] actual = new double[n];
    for (int i = 0; i < n; i++) {
      actual[i] = (i + 1) * 1e-3; // errors 0.001 .. 0.2
    }
    Statistics s = compare(expected, actual, Tolerances.FLOAT32).statistics();
    assertEquals(0.100, s.absolute().p50(), 1e-12);
    assertEquals(0.180, s.absolute().p90(), 1e-12);
    assertEquals(0.198, s.absolute().p99(), 1e-12);
    assertEquals(0.200, s.maxAbsError(), 1e-12);
    // with the floor 1e-2 under |expected| = 0, each floored relative error is the error / 1e-2
    assertEquals(10.0, s.flooredRelative().p50(), 1e-9);
    Statistics one = compare(new double[] {1}, new double[] {1.5}, Tolerances.FLOAT32).statistics();
    assertEquals(0.5, one.absolute().p50());
    assertEquals(0.5, one.absolute().p99());
    Statistics withNan =
        compare(new double[] {0, 0, 0}, new double[] {0, 1, NAN}, Tolerances.FLOAT32).statistics();
    assertEquals(1, withNan.absolute().p50());
    assertTrue(Double.isNaN(withNan.absolute().p99()), "NaN errors rank last");
  }

  @Test
  void percentilesBySelectionAreThoseOfTheSortedErrors() {
    Random random = new Random(3);
    for (int c = 0; c < 300; c++) {
      int n = 1 + random.nextInt(c < 200 ? 12 : 3000);
      double[] expected = new double[n];
      double[] actual = new double[n];
      for (int i = 0; i < n; i++) {
        int kind = random.nextInt(10);
        actual[i] =
            kind == 0 ? NAN : kind == 1 ? INF : kind < 5 ? random.nextInt(3) : random.nextDouble();
      }
      Statistics s = compare(expected, actual, Tolerances.FLOAT32).statistics();
      double[] errors = new double[n];
      for (int i = 0; i < n; i++) {
        errors[i] = Double.isNaN(actual[i]) ? NAN : Math.abs(actual[i]);
      }
      java.util.Arrays.sort(errors);
      for (double p : new double[] {0.5, 0.9, 0.99}) {
        double want = errors[Math.max((int) Math.ceil(p * n), 1) - 1];
        double got =
            p == 0.5 ? s.absolute().p50() : p == 0.9 ? s.absolute().p90() : s.absolute().p99();
        assertEquals(want, got, "p" + p + " of " + java.util.Arrays.toString(actual));
      }
    }
  }

  @Test
  void cosineSimilarityOverFinitePairs() {
    Tolerance t = Tolerances.FLOAT32;
    assertEquals(
        1,
        compare(new double[] {1, 2}, new double[] {2, 4}, t).statistics().cosineSimilarity(),
        1e-15);
    assertEquals(
        0,
        compare(new double[] {1, 0}, new double[] {0, 3}, t).statistics().cosineSimilarity(),
        1e-15);
    assertEquals(
        -1,
        compare(new double[] {1, 2}, new double[] {-1, -2}, t).statistics().cosineSimilarity(),
        1e-15);
    assertEquals(
        1, compare(new double[] {0, 0}, new double[] {0, 0}, t).statistics().cosineSimilarity());
    assertEquals(
        0, compare(new double[] {0, 0}, new double[] {0, 1}, t).statistics().cosineSimilarity());
    // no overflow at float32's extremes; equal infinities are left out, a NaN pair makes it NaN
    double big = 3.4e38;
    assertEquals(
        1,
        compare(new double[] {big, big, INF}, new double[] {big, big, INF}, t)
            .statistics()
            .cosineSimilarity(),
        1e-15);
    assertTrue(
        Double.isNaN(
            compare(new double[] {1, NAN}, new double[] {1, 1}, t)
                .statistics()
                .cosineSimilarity()));
    assertTrue(
        Double.isNaN(
            compare(new double[] {NAN}, new double[] {NAN}, t).statistics().cosineSimilarity()));
  }

  @Test
  void perIndexComparesEachSliceAndIndexesItsWorstInTheWholeArray() {
    // (B=2, H=2, X=2): head 1 of batch 1 is off by 1 at its last element
    double[] expected = new double[8];
    double[] actual = new double[8];
    actual[7] = 1;
    java.util.List<ElementComparison> heads =
        ElementComparison.perIndex(
            expected, actual, new long[] {2, 2, 2}, 1, new Tolerance(0, 1e-6), 1e-9);
    assertEquals(2, heads.size());
    assertTrue(heads.get(0).agrees());
    assertFalse(heads.get(1).agrees());
    assertEquals(4, heads.get(1).statistics().elements());
    assertArrayEquals(new long[] {2, 1, 2}, heads.get(1).shape());
    assertArrayEquals(new long[] {1, 1, 1}, heads.get(1).worst().index());
    assertEquals(7, heads.get(1).worst().flatIndex());
    assertEquals(1, heads.get(1).statistics().maxAbsError());
    assertThrows(
        IllegalArgumentException.class,
        () ->
            ElementComparison.perIndex(
                expected, actual, new long[] {2, 2, 2}, 3, Tolerances.EXACT, 1));
  }

  @Test
  void aFloorCanFollowTheDataScale() {
    assertEquals(
        2e-3, ElementComparison.relativeFloor(new double[] {-2, 1, NAN, INF}, 1e-3), 1e-18);
    assertEquals(Double.MIN_NORMAL, ElementComparison.relativeFloor(new double[] {0, 0}, 1e-3));
    // with it, 0.001 off at 0 counts like 0.5 off at 2: 0.25 each
    Statistics s =
        ElementComparison.compare(
                new double[] {1, 2, 0, -4},
                new double[] {1, 2.5, 0.001, -4},
                new long[] {2, 2},
                new Tolerance(0.1, 0.01),
                0.004)
            .statistics();
    assertEquals(0.25, s.maxFlooredRelError(), 1e-12);
    double cosine = 22 / (Math.sqrt(21) * Math.sqrt(1 + 6.25 + 0.000001 + 16));
    assertEquals(cosine, s.cosineSimilarity(), 1e-12);
  }

  @Test
  void differentShapesAndMissingOutputsCompareNothing() {
    try (NDManager m = TestTensors.manager()) {
      ElementComparison c =
          ElementComparison.compare(m.zeros(new Shape(2, 3)), m.zeros(new Shape(3, 2)));
      assertFalse(c.sameShape());
      assertFalse(c.agrees());
      assertEquals(6, c.mismatched());
      assertEquals(0, c.statistics().elements());
      assertEquals(INF, c.statistics().maxAbsError());
      assertEquals(ElementComparison.Worst.NONE, c.worst());
      assertArrayEquals(new long[] {2, 3}, c.shape());
    }
    ElementComparison missing = ElementComparison.notCompared(new long[] {4}, Tolerances.EXACT);
    assertFalse(missing.agrees());
    assertEquals(4, missing.mismatched());
    assertThrows(
        IllegalArgumentException.class,
        () ->
            ElementComparison.compare(
                new double[] {1, 2}, new double[] {1}, new long[] {2}, Tolerances.EXACT));
  }

  @Test
  void ndArraysAreReadAsFloat64AndTheToleranceFollowsTheExpectedType() {
    try (NDManager m = TestTensors.manager()) {
      NDArray expected = m.create(new float[] {1}).toType(DataType.FLOAT16, false);
      NDArray close = m.create(new float[] {1.0009765625f}).toType(DataType.FLOAT16, false);
      ElementComparison half = ElementComparison.compare(expected, close);
      assertTrue(half.agrees());
      assertEquals(Tolerances.FLOAT16, half.tolerance());
      assertFalse(
          ElementComparison.compare(
                  m.create(new float[] {1}), m.create(new float[] {1.0009765625f}))
              .agrees());
      NDArray ints = m.create(new long[] {1, 2, 3});
      assertTrue(ElementComparison.compare(ints, m.create(new int[] {1, 2, 3})).agrees());
      assertEquals(Tolerances.EXACT, Tolerances.forType(DataType.INT64));
    }
  }

  @Test
  void theVerdictIsTheToleranceOnEveryElement() {
    Random random = new Random(12);
    double[] specials = {NAN, INF, -INF, 0, -0.0, 1, 1e-4, 2e-4};
    for (int c = 0; c < 500; c++) {
      int n = 1 + random.nextInt(6);
      double[] want = new double[n];
      double[] got = new double[n];
      for (int i = 0; i < n; i++) {
        want[i] = random.nextInt(4) == 0 ? specials[random.nextInt(8)] : random.nextGaussian();
        got[i] =
            random.nextInt(4) == 0
                ? specials[random.nextInt(3)]
                : want[i] + 2e-4 * random.nextGaussian();
      }
      Tolerance t = new Tolerance(random.nextInt(2) * 1e-4, 1e-4, random.nextBoolean());
      ElementComparison result = compare(want, got, t);
      long outside = 0;
      long nonFinite = 0;
      for (int i = 0; i < n; i++) {
        if (!t.accepts(want[i], got[i])) {
          outside++;
          nonFinite += Double.isFinite(want[i]) && Double.isFinite(got[i]) ? 0 : 1;
        }
      }
      assertEquals(outside, result.mismatched());
      assertEquals(nonFinite, result.nonFiniteMismatches());
      assertEquals(outside == 0, result.agrees());
      if (outside > 0) {
        int w = (int) result.worst().flatIndex();
        assertFalse(t.accepts(want[w], got[w]), "the worst element is a mismatch");
      }
    }
  }

  @Test
  void tolerancesAreFiniteAndNonNegative() {
    assertThrows(IllegalArgumentException.class, () -> new Tolerance(-1, 0));
    assertThrows(IllegalArgumentException.class, () -> new Tolerance(0, INF));
    assertThrows(IllegalArgumentException.class, () -> new Tolerance(NAN, 0));
    assertEquals("rtol 1.0E-4, atol 1.0E-6", Tolerances.FLOAT32.toString());
  }
}
