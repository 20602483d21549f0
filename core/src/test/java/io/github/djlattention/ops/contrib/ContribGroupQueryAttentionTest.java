package io.github.djlattention.ops.contrib;

import static io.github.djlattention.ops.contrib.ContribInputsForTests.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.github.djlattention.reference.ReferenceContribAttention;
import io.github.djlattention.testing.TestTensors;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link ContribGroupQueryAttention} in float64 against {@link ReferenceContribAttention}, and by
 * properties that need no reference: a decode step equals the last row of the whole prompt, the
 * window and padding hide what they say, and bad lengths are refused.
 */
class ContribGroupQueryAttentionTest {

  private static final Set<String> INTEGERS = Set.of("seqlens_k", "total_sequence_length");
  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  private static ContribInputsForTests step(
      long seed, int batch, int length, int headSize, int buffer, int[] totals) {
    ContribInputsForTests in =
        new ContribInputsForTests(seed, INTEGERS)
            .floats("query", batch, length, 4 * headSize)
            .floats("key", batch, length, 2 * headSize)
            .floats("value", batch, length, 2 * headSize);
    if (buffer > 0) {
      in.floats("past_key", batch, 2, buffer, headSize)
          .floats("past_value", batch, 2, buffer, headSize);
    }
    int[] seqlens = new int[batch];
    int max = 0;
    for (int b = 0; b < batch; b++) {
      seqlens[b] = totals[b] - 1;
      max = Math.max(max, totals[b]);
    }
    return in.ints("seqlens_k", seqlens, batch).ints("total_sequence_length", new int[] {max});
  }

  private static void assertAgrees(ContribGroupQueryAttention op, ContribInputsForTests in) {
    try (NDManager scope = manager.newSubManager()) {
      ContribResult r = op.compute(in.arrays(scope), true);
      ReferenceContribAttention.Result expected =
          ReferenceContribAttention.groupQueryAttention(
              ContribInputsForTests.attributes(op), in.tensors());
      assertClose(expected.outputs().get("output"), r.output(), 1e-12, "output");
      assertClose(expected.outputs().get("present_key"), r.presentKey(), 0, "present_key");
      assertClose(expected.outputs().get("present_value"), r.presentValue(), 0, "present_value");
      assertClose(expected.weights(), r.weights(), 1e-12, "weights");
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {-1, 0, 2})
  void agreesWithTheReferenceOnAPaddedPromptAndARaggedDecode(int window) {
    ContribGroupQueryAttention op =
        ContribGroupQueryAttention.builder()
            .setNumHeads(4)
            .setKvNumHeads(2)
            .optLocalWindowSize(window)
            .optSoftcap(0.8f)
            .build();
    assertAgrees(op, step(1, 2, 5, 4, 0, new int[] {5, 3}));
    assertAgrees(op, step(2, 2, 1, 4, 6, new int[] {6, 2}));
    assertAgrees(op, step(3, 1, 3, 4, 4, new int[] {7}).floats("attention_bias", 1, 4, 3, 7));
  }

  @Test
  void agreesWithTheReferenceWithRotaryEmbedding() {
    for (boolean interleaved : new boolean[] {false, true}) {
      ContribGroupQueryAttention op =
          ContribGroupQueryAttention.builder()
              .setNumHeads(4)
              .setKvNumHeads(2)
              .optRotary(interleaved)
              .build();
      assertAgrees(
          op,
          step(4, 2, 1, 8, 5, new int[] {6, 4})
              .floats("cos_cache", 8, 3)
              .floats("sin_cache", 8, 3));
    }
  }

  @Test
  void aDecodeStepEqualsTheLastRowOfThePrompt() {
    ContribGroupQueryAttention op =
        ContribGroupQueryAttention.builder().setNumHeads(4).setKvNumHeads(2).build();
    ContribInputsForTests prompt = step(5, 1, 5, 4, 0, new int[] {5});
    try (NDManager scope = manager.newSubManager()) {
      Map<String, NDArray> whole = prompt.arrays(scope);
      ContribResult all = op.compute(whole, false);
      assertNull(all.weights());
      // the first four tokens as a prompt, then the fifth as a decode step on the cache
      Map<String, NDArray> first =
          Map.of(
              "query", whole.get("query").get(new NDIndex(":, :4")),
              "key", whole.get("key").get(new NDIndex(":, :4")),
              "value", whole.get("value").get(new NDIndex(":, :4")),
              "seqlens_k", scope.create(new int[] {3}),
              "total_sequence_length", scope.create(new int[] {4}));
      ContribResult cached = op.compute(first, false);
      Map<String, NDArray> next =
          Map.of(
              "query", whole.get("query").get(new NDIndex(":, 4:")),
              "key", whole.get("key").get(new NDIndex(":, 4:")),
              "value", whole.get("value").get(new NDIndex(":, 4:")),
              "past_key", cached.presentKey(),
              "past_value", cached.presentValue(),
              "seqlens_k", scope.create(new int[] {4}),
              "total_sequence_length", scope.create(new int[] {5}));
      ContribResult step = op.compute(next, false);
      NDArray lastRow = all.output().get(new NDIndex(":, 4:"));
      assertTrue(lastRow.allClose(step.output(), 1e-12, 1e-12, false));
      assertTrue(all.presentKey().allClose(step.presentKey(), 0, 0, false));
    }
  }

  @Test
  void paddingQueryRowsOfAFirstPromptAreZero() {
    ContribGroupQueryAttention op =
        ContribGroupQueryAttention.builder().setNumHeads(4).setKvNumHeads(2).build();
    try (NDManager scope = manager.newSubManager()) {
      ContribResult r = op.compute(step(6, 2, 4, 4, 0, new int[] {4, 2}).arrays(scope), true);
      assertEquals(0, r.output().get(new NDIndex("1, 2:")).abs().max().getDouble());
      assertEquals(0, r.weights().get(new NDIndex("1, :, 2:")).abs().max().getDouble());
      assertTrue(r.output().get(new NDIndex("1, :2")).abs().max().getDouble() > 0);
    }
  }

  @Test
  void refusesLengthsThatDoNotFit() {
    ContribGroupQueryAttention op =
        ContribGroupQueryAttention.builder().setNumHeads(4).setKvNumHeads(2).build();
    try (NDManager scope = manager.newSubManager()) {
      // decode with 5 tokens needs 4 cached rows; the buffer has 2 (ONNX Runtime reads past it)
      Map<String, NDArray> shortPast = step(7, 1, 1, 4, 2, new int[] {5}).arrays(scope);
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> op.compute(shortPast, false));
      assertTrue(e.getMessage().contains("needs 4 cached rows"), e.getMessage());
      Map<String, NDArray> badTotal = step(8, 1, 2, 4, 3, new int[] {4}).arrays(scope);
      badTotal.put("total_sequence_length", scope.create(new int[] {5}));
      e = assertThrows(IllegalArgumentException.class, () -> op.compute(badTotal, false));
      assertTrue(e.getMessage().contains("total_sequence_length 5"), e.getMessage());
      Map<String, NDArray> unknown = step(9, 1, 2, 4, 0, new int[] {2}).arrays(scope);
      unknown.put("head_sink", scope.ones(new ai.djl.ndarray.types.Shape(4)));
      e = assertThrows(IllegalArgumentException.class, () -> op.compute(unknown, false));
      assertTrue(e.getMessage().contains("no input 'head_sink'"), e.getMessage());
    }
    assertThrows(
        IllegalArgumentException.class,
        () ->
            ContribGroupQueryAttention.builder()
                .setNumHeads(4)
                .setKvNumHeads(2)
                .optCausal(false)
                .optLocalWindowSize(2)
                .build());
  }

  @Test
  void leavesTheCallersArraysAloneAndHandsItsResultsToTheQuerysManager() {
    ContribGroupQueryAttention op =
        ContribGroupQueryAttention.builder().setNumHeads(4).setKvNumHeads(2).build();
    try (NDManager caller = manager.newSubManager()) {
      Map<String, NDArray> inputs = step(10, 2, 1, 4, 3, new int[] {4, 3}).arrays(caller);
      double[] before = inputs.get("past_key").toDoubleArray();
      ContribResult r = op.compute(inputs, true);
      for (NDArray input : inputs.values()) {
        assertSame(caller, input.getManager());
        assertTrue(input.isReleased() == false);
      }
      assertEquals(
          java.util.Arrays.toString(before),
          java.util.Arrays.toString(inputs.get("past_key").toDoubleArray()));
      assertSame(caller, r.output().getManager());
      assertSame(caller, r.presentKey().getManager());
      assertSame(caller, r.weights().getManager());
    }
  }
}
