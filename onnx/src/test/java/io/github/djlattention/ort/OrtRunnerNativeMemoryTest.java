package io.github.djlattention.ort;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.djlattention.testing.NativeMemoryProbe;
import io.github.djlattention.testing.ProbeProcess;
import io.github.djlattention.testing.ResidentMemory;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Repeated {@link OrtRunner#run} calls keep the resident memory flat: every input tensor and result
 * is closed. The short form of {@code scripts/native-memory.sh} (see {@link NativeMemoryProbe} and
 * docs/reliability.md).
 *
 * <p>Bounds, in a JVM with a fixed 64 MiB heap, after 10,000 warm-up calls: RSS growth over 20,000
 * calls below 16 MiB, and below 4 MiB over the second half, where runs measure under 0.5 MiB. The
 * control {@code -Dprobe.leakBytes=512} (one leaked 512-byte array per call) measures about 5 MiB
 * over the second half, and fails.
 */
class OrtRunnerNativeMemoryTest {

  @Test
  void residentMemoryStaysFlatOverRepeatedRuns() throws Exception {
    assumeTrue(ResidentMemory.available(), "needs /proc/self/status");
    Map<String, Long> result = ProbeProcess.run("ort", 20_000, 10_000, 300);
    assertTrue(result.get("growth_kib") < 16 * 1024, "RSS growth after warm-up: " + result);
    assertTrue(
        result.get("second_half_growth_kib") < 4 * 1024, "RSS growth, second half: " + result);
  }
}
