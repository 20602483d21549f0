package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.djlattention.testing.NativeMemoryProbe;
import io.github.djlattention.testing.ProbeProcess;
import io.github.djlattention.testing.ResidentMemory;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Repeated fast-path calls (the native kernel, its helper thread, its cached scratch and packed
 * keys) keep the resident memory flat: the {@code fast} target of {@link NativeMemoryProbe}, with
 * the bounds of the block's test (10,000 calls after 10,000 warm-up: growth below 48 MiB, below 4
 * MiB over the second half).
 */
class FastPathNativeMemoryTest {

  @Test
  void residentMemoryStaysFlatOverRepeatedFastPathCalls() throws Exception {
    assumeTrue(ResidentMemory.available(), "needs /proc/self/status");
    Map<String, Long> result = ProbeProcess.run("fast", 10_000, 10_000, 300);
    assertTrue(result.get("growth_kib") < 48 * 1024, "RSS growth after warm-up: " + result);
    assertTrue(
        result.get("second_half_growth_kib") < 4 * 1024, "RSS growth, second half: " + result);
  }
}
