package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.TestTensors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Attention whose (B, H, S, T) scores could not be allocated is refused before anything is
 * allocated, with the sizes in the message, instead of failing in PyTorch's allocator.
 */
class AttentionLimitsTest {

  private NDManager m;

  @BeforeEach
  void open() {
    m = TestTensors.manager();
  }

  @AfterEach
  void close() {
    m.close();
    System.clearProperty(AttentionLimits.MAX_SCORE_ELEMENTS_PROPERTY);
  }

  private NDArray zeros(long... shape) {
    return m.zeros(new Shape(shape));
  }

  private static String refused(Executable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().contains("limit"), e.getMessage());
    return e.getMessage();
  }

  @Test
  void emptyInputsWithAnOverflowingScoreCountAreRefused() {
    // No element in the inputs, 9e18 scores: PyTorch reports a storage size overflow.
    NDArray q = zeros(3_000_000_000L, 0);
    String message = refused(() -> Attention.attention(q, q, q));
    assertTrue(message.contains("(1, 1, 3000000000, 3000000000)"), message);
  }

  @Test
  void scoresBeyondTheBoundAreRefusedBeforeAllocating() {
    // 9e10 float32 scores (360 GB): PyTorch's allocator would fail with an EngineException.
    // (Attention.attention without weights takes the fast path, which holds no scores: the bound
    // is the step-by-step chain's.)
    NDArray q = zeros(300_000, 1);
    String message =
        refused(
            () ->
                Attention.attentionStepByStep(
                    q, q, q, AttentionOptions.builder().optReturnWeights(false).build()));
    assertTrue(message.contains("90000000000"), message);
  }

  @Test
  void theProductOfAllFourSizesCounts() {
    // Each size is small; B·H·S·T = 4·64·4096·2048 = 2^31 is not.
    NDArray q = zeros(4, 64, 4096, 0);
    NDArray k = zeros(4, 64, 2048, 0);
    String message = refused(() -> Attention.attention(q, k, k));
    assertTrue(message.contains("(4, 64, 4096, 2048)"), message);
  }

  @Test
  void theStepFunctionsAreGuardedToo() {
    NDArray q = zeros(2, 3_000_000_000L, 0);
    refused(() -> Attention.dotProductScores(q, q));
    refused(() -> Attention.scaledDotProductScores(q, q));
  }

  @Test
  void theBoundCanBeLoweredWithASystemProperty() {
    System.setProperty(AttentionLimits.MAX_SCORE_ELEMENTS_PROPERTY, "100");
    assertEquals(100, AttentionLimits.maxScoreElements());
    AttentionResult ok = Attention.attention(zeros(10, 2), zeros(10, 2), zeros(10, 2));
    assertEquals(new Shape(10, 10), ok.weights().getShape());
    String message = refused(() -> Attention.attention(zeros(10, 2), zeros(11, 2), zeros(11, 2)));
    assertTrue(message.contains("110"), message);
  }

  @Test
  void aMalformedBoundIsReported() {
    System.setProperty(AttentionLimits.MAX_SCORE_ELEMENTS_PROPERTY, "lots");
    IllegalStateException e =
        assertThrows(IllegalStateException.class, AttentionLimits::maxScoreElements);
    assertTrue(e.getMessage().contains("'lots'"), e.getMessage());
  }

  @Test
  void leadingAxesBroadcastInTheStepCount() {
    // (5, 1, S, D) against (1, 7, T, D): the scores are (5, 7, S, T).
    System.setProperty(AttentionLimits.MAX_SCORE_ELEMENTS_PROPERTY, String.valueOf(5 * 7 * 3 * 4));
    AttentionLimits.checkScores(new Shape(5, 1, 3, 2), new Shape(1, 7, 4, 2));
    refused(() -> AttentionLimits.checkScores(new Shape(5, 1, 3, 2), new Shape(1, 7, 5, 2)));
  }
}
