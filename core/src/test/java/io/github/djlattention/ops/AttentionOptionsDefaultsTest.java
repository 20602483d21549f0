package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The defaults that {@link AttentionOptions}'s class documentation lists, one by one. */
class AttentionOptionsDefaultsTest {

  @Test
  void builderStartsFromTheDocumentedDefaults() {
    for (AttentionOptions options :
        new AttentionOptions[] {AttentionOptions.builder().build(), AttentionOptions.defaults()}) {
      assertNull(options.mask(), "optMask");
      assertFalse(options.causal(), "optCausal");
      assertNull(options.scale(), "optScale: 1/√D");
      assertNull(options.softcap(), "optSoftcap");
      assertTrue(options.returnWeights(), "optReturnWeights");
      assertNull(options.pastKey(), "optKvCache key");
      assertNull(options.pastValue(), "optKvCache value");
      assertNull(options.nonPadKeyLengths(), "optNonPadKeyLengths");
      assertEquals(-1, options.leftWindow(), "optWindow left");
      assertEquals(-1, options.rightWindow(), "optWindow right");
      assertNull(options.softmaxPrecision(), "optSoftmaxPrecision");
      assertNull(options.scoresOutput(), "optScoresOutput");
      assertFalse(options.training(), "optTraining");
    }
    assertNull(AttentionOptions.builder().optSoftcap(0).build().softcap(), "softcap 0 is none");
  }
}
