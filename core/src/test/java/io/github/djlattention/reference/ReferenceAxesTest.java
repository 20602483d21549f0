package io.github.djlattention.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** How calls of rank 2 to 4 and their NumPy-broadcast masks map onto the reference's four axes. */
class ReferenceAxesTest {

  @Test
  void shapesOfEachRankLieOnFourAxesAndBack() {
    assertArrayEquals(new int[] {1, 1, 3, 4}, ReferenceAttention.onFourAxes(new int[] {3, 4}));
    assertArrayEquals(new int[] {2, 1, 3, 4}, ReferenceAttention.onFourAxes(new int[] {2, 3, 4}));
    assertArrayEquals(
        new int[] {2, 5, 3, 4}, ReferenceAttention.onFourAxes(new int[] {2, 5, 3, 4}));
    assertArrayEquals(new int[] {3, 4}, ReferenceAttention.atRank(2, 2, 5, 3, 4));
    assertArrayEquals(new int[] {2, 3, 4}, ReferenceAttention.atRank(3, 2, 5, 3, 4));
    assertArrayEquals(new int[] {2, 5, 3, 4}, ReferenceAttention.atRank(4, 2, 5, 3, 4));
    assertThrows(IllegalArgumentException.class, () -> ReferenceAttention.onFourAxes(new int[5]));
    assertThrows(IllegalArgumentException.class, () -> ReferenceAttention.atRank(1, 1, 1, 1, 1));
  }

  @Test
  void masksAlignOnTheRightThenOnFourAxes() {
    // rank 4: (T) is (1, 1, 1, T); (H, 1, T) is (1, H, 1, T)
    assertArrayEquals(new int[] {1, 1, 1, 5}, ReferenceAttention.maskOnFourAxes(new int[] {5}, 4));
    assertArrayEquals(
        new int[] {1, 2, 1, 5}, ReferenceAttention.maskOnFourAxes(new int[] {2, 1, 5}, 4));
    // rank 3 (B, S, T): (S, T) is (1, 1, S, T); (B, 1, T) is (B, 1, 1, T)
    assertArrayEquals(
        new int[] {1, 1, 3, 5}, ReferenceAttention.maskOnFourAxes(new int[] {3, 5}, 3));
    assertArrayEquals(
        new int[] {2, 1, 1, 5}, ReferenceAttention.maskOnFourAxes(new int[] {2, 1, 5}, 3));
    // rank 2 (S, T): (T) is (1, 1, 1, T)
    assertArrayEquals(new int[] {1, 1, 1, 5}, ReferenceAttention.maskOnFourAxes(new int[] {5}, 2));
    assertThrows(
        IllegalArgumentException.class,
        () -> ReferenceAttention.maskOnFourAxes(new int[] {2, 3, 5}, 2));
  }
}
