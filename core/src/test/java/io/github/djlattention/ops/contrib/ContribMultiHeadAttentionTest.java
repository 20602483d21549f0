package io.github.djlattention.ops.contrib;

import static io.github.djlattention.ops.contrib.ContribInputsForTests.assertClose;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.github.djlattention.reference.ReferenceContribAttention;
import io.github.djlattention.testing.TestTensors;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link ContribMultiHeadAttention} in float64 against {@link ReferenceContribAttention}, the
 * packed layouts against the separate one, and the fill value's "added once" rule.
 */
class ContribMultiHeadAttentionTest {

  private static final Set<String> INTEGERS = Set.of("key_padding_mask", "past_sequence_length");
  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  private static ContribMultiHeadAttention.Builder twoHeads() {
    return ContribMultiHeadAttention.builder().setNumHeads(2);
  }

  private static void assertAgrees(ContribMultiHeadAttention op, ContribInputsForTests in) {
    try (NDManager scope = manager.newSubManager()) {
      ContribResult r = op.compute(in.arrays(scope), true);
      ReferenceContribAttention.Result expected =
          ReferenceContribAttention.multiHeadAttention(
              ContribInputsForTests.attributes(op), in.tensors());
      assertClose(expected.outputs().get("output"), r.output(), 1e-12, "output");
      assertClose(expected.outputs().get("present_key"), r.presentKey(), 0, "present_key");
      assertClose(expected.outputs().get("present_value"), r.presentValue(), 0, "present_value");
      assertClose(expected.weights(), r.weights(), 1e-12, "weights");
    }
  }

  private static ContribInputsForTests qkv(long seed, int length, int keys) {
    return new ContribInputsForTests(seed, INTEGERS)
        .floats("query", 2, length, 6)
        .floats("key", 2, keys, 6)
        .floats("value", 2, keys, 6);
  }

  @Test
  void agreesWithTheReference() {
    ContribMultiHeadAttention causal = twoHeads().optUnidirectional(true).build();
    assertAgrees(twoHeads().optScale(0.7f).build(), qkv(1, 3, 5).floats("bias", 18));
    assertAgrees(
        causal,
        qkv(2, 2, 2)
            .floats("past_key", 2, 2, 3, 3)
            .floats("past_value", 2, 2, 3, 3)
            .ints("key_padding_mask", new int[] {1, 0, 1, 1, 1, 0, 0, 0, 0, 0}, 2, 5)
            .floats("attention_bias", 1, 2, 2, 5));
    assertAgrees(
        causal,
        qkv(3, 1, 1)
            .floats("past_key", 2, 2, 6, 3)
            .floats("past_value", 2, 2, 6, 3)
            .ints("past_sequence_length", new int[] {3}));
    assertAgrees(
        twoHeads().optMaskFilterValue(-Float.MAX_VALUE).build(),
        qkv(4, 3, 4).ints("key_padding_mask", new int[] {4, 0}, 2));
  }

  @Test
  void packedLayoutsEqualTheSeparateOne() {
    try (NDManager scope = manager.newSubManager()) {
      Map<String, NDArray> separate = qkv(5, 3, 3).floats("bias", 18).arrays(scope);
      ContribMultiHeadAttention op = twoHeads().build();
      ContribResult expected = op.compute(separate, false);
      NDArray q = separate.get("query").reshape(2, 3, 2, 1, 3); // (B, S, H, 1, D)
      NDArray k = separate.get("key").reshape(2, 3, 2, 1, 3);
      NDArray v = separate.get("value").reshape(2, 3, 2, 1, 3);
      NDArray packed = NDArrays.concat(new NDList(q, k, v), 3); // (B, S, H, 3, D)
      ContribResult qkvPacked =
          op.compute(Map.of("query", packed, "bias", separate.get("bias")), false);
      assertTrue(expected.output().allClose(qkvPacked.output(), 1e-12, 1e-12, false));
      NDArray kvPacked = NDArrays.concat(new NDList(k, v), 3); // (B, L, H, 2, D)
      ContribResult kv =
          op.compute(
              Map.of("query", separate.get("query"), "key", kvPacked, "bias", separate.get("bias")),
              false);
      assertTrue(expected.output().allClose(kv.output(), 1e-12, 1e-12, false));
      assertNull(kv.weights());
    }
  }

  @Test
  void aKeyHiddenTwiceGetsTheFillValueOnce() {
    // Batch 1 has every key padded; with the causal mask too, a fill added twice would hide the
    // later keys more than the earlier ones. Added once, the row keeps the softmax of its scores.
    try (NDManager scope = manager.newSubManager()) {
      ContribInputsForTests in =
          qkv(6, 3, 3).ints("key_padding_mask", new int[] {1, 1, 1, 0, 0, 0}, 2, 3);
      ContribResult masked =
          twoHeads().optUnidirectional(true).build().compute(in.arrays(scope), true);
      Map<String, NDArray> unmasked = in.arrays(scope);
      unmasked.remove("key_padding_mask");
      ContribResult plain = twoHeads().build().compute(unmasked, true);
      NDArray row = masked.weights().get(new NDIndex("1"));
      assertTrue(row.allClose(plain.weights().get(new NDIndex("1")), 1e-6, 1e-9, false));
    }
  }

  @Test
  void refusesLayoutsItDoesNotImplement() {
    try (NDManager scope = manager.newSubManager()) {
      Map<String, NDArray> in =
          qkv(7, 3, 3)
              .ints("key_padding_mask", new int[] {3, 3, 3, 0, 0, 0, 0, 0}, 8)
              .arrays(scope);
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> twoHeads().build().compute(in, false));
      assertTrue(e.getMessage().contains("(3B + 2) layout is not implemented"), e.getMessage());
    }
    assertThrows(
        IllegalArgumentException.class,
        () -> twoHeads().optMaskFilterValue(Float.NEGATIVE_INFINITY).build());
  }
}
