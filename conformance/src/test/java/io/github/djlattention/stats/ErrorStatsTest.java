package io.github.djlattention.stats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The error statistics on values worked out by hand. */
class ErrorStatsTest {

  @Test
  void wholeArrayStatistics() {
    double[] expected = {1, 2, 0, -4};
    double[] actual = {1, 2.5, 0.001, -4};
    ErrorStats s = ErrorStats.of(expected, actual, new long[] {2, 2}, 0.1, 0.01, 0.004);
    assertEquals(4, s.count());
    assertEquals(0.5, s.maxAbs(), 1e-15);
    // rel: 0.5/2 = 0.25; 0.001/max(0, 0.004) = 0.25 as well; the floor keeps the zero in check
    assertEquals(0.25, s.maxRel(), 1e-12);
    assertEquals(1, s.mismatched(), "0.5 > 0.01 + 0.1·2");
    assertFalse(s.agrees());
    assertArrayEquals(new long[] {0, 1}, s.worstIndex());
    assertEquals(2, s.worstExpected());
    assertEquals(2.5, s.worstActual());
    // nearest rank over the sorted errors 0, 0, 0.001, 0.5
    assertEquals(0, s.p50(), 0);
    assertEquals(0.5, s.p90(), 0);
    assertEquals(0.5, s.p99(), 0);
    double dot = 1 + 5 + 16;
    double cosine = dot / (Math.sqrt(21) * Math.sqrt(1 + 6.25 + 0.000001 + 16));
    assertEquals(cosine, s.cosine(), 1e-12);
  }

  @Test
  void perHeadSplitsAlongAnAxis() {
    // (B=2, H=2, X=2): head 1 of batch 1 is off
    double[] expected = new double[8];
    double[] actual = new double[8];
    actual[7] = 1;
    List<ErrorStats> heads =
        ErrorStats.perIndex(expected, actual, new long[] {2, 2, 2}, 1, 0, 1e-6, 1e-9);
    assertEquals(2, heads.size());
    assertTrue(heads.get(0).agrees());
    assertFalse(heads.get(1).agrees());
    assertEquals(4, heads.get(1).count());
    assertArrayEquals(new long[] {1, 1, 1}, heads.get(1).worstIndex());
  }

  @Test
  void nanNeverAgreesAndEqualInfinitiesDo() {
    double inf = Double.POSITIVE_INFINITY;
    ErrorStats s =
        ErrorStats.of(
            new double[] {inf, 1}, new double[] {inf, Double.NaN}, new long[] {2}, 0, 0, 1);
    assertEquals(1, s.mismatched());
    assertTrue(Double.isNaN(s.maxAbs()));
    assertTrue(Double.isNaN(s.cosine()));
    assertArrayEquals(new long[] {1}, s.worstIndex());
    assertThrows(
        IllegalArgumentException.class,
        () -> ErrorStats.of(new double[2], new double[3], new long[] {2}, 0, 0, 1));
    assertEquals(2e-3, ErrorStats.floor(new double[] {-2, 1, Double.NaN}, 1e-3), 1e-18);
  }
}
