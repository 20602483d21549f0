package io.github.djlattention.ops.contrib;

import static io.github.djlattention.ops.contrib.ContribInputsForTests.assertClose;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.reference.ReferenceContribAttention;
import io.github.djlattention.testing.TestTensors;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link ContribAttention} in float64 against {@link ReferenceContribAttention}. */
class ContribAttentionTest {

  private static final Set<String> INTEGERS = Set.of("mask_index", "past_sequence_length");
  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  private static ContribInputsForTests projected(long seed, int columns) {
    return new ContribInputsForTests(seed, INTEGERS)
        .floats("input", 2, 3, 5)
        .floats("weights", 5, columns)
        .floats("bias", columns);
  }

  private static void assertAgrees(ContribAttention op, ContribInputsForTests in) {
    try (NDManager scope = manager.newSubManager()) {
      ContribResult r = op.compute(in.arrays(scope), true);
      ReferenceContribAttention.Result expected =
          ReferenceContribAttention.attention(ContribInputsForTests.attributes(op), in.tensors());
      assertClose(expected.outputs().get("output"), r.output(), 1e-12, "output");
      if (expected.outputs().containsKey("present")) {
        assertClose(
            expected.outputs().get("present"), ContribAttention.present(r), 1e-12, "present");
      }
      assertClose(expected.weights(), r.weights(), 1e-12, "weights");
    }
  }

  @Test
  void agreesWithTheReferenceOnEveryMaskLayout() {
    ContribAttention op = ContribAttention.builder().setNumHeads(2).build();
    assertAgrees(op, projected(1, 24).ints("mask_index", new int[] {3, 1}, 2));
    assertAgrees(op, projected(2, 24).ints("mask_index", new int[] {3, 2, 0, 1}, 4));
    assertAgrees(op, projected(3, 24).ints("mask_index", new int[] {1, 0, 1, 1, 1, 0}, 2, 3));
    assertAgrees(
        op,
        projected(4, 24)
            .ints(
                "mask_index",
                new int[] {1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
                2,
                3,
                3));
    int[] square = new int[2 * 5 * 5];
    for (int n = 0; n < square.length; n++) {
      square[n] = n % 3 == 0 ? 0 : 1;
    }
    assertAgrees(
        ContribAttention.builder().setNumHeads(2).optUnidirectional(true).build(),
        projected(5, 24).floats("past", 2, 2, 2, 2, 4).ints("mask_index", square, 2, 1, 5, 5));
  }

  @Test
  void agreesWithTheReferenceOnCachesAndWidths() {
    ContribAttention causal =
        ContribAttention.builder().setNumHeads(2).optUnidirectional(true).build();
    assertAgrees(
        causal,
        projected(6, 24).floats("past", 2, 2, 2, 4, 4).floats("attention_bias", 2, 2, 3, 7));
    assertAgrees(
        ContribAttention.builder().setNumHeads(2).optPastPresentShareBuffer(true).build(),
        projected(7, 24).floats("past", 2, 2, 2, 8, 4).ints("past_sequence_length", new int[] {2}));
    assertAgrees(
        ContribAttention.builder()
            .setNumHeads(2)
            .optQkvHiddenSizes(8, 8, 12)
            .optScale(0.4f)
            .build(),
        projected(8, 28));
  }

  @Test
  void refusesWidthsThatDoNotSplit() {
    try (NDManager scope = manager.newSubManager()) {
      Map<String, NDArray> in = projected(9, 24).arrays(scope);
      ContribAttention op =
          ContribAttention.builder().setNumHeads(2).optQkvHiddenSizes(8, 6, 10).build();
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> op.compute(in, false));
      assertTrue(e.getMessage().contains("do not split"), e.getMessage());
    }
  }
}
