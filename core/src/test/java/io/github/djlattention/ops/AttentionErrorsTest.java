package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.TestTensors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Bad shapes and settings are refused with a message that names them. */
class AttentionErrorsTest {

  private NDManager m;

  @BeforeEach
  void open() {
    m = TestTensors.manager();
  }

  @AfterEach
  void close() {
    m.close();
  }

  private NDArray zeros(long... shape) {
    return m.zeros(new Shape(shape));
  }

  private static void assertMessage(Executable call, String... parts) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should name " + part);
    }
  }

  @Test
  void rankMismatchNamesAllThreeShapes() {
    assertMessage(
        () -> Attention.attention(zeros(3, 4), zeros(1, 3, 4), zeros(3, 4)), "(3, 4)", "(1, 3, 4)");
  }

  @Test
  void headSizeMismatchNamesBothSizes() {
    assertMessage(
        () -> Attention.attention(zeros(2, 3, 4), zeros(2, 5, 6), zeros(2, 5, 6)),
        "head size",
        "4 vs 6");
  }

  @Test
  void keyAndValueLengthsMustAgree() {
    assertMessage(
        () -> Attention.attention(zeros(3, 4), zeros(5, 4), zeros(6, 4)), "length", "5 vs 6");
  }

  @Test
  void queryHeadsMustBeAMultipleOfKvHeads() {
    assertMessage(
        () -> Attention.attention(zeros(1, 6, 2, 4), zeros(1, 4, 2, 4), zeros(1, 4, 2, 4)),
        "query heads (6)",
        "key/value heads (4)");
  }

  @Test
  void maskThatDoesNotBroadcastIsNamed() {
    AttentionOptions options =
        AttentionOptions.builder().optMask(m.ones(new Shape(2, 3), DataType.BOOLEAN)).build();
    assertMessage(
        () -> Attention.attention(zeros(3, 4), zeros(5, 4), zeros(5, 4), options),
        "mask (2, 3)",
        "(3, 5)");
  }

  @Test
  void integerInputsAreRefused() {
    NDArray ints = m.zeros(new Shape(3, 4), DataType.INT32);
    assertMessage(() -> Attention.attention(ints, ints, ints), "int32");
  }

  @Test
  void badScaleAndSoftcapAreRefused() {
    assertMessage(() -> AttentionOptions.builder().optScale(0).build(), "scale", "0.0");
    assertMessage(() -> AttentionOptions.builder().optScale(Double.NaN).build(), "NaN");
    assertMessage(() -> AttentionOptions.builder().optSoftcap(-1).build(), "softcap", "-1.0");
  }

  @Test
  void softmaxAxisOutOfRangeIsNamed() {
    assertMessage(() -> Attention.softmax(zeros(3, 3), 2), "axis 2", "(3, 3)");
  }

  @Test
  void weightsAreRefusedWhenNotRequested() {
    AttentionResult result =
        Attention.attention(
            zeros(3, 4),
            zeros(3, 4),
            zeros(3, 4),
            AttentionOptions.builder().optReturnWeights(false).build());
    assertEquals(new Shape(3, 4), result.output().getShape());
    assertThrows(IllegalStateException.class, result::weights);
  }

  @Test
  void zeroLengthKeysGiveZeroOutput() {
    AttentionResult result = Attention.attention(zeros(2, 3, 4), zeros(2, 0, 4), zeros(2, 0, 5));
    assertEquals(new Shape(2, 3, 5), result.output().getShape());
    assertEquals(new Shape(2, 3, 0), result.weights().getShape());
    assertEquals(0f, result.output().abs().max().getFloat());
  }

  @Test
  void zeroLengthQueriesGiveEmptyOutput() {
    AttentionResult result = Attention.attention(zeros(0, 4), zeros(3, 4), zeros(3, 2));
    assertEquals(new Shape(0, 2), result.output().getShape());
  }

  @Test
  void fullyMaskedRowsGetZeroWeightsAndOutputNotNaN() {
    boolean[] keep = {false, false, false, true, false, true};
    AttentionOptions options =
        AttentionOptions.builder().optMask(m.create(keep, new Shape(2, 3))).build();
    AttentionResult result =
        Attention.attention(
            m.ones(new Shape(2, 4)), m.ones(new Shape(3, 4)), m.ones(new Shape(3, 2)), options);
    float[] weights = result.weights().toFloatArray();
    assertEquals(0f, weights[0] + weights[1] + weights[2]);
    assertEquals(1f, weights[3] + weights[5], 1e-6);
    float[] output = result.output().toFloatArray();
    assertEquals(0f, output[0]);
    assertEquals(1f, output[2], 1e-6);
  }
}
