package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The ends of the scale and softcap ranges, and the one message that names them. */
class ScalarRangesTest {

  private static AttentionOptions scale(double value) {
    return AttentionOptions.builder().optScale(value).build();
  }

  private static AttentionOptions softcap(double value) {
    return AttentionOptions.builder().optSoftcap(value).build();
  }

  @ParameterizedTest
  @ValueSource(
      doubles = {
        Float.MIN_NORMAL,
        Float.MAX_VALUE,
        1e-30,
        1,
        3e38,
        // rounds to FLT_MAX, not to +∞: the largest double that does
        3.4028235677973362e38
      })
  void float32NormalNumbersAreAccepted(double value) {
    for (DataType dtype : new DataType[] {DataType.FLOAT32, DataType.FLOAT16}) {
      assertDoesNotThrow(() -> ScalarRanges.check(dtype, scale(value)));
      assertDoesNotThrow(() -> ScalarRanges.check(dtype, softcap(value)));
    }
  }

  @Test
  void theMessageNamesTheValueTheRangeAndWhatTheValueWouldBecome() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> ScalarRanges.check(DataType.FLOAT32, scale(1e39)));
    assertEquals(
        "scale 1.0E39 is outside the range float32 can compute with:"
            + " [1.17549435E-38, 3.4028235E38] (it would become Infinity)",
        e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> ScalarRanges.check(DataType.FLOAT16, softcap(1e-40)));
    assertEquals(
        "softcap 1.0E-40 is outside the range float32 can compute with:"
            + " [1.17549435E-38, 3.4028235E38] (it would become the subnormal 9.99995e-41)",
        e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> ScalarRanges.check(DataType.FLOAT32, softcap(1e-50)));
    assertEquals(
        "softcap 1.0E-50 is outside the range float32 can compute with:"
            + " [1.17549435E-38, 3.4028235E38] (it would become 0.0)",
        e.getMessage());
  }

  @Test
  void justOutsideFloat32IsRefused() {
    double belowNormal = Math.nextDown(Float.MIN_NORMAL); // the largest subnormal float32
    double aboveMax = 3.4028235677973366e38; // the smallest double that rounds to +∞ in float32
    for (double value : new double[] {belowNormal, aboveMax}) {
      assertThrows(
          IllegalArgumentException.class,
          () -> ScalarRanges.check(DataType.FLOAT32, scale(value)),
          () -> "scale " + value);
      assertThrows(
          IllegalArgumentException.class,
          () -> ScalarRanges.check(DataType.FLOAT32, softcap(value)),
          () -> "softcap " + value);
    }
  }

  @Test
  void float64HasItsOwnRange() {
    assertDoesNotThrow(() -> ScalarRanges.check(DataType.FLOAT64, scale(1e39)));
    assertDoesNotThrow(() -> ScalarRanges.check(DataType.FLOAT64, softcap(1e-300)));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> ScalarRanges.check(DataType.FLOAT64, softcap(1e-310)));
    assertEquals(
        "softcap 1.0E-310 is outside the range float64 can compute with:"
            + " [2.2250738585072014E-308, 1.7976931348623157E308] (it would become the"
            + " subnormal 1.00000e-310)",
        e.getMessage());
  }

  @Test
  void theDefaultScaleAndNoSoftcapAreNotChecked() {
    assertDoesNotThrow(() -> ScalarRanges.check(DataType.FLOAT32, AttentionOptions.defaults()));
  }

  @Test
  void typesAttentionRefusesAnywayAreLeftToItsOwnMessage() {
    assertDoesNotThrow(() -> ScalarRanges.check(DataType.INT32, scale(1e39)));
    assertDoesNotThrow(() -> ScalarRanges.check(DataType.BFLOAT16, scale(1e39)));
  }
}
