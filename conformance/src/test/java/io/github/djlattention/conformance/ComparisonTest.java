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
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.compare.Tolerances;
import org.junit.jupiter.api.Test;

class ComparisonTest {

  @Test
  void reportsTheWorstElementAndItsIndex() {
    try (NDManager m = NDManager.newBaseManager()) {
      NDArray expected = m.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3));
      NDArray actual = m.create(new float[] {1, 2, 3, 4, 5.5f, 6}, new Shape(2, 3));
      Comparison c = Comparison.compare("Y", expected, actual);
      assertFalse(c.agrees());
      assertEquals("Y", c.output());
      assertEquals("float32", c.dataType());
      assertEquals(Tolerances.FLOAT32, c.tolerance());
      assertArrayEquals(new long[] {1, 1}, c.elements().worst().index());
      assertEquals(0.5, c.elements().statistics().maxAbsError(), 1e-7);
      assertEquals(0.1, c.elements().statistics().maxRelError(), 1e-7);
      assertEquals(1, c.elements().mismatched());
      assertEquals(5.0, c.elements().worst().expected());
      assertEquals(5.5, c.elements().worst().actual());
      assertEquals("", c.note());
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
      assertArrayEquals(new long[] {1}, nan.elements().worst().index());
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
      assertEquals(6, c.elements().mismatched());
    }
  }

  @Test
  void aMissingOutputFailsWithItsReason() {
    try (NDManager m = NDManager.newBaseManager()) {
      Comparison c = Comparison.missing("weights", m.zeros(new Shape(2, 2)), "not computed");
      assertFalse(c.agrees());
      assertEquals("not computed", c.note());
      assertEquals(4, c.elements().mismatched());
      assertEquals(Double.POSITIVE_INFINITY, c.elements().statistics().maxAbsError());
    }
  }

  @Test
  void toleranceRejectsNegativeValues() {
    assertThrows(IllegalArgumentException.class, () -> new Tolerance(-1, 0));
  }
}
