package io.github.djlattention.ops.contrib;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.TestTensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link RotaryEmbedding}: the pairs it rotates, the features it leaves, the positions it reads.
 */
class RotaryEmbeddingTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  /** cos/sin caches of angle p·(d + 1)/4 for position p and pair d. */
  private static NDArray[] caches(NDManager scope, int positions, int half) {
    double[] cos = new double[positions * half];
    double[] sin = new double[positions * half];
    for (int p = 0; p < positions; p++) {
      for (int d = 0; d < half; d++) {
        cos[p * half + d] = Math.cos(p * (d + 1) / 4.0);
        sin[p * half + d] = Math.sin(p * (d + 1) / 4.0);
      }
    }
    return new NDArray[] {
      scope.create(cos, new Shape(positions, half)), scope.create(sin, new Shape(positions, half))
    };
  }

  @Test
  void rotatesTheChosenPairsByTheirPositionsAndLeavesTheRest() {
    try (NDManager scope = manager.newSubManager()) {
      NDArray x = scope.arange(1, 17, 1, DataType.FLOAT64).reshape(1, 1, 2, 8); // (B, N, S, D)
      NDArray[] cs = caches(scope, 4, 2); // R = 4 of D = 8
      long[][] positions = {{0, 3}};
      for (boolean interleaved : new boolean[] {false, true}) {
        double[] y = RotaryEmbedding.apply(x, cs[0], cs[1], positions, interleaved).toDoubleArray();
        // token 0 at position 0 is unchanged
        for (int d = 0; d < 8; d++) {
          assertEquals(d + 1, y[d], 1e-12);
        }
        // token 1 at position 3: pair d = 1 is (x[1], x[3]) in halves, (x[2], x[3]) interleaved
        double angle = 3 * 2 / 4.0;
        int first = interleaved ? 2 : 1;
        int second = 3;
        double a = 9 + first;
        double b = 9 + second;
        assertEquals(a * Math.cos(angle) - b * Math.sin(angle), y[8 + first], 1e-12);
        assertEquals(b * Math.cos(angle) + a * Math.sin(angle), y[8 + second], 1e-12);
        for (int d = 4; d < 8; d++) {
          assertEquals(9 + d, y[8 + d], 1e-12, "feature " + d + " is past R");
        }
      }
    }
  }

  @Test
  void keepsEveryPairsLength() {
    try (NDManager scope = manager.newSubManager()) {
      NDArray x = scope.randomUniform(-1, 1, new Shape(2, 3, 4, 6), DataType.FLOAT64);
      NDArray[] cs = caches(scope, 9, 3);
      long[][] positions = {{0, 2, 5, 8}, {1, 1, 4, 7}};
      NDArray y = RotaryEmbedding.apply(x, cs[0], cs[1], positions, false);
      NDArray before =
          x.get(new NDIndex("..., :3")).square().add(x.get(new NDIndex("..., 3:")).square());
      NDArray after =
          y.get(new NDIndex("..., :3")).square().add(y.get(new NDIndex("..., 3:")).square());
      assertTrue(before.allClose(after, 1e-12, 1e-12, false));
    }
  }

  @Test
  void refusesPositionsOutsideTheCaches() {
    try (NDManager scope = manager.newSubManager()) {
      NDArray x = scope.zeros(new Shape(1, 1, 2, 4), DataType.FLOAT64);
      NDArray[] cs = caches(scope, 3, 2);
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () -> RotaryEmbedding.apply(x, cs[0], cs[1], new long[][] {{1, 3}}, false));
      assertTrue(e.getMessage().contains("position 3"), e.getMessage());
    }
  }
}
