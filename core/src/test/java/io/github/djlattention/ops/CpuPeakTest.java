package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

class CpuPeakTest {

  @Test
  void measuresAPositiveFiniteRateOnEveryThread() {
    assumeTrue(
        NativeAttentionKernel.status() == null,
        () -> "the native library is not available here: " + NativeAttentionKernel.status());
    for (int threads : new int[] {1, 2, 3}) {
      double gflops = CpuPeak.float32FmaGflops(threads, 5, 1);
      assertTrue(gflops > 0 && Double.isFinite(gflops), threads + " threads: " + gflops);
    }
  }

  @Test
  void refusesSizesThatAreNotPositive() {
    assumeTrue(
        NativeAttentionKernel.status() == null,
        () -> "the native library is not available here: " + NativeAttentionKernel.status());
    assertThrows(IllegalArgumentException.class, () -> CpuPeak.float32FmaGflops(0, 5, 1));
    assertThrows(IllegalArgumentException.class, () -> CpuPeak.float32FmaGflops(1, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> CpuPeak.float32FmaGflops(1, 5, 0));
  }
}
