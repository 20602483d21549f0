package io.github.djlattention.blocks;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.djlattention.testing.NativeMemoryProbe;
import io.github.djlattention.testing.ProbeProcess;
import io.github.djlattention.testing.ResidentMemory;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Repeated forward calls of a {@link MultiHeadAttentionBlock} through one predictor keep the
 * resident memory flat: the short form of {@code scripts/native-memory.sh} (see {@link
 * NativeMemoryProbe} and docs/reliability.md).
 *
 * <p>Bounds, in a JVM with a fixed 64 MiB heap, after 10,000 warm-up calls: RSS growth over 10,000
 * calls below 48 MiB (JIT and allocator arenas still settle), and below 4 MiB over the second half,
 * where runs measure under 0.2 MiB. The control {@code -Dprobe.leakBytes=1024} (one leaked 1 KiB
 * array per call) measures about 8 MiB over the second half, and fails.
 */
class BlockNativeMemoryTest {

  @Test
  void residentMemoryStaysFlatOverRepeatedForwardCalls() throws Exception {
    assumeTrue(ResidentMemory.available(), "needs /proc/self/status");
    Map<String, Long> result = ProbeProcess.run("block", 10_000, 10_000, 300);
    assertTrue(result.get("growth_kib") < 48 * 1024, "RSS growth after warm-up: " + result);
    assertTrue(
        result.get("second_half_growth_kib") < 4 * 1024, "RSS growth, second half: " + result);
  }
}
