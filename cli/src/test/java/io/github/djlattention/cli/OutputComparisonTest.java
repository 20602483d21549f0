package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.TestTensors;
import org.junit.jupiter.api.Test;

/** Errors, worst index, NaN mismatches and shape mismatches in {@code check}'s comparison. */
class OutputComparisonTest {

  @Test
  void reportsTheLargestErrorAndWhereItIs() {
    try (NDManager m = TestTensors.manager()) {
      OutputComparison c =
          OutputComparison.of(
              "output",
              m.create(new float[] {1f, 2.5f, 3f, 4f}, new Shape(2, 2)),
              m.create(new float[] {1f, 2f, 3f, 0f}, new Shape(2, 2)),
              1e-4);
      assertEquals(4.0, c.maxAbs());
      assertEquals(0.25, c.maxRel());
      assertArrayEquals(new long[] {1, 1}, c.worstIndex());
      assertFalse(c.passed());
    }
  }

  @Test
  void nanNeverAgreesButEqualInfinitiesDo() {
    try (NDManager m = TestTensors.manager()) {
      OutputComparison one =
          OutputComparison.of(
              "w", m.create(new float[] {0f, Float.NaN}), m.create(new float[] {0f, 0f}), 1e-4);
      assertEquals(1, one.nonFiniteMismatches());
      assertArrayEquals(new long[] {1}, one.worstIndex());
      assertFalse(one.passed());
      OutputComparison both =
          OutputComparison.of(
              "w",
              m.create(new float[] {Float.NaN, Float.NEGATIVE_INFINITY}),
              m.create(new float[] {Float.NaN, Float.NEGATIVE_INFINITY}),
              1e-4);
      // the conformance suite's rule (Tolerance): NaN on both sides is still a mismatch
      assertFalse(both.passed());
      assertEquals(1, both.nonFiniteMismatches());
      assertArrayEquals(new long[] {0}, both.worstIndex());
      OutputComparison infinities =
          OutputComparison.of(
              "w",
              m.create(new float[] {1f, Float.NEGATIVE_INFINITY}),
              m.create(new float[] {1f, Float.NEGATIVE_INFINITY}),
              1e-4);
      assertTrue(infinities.passed());
    }
  }

  @Test
  void differentShapesFail() {
    try (NDManager m = TestTensors.manager()) {
      OutputComparison c =
          OutputComparison.of("o", m.zeros(new Shape(2, 3)), m.zeros(new Shape(3, 2)), 1e-4);
      assertFalse(c.sameShape());
      assertFalse(c.passed());
    }
  }
}
