package io.github.djlattention.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

class ComparisonTest {

  @Test
  void reportsTheWorstElementAndItsIndex() {
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray expected = m.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3));
      NDArray actual = m.create(new float[] {1, 2, 3, 4, 5.5f, 6}, new Shape(2, 3));
      Comparison c = Comparison.compare("Y", expected, actual);
      assertFalse(c.agrees());
      assertArrayEquals(new long[] {1, 1}, c.worstIndex());
      assertEquals(0.5, c.maxAbsError(), 1e-7);
      assertEquals(0.1, c.maxRelError(), 1e-7);
      assertEquals(1, c.mismatched());
      assertEquals(5.0, c.worstExpected());
      assertEquals(5.5, c.worstActual());
    }
  }

  @Test
  void equalInfinitiesAgreeAndNanNeverDoes() {
    try (NDManager m = NDManager.newBaseManager()) {
      float inf = Float.NEGATIVE_INFINITY;
      NDArray expected = m.create(new float[] {inf, 1});
      assertTrue(Comparison.compare("x", expected, m.create(new float[] {inf, 1})).agrees());
      assertFalse(Comparison.compare("x", expected, m.create(new float[] {-3.4e38f, 1})).agrees());
      Comparison nan = Comparison.compare("x", expected, m.create(new float[] {inf, Float.NaN}));
      assertFalse(nan.agrees());
      assertArrayEquals(new long[] {1}, nan.worstIndex());
    }
  }

  @Test
  void toleranceComesFromTheExpectedType() {
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray expected = m.create(new float[] {1}).toType(DataType.FLOAT16, false);
      NDArray close = m.create(new float[] {1.0009765625f}).toType(DataType.FLOAT16, false);
      assertTrue(Comparison.compare("x", expected, close).agrees());
      assertFalse(
          Comparison.compare("x", m.create(new float[] {1}), m.create(new float[] {1.0009765625f}))
              .agrees());
      assertEquals(Tolerances.FLOAT16, Tolerances.forType(DataType.FLOAT16));
      assertEquals(Tolerances.EXACT, Tolerances.forType(DataType.INT64));
    }
  }

  @Test
  void shapeMismatchFails() {
    try (NDManager m = NDManager.newBaseManager()) {
      Comparison c = Comparison.compare("Y", m.zeros(new Shape(2, 3)), m.zeros(new Shape(3, 2)));
      assertFalse(c.agrees());
      assertTrue(c.note().contains("(3, 2)"), c.note());
    }
  }

  @Test
  void toleranceRejectsNegativeValues() {
    assertThrows(IllegalArgumentException.class, () -> new Tolerance(-1, 0));
  }
}
