package io.github.djlattention.conformance.contrib;

import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.compare.Tolerances;
import io.github.djlattention.ops.contrib.ContribAttention;
import io.github.djlattention.ops.contrib.ContribGroupQueryAttention;
import io.github.djlattention.ops.contrib.ContribMultiHeadAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The generated matrix of the {@code contrib} suite: small cases of each operator covering its
 * layouts and features, each drawn from its own seed.
 *
 * <p>Every float is a multiple of 1/64 in [−1, 1] (times a per-input scale that is a power of two),
 * drawn with {@link SplittableRandom} from the case's seed in the order the inputs are added, so
 * the float32 inputs hold exactly the values the float64 oracle uses; rotary caches hold the
 * float32 roundings of cos and sin. Legend: B batch, S query length, L new key length, P past
 * length, T total length, H heads, G key/value heads, D head size, E input features, C a past
 * buffer's length.
 */
public final class ContribCases {

  /**
   * The tolerance of cases whose rows have every key hidden by a fill value of −10000: their scores
   * sit near −10000, where float32's spacing is 2^-10 ≈ 9.8e-4, so weights (and outputs of values
   * up to 1) carry errors of that size in any float32 implementation (measured: 1.2e-4 to 2.7e-4).
   */
  public static final Tolerance FILL_ROUNDING = new Tolerance(1e-4, 1e-3);

  private ContribCases() {}

  /**
   * The standard matrix.
   *
   * @return the cases, {@code MultiHeadAttention} first, then {@code GroupQueryAttention}, then
   *     {@code Attention}
   */
  public static List<ContribCase> standard() {
    List<ContribCase> cases = new ArrayList<>();
    multiHeadAttention(cases);
    groupQueryAttention(cases);
    attention(cases);
    return cases;
  }

  // ---- MultiHeadAttention: B = 2, H = 2, D = 4 -------------------------------------------------

  private static ContribMultiHeadAttention.Builder mha() {
    return ContribMultiHeadAttention.builder().setNumHeads(2);
  }

  private static Draw mha(String name, String group, long seed, ContribMultiHeadAttention op) {
    return new Draw(name, group, seed, new ContribNode.MultiHead(op));
  }

  private static void multiHeadAttention(List<ContribCase> cases) {
    ContribMultiHeadAttention plain = mha().build();
    cases.add(mha("mha_self", "mha", 101, plain).qkv(3, 3).build());
    cases.add(mha("mha_cross", "mha", 102, plain).qkv(3, 5).build());
    cases.add(
        mha("mha_cross_value_size", "mha", 103, plain)
            .floats("query", 2, 3, 8)
            .floats("key", 2, 5, 8)
            .floats("value", 2, 5, 12)
            .build());
    cases.add(mha("mha_scale", "mha", 104, mha().optScale(0.3f).build()).qkv(3, 3).build());
    cases.add(mha("mha_bias", "mha layouts", 111, plain).qkv(3, 5).floats("bias", 24).build());
    cases.add(
        mha("mha_packed_qkv", "mha layouts", 112, plain)
            .floats("query", 2, 3, 2, 3, 4)
            .floats("bias", 24)
            .build());
    cases.add(
        mha("mha_packed_kv", "mha layouts", 113, plain)
            .floats("query", 2, 3, 8)
            .floats("key", 2, 5, 2, 2, 4)
            .build());
    cases.add(
        mha("mha_split_kv", "mha layouts", 114, plain)
            .floats("query", 2, 3, 8)
            .floats("key", 2, 2, 5, 4)
            .floats("value", 2, 2, 5, 4)
            .build());
    cases.add(
        mha("mha_padding_lengths", "mha masks", 121, plain)
            .qkv(3, 5)
            .ints("key_padding_mask", new int[] {5, 2}, 2)
            .build());
    cases.add(
        mha("mha_padding_2d", "mha masks", 122, plain)
            .qkv(3, 5)
            .ints("key_padding_mask", new int[] {1, 0, 1, 1, 0, 0, 1, 1, 0, 1}, 2, 5)
            .build());
    cases.add(
        mha("mha_padding_3d", "mha masks", 123, plain)
            .qkv(3, 4)
            .keepMask("key_padding_mask", 2, 3, 4)
            .build());
    cases.add(
        mha("mha_attention_bias", "mha masks", 124, plain)
            .qkv(3, 4)
            .floats("attention_bias", 4.0, 2, 2, 3, 4)
            .build());
    cases.add(
        mha("mha_attention_bias_broadcast", "mha masks", 125, plain)
            .qkv(3, 4)
            .floats("attention_bias", 4.0, 1, 1, 3, 4)
            .ints("key_padding_mask", new int[] {4, 3}, 2)
            .build());
    cases.add(
        mha("mha_attention_bias_flt_max", "mha masks", 126, plain)
            .qkv(3, 4)
            .values("attention_bias", lowestOnRows(2 * 2 * 3, 4, new int[] {1, 7}, 5), 2, 2, 3, 4)
            .build());
    cases.add(
        mha(
                "mha_fully_masked_flt_max",
                "mha fully masked",
                131,
                mha().optMaskFilterValue(-Float.MAX_VALUE).build())
            .qkv(3, 4)
            .ints("key_padding_mask", new int[] {1, 0, 1, 1, 0, 0, 0, 0}, 2, 4)
            .build());
    cases.add(
        mha("mha_fully_masked_default", "mha fully masked", 132, plain)
            .qkv(3, 4)
            .ints("key_padding_mask", new int[] {1, 0, 1, 1, 0, 0, 0, 0}, 2, 4)
            .tolerance(FILL_ROUNDING)
            .build());
    ContribMultiHeadAttention causal = mha().optUnidirectional(true).build();
    cases.add(mha("mha_unidirectional", "mha causal", 141, causal).qkv(3, 3).build());
    cases.add(mha("mha_unidirectional_cross", "mha causal", 142, causal).qkv(3, 5).build());
    cases.add(
        mha("mha_past_decode", "mha cache", 151, plain)
            .qkv(1, 1)
            .floats("past_key", 2, 2, 4, 4)
            .floats("past_value", 2, 2, 4, 4)
            .build());
    cases.add(
        mha("mha_past_unidirectional", "mha cache", 152, causal)
            .qkv(2, 2)
            .floats("past_key", 2, 2, 3, 4)
            .floats("past_value", 2, 2, 3, 4)
            .build());
    cases.add(
        mha("mha_past_padding", "mha cache", 153, causal)
            .qkv(1, 1)
            .floats("past_key", 2, 2, 3, 4)
            .floats("past_value", 2, 2, 3, 4)
            .ints("key_padding_mask", new int[] {1, 1, 1, 1, 0, 1, 1, 1}, 2, 4)
            .build());
    cases.add(
        mha("mha_past_causal_fully_masked_default", "mha fully masked", 154, causal)
            .qkv(2, 2)
            .floats("past_key", 2, 2, 2, 4)
            .floats("past_value", 2, 2, 2, 4)
            .ints("key_padding_mask", new int[] {1, 1, 0, 1, 0, 0, 0, 0}, 2, 4)
            .tolerance(FILL_ROUNDING)
            .build());
    cases.add(
        mha(
                "mha_past_causal_fully_masked_flt_max",
                "mha fully masked",
                155,
                mha().optUnidirectional(true).optMaskFilterValue(-Float.MAX_VALUE).build())
            .qkv(2, 2)
            .floats("past_key", 2, 2, 2, 4)
            .floats("past_value", 2, 2, 2, 4)
            .ints("key_padding_mask", new int[] {1, 1, 0, 1, 0, 0, 0, 0}, 2, 4)
            .build());
    cases.add(
        mha("mha_shared_buffer", "mha cache", 156, plain)
            .qkv(1, 1)
            .floats("past_key", 2, 2, 6, 4)
            .floats("past_value", 2, 2, 6, 4)
            .ints("past_sequence_length", new int[] {2})
            .build());
  }

  // ---- GroupQueryAttention: H = 4, G = 2, D = 8 (16 with rotary) -------------------------------

  private static ContribGroupQueryAttention.Builder gqa(int heads, int kvHeads) {
    return ContribGroupQueryAttention.builder().setNumHeads(heads).setKvNumHeads(kvHeads);
  }

  private static Draw gqa(String name, String group, long seed, ContribGroupQueryAttention op) {
    return new Draw(name, group, seed, new ContribNode.GroupQuery(op));
  }

  private static void groupQueryAttention(List<ContribCase> cases) {
    ContribGroupQueryAttention plain = gqa(4, 2).build();
    cases.add(gqa("gqa_prompt", "gqa", 201, plain).gqaStep(2, 4, 8, 0, 4, 4).build());
    cases.add(
        gqa("gqa_prompt_mqa", "gqa", 202, gqa(4, 1).build()).gqaStep(2, 4, 8, 0, 4, 4).build());
    cases.add(
        gqa("gqa_prompt_mha", "gqa", 203, gqa(4, 4).build()).gqaStep(2, 4, 8, 0, 4, 4).build());
    cases.add(gqa("gqa_prompt_padded", "gqa", 204, plain).gqaStep(2, 4, 8, 0, 4, 2).build());
    cases.add(
        gqa("gqa_scale", "gqa", 205, gqa(4, 2).optScale(0.2f).build())
            .gqaStep(2, 4, 8, 0, 4, 4)
            .build());
    cases.add(
        gqa("gqa_packed_qkv", "gqa", 206, plain)
            .floats("query", 2, 4, 64)
            .lengths(new int[] {4, 2})
            .build());
    cases.add(gqa("gqa_decode", "gqa cache", 211, plain).gqaStep(2, 1, 8, 3, 4, 4).build());
    cases.add(gqa("gqa_decode_ragged", "gqa cache", 212, plain).gqaStep(2, 1, 8, 3, 4, 2).build());
    cases.add(
        gqa("gqa_decode_shared_buffer", "gqa cache", 213, plain).gqaStep(2, 1, 8, 8, 5, 3).build());
    cases.add(gqa("gqa_chunk", "gqa cache", 214, plain).gqaStep(1, 2, 8, 3, 5).build());
    cases.add(
        gqa("gqa_chunk_shared_buffer", "gqa cache", 215, plain).gqaStep(1, 3, 8, 8, 6).build());
    cases.add(
        gqa("gqa_prompt_shared_buffer", "gqa cache", 216, plain).gqaStep(2, 4, 8, 8, 4, 3).build());
    ContribGroupQueryAttention capped = gqa(4, 2).optSoftcap(0.5f).build();
    cases.add(
        gqa("gqa_softcap", "gqa softcap and bias", 221, capped)
            .gqaStep(2, 4, 8, 0, 4, 4)
            .scaled("query", 4)
            .build());
    cases.add(
        gqa("gqa_softcap_bias", "gqa softcap and bias", 222, capped)
            .gqaStep(2, 4, 8, 0, 4, 4)
            .floats("attention_bias", 2.0, 1, 1, 4, 4)
            .build());
    cases.add(
        gqa("gqa_attention_bias", "gqa softcap and bias", 223, plain)
            .gqaStep(2, 3, 8, 0, 3, 2)
            .floats("attention_bias", 2.0, 2, 4, 3, 3)
            .build());
    cases.add(
        gqa("gqa_attention_bias_decode", "gqa softcap and bias", 224, plain)
            .gqaStep(2, 1, 8, 6, 5, 3)
            .floats("attention_bias", 2.0, 1, 4, 1, 5)
            .build());
    cases.add(
        gqa("gqa_attention_bias_flt_max", "gqa softcap and bias", 225, plain)
            .gqaStep(1, 4, 8, 0, 4)
            .values("attention_bias", lowestOnRows(4 * 4, 4, new int[] {2, 9}, 3), 1, 4, 4, 4)
            .build());
    cases.add(
        gqa("gqa_window_2", "gqa window", 231, gqa(4, 2).optLocalWindowSize(2).build())
            .gqaStep(1, 6, 8, 0, 6)
            .build());
    cases.add(
        gqa("gqa_window_0", "gqa window", 232, gqa(4, 2).optLocalWindowSize(0).build())
            .gqaStep(1, 4, 8, 0, 4)
            .build());
    cases.add(
        gqa("gqa_window_decode", "gqa window", 233, gqa(4, 2).optLocalWindowSize(3).build())
            .gqaStep(2, 1, 8, 8, 6, 4)
            .build());
    ContribGroupQueryAttention half = gqa(4, 2).optRotary(false).build();
    ContribGroupQueryAttention interleaved = gqa(4, 2).optRotary(true).build();
    cases.add(
        gqa("gqa_rotary", "gqa rotary", 241, half)
            .gqaStep(2, 4, 16, 0, 4, 4)
            .rotary(16, 8)
            .build());
    cases.add(
        gqa("gqa_rotary_interleaved", "gqa rotary", 242, interleaved)
            .gqaStep(2, 4, 16, 0, 4, 4)
            .rotary(16, 8)
            .build());
    cases.add(
        gqa("gqa_rotary_decode", "gqa rotary", 243, half)
            .gqaStep(2, 1, 16, 6, 5, 3)
            .rotary(16, 8)
            .build());
    cases.add(
        gqa("gqa_rotary_interleaved_decode", "gqa rotary", 244, interleaved)
            .gqaStep(2, 1, 16, 6, 5, 3)
            .rotary(16, 8)
            .build());
    cases.add(
        gqa("gqa_rotary_partial", "gqa rotary", 245, half)
            .gqaStep(1, 3, 32, 0, 3)
            .rotary(16, 8)
            .build());
    cases.add(
        gqa("gqa_rotary_packed", "gqa rotary", 246, interleaved)
            .floats("query", 1, 3, 128)
            .lengths(new int[] {3})
            .rotary(16, 8)
            .build());
    ContribGroupQueryAttention bidirectional = gqa(4, 2).optCausal(false).build();
    cases.add(
        gqa("gqa_bidirectional", "gqa bidirectional", 251, bidirectional)
            .gqaStep(2, 4, 8, 0, 4, 3)
            .build());
    cases.add(
        gqa("gqa_bidirectional_decode", "gqa bidirectional", 252, bidirectional)
            .gqaStep(2, 1, 8, 4, 4, 3)
            .build());
  }

  // ---- Attention: B = 2, S = 3, E = 5, H = 2, D = 4 --------------------------------------------

  private static ContribAttention.Builder att() {
    return ContribAttention.builder().setNumHeads(2);
  }

  private static Draw att(String name, String group, long seed, ContribAttention op) {
    return new Draw(name, group, seed, new ContribNode.Packed(op))
        .floats("input", 2, 3, 5)
        .floats("weights", 0.5, 5, 24);
  }

  private static void attention(List<ContribCase> cases) {
    ContribAttention plain = att().build();
    ContribAttention causal = att().optUnidirectional(true).build();
    cases.add(att("att_basic", "attention", 301, plain).floats("bias", 24).build());
    cases.add(att("att_no_bias", "attention", 302, plain).build());
    cases.add(
        att("att_scale", "attention", 303, att().optScale(0.3f).build())
            .floats("bias", 24)
            .build());
    cases.add(att("att_unidirectional", "attention", 304, causal).floats("bias", 24).build());
    cases.add(
        new Draw(
                "att_qkv_hidden_sizes",
                "attention",
                305,
                new ContribNode.Packed(att().optQkvHiddenSizes(8, 8, 12).build()))
            .floats("input", 2, 3, 5)
            .floats("weights", 0.5, 5, 28)
            .floats("bias", 28)
            .build());
    cases.add(
        att("att_mask_lengths", "attention masks", 311, plain)
            .floats("bias", 24)
            .ints("mask_index", new int[] {3, 2}, 2)
            .build());
    cases.add(
        att("att_mask_left_padding", "attention masks", 312, plain)
            .floats("bias", 24)
            .ints("mask_index", new int[] {3, 3, 0, 1}, 4)
            .build());
    cases.add(
        att("att_mask_2d", "attention masks", 313, plain)
            .floats("bias", 24)
            .ints("mask_index", new int[] {1, 0, 1, 0, 1, 1}, 2, 3)
            .build());
    cases.add(
        att("att_mask_3d", "attention masks", 314, plain)
            .floats("bias", 24)
            .keepMask("mask_index", 2, 3, 3)
            .build());
    cases.add(
        att("att_mask_4d", "attention masks", 315, plain)
            .floats("bias", 24)
            .keepMaskWithin("mask_index", 3, 2, 1, 5, 5) // T = 3 of M = 5 columns are read
            .build());
    cases.add(
        att("att_attention_bias", "attention masks", 316, plain)
            .floats("bias", 24)
            .floats("attention_bias", 2.0, 2, 2, 3, 3)
            .build());
    cases.add(
        att(
                "att_fully_masked_flt_max",
                "attention fully masked",
                321,
                att().optMaskFilterValue(-Float.MAX_VALUE).build())
            .floats("bias", 24)
            .ints("mask_index", new int[] {1, 0, 1, 0, 0, 0}, 2, 3)
            .build());
    cases.add(
        att("att_fully_masked_default", "attention fully masked", 322, plain)
            .floats("bias", 24)
            .ints("mask_index", new int[] {1, 0, 1, 0, 0, 0}, 2, 3)
            .tolerance(FILL_ROUNDING)
            .build());
    cases.add(
        att("att_past_causal_fully_masked_default", "attention fully masked", 323, causal)
            .floats("bias", 24)
            .floats("past", 2, 2, 2, 2, 4)
            .ints("mask_index", new int[] {1, 1, 1, 0, 1, 0, 0, 0, 0, 0}, 2, 5)
            .tolerance(FILL_ROUNDING)
            .build());
    cases.add(
        att("att_past", "attention cache", 331, plain)
            .floats("bias", 24)
            .floats("past", 2, 2, 2, 2, 4)
            .build());
    cases.add(
        att("att_past_unidirectional", "attention cache", 332, causal)
            .floats("bias", 24)
            .floats("past", 2, 2, 2, 2, 4)
            .build());
    cases.add(
        att("att_past_mask", "attention cache", 333, causal)
            .floats("bias", 24)
            .floats("past", 2, 2, 2, 2, 4)
            .ints("mask_index", new int[] {1, 1, 0, 1, 1, 0, 1, 1, 1, 1}, 2, 5)
            .build());
    cases.add(
        att(
                "att_shared_buffer",
                "attention cache",
                334,
                att().optPastPresentShareBuffer(true).build())
            .floats("bias", 24)
            .floats("past", 2, 2, 2, 6, 4)
            .ints("past_sequence_length", new int[] {2})
            .build());
  }

  /**
   * A (rows, T) bias of small values with the lowest float32 on every key of some rows and a few
   * keys.
   */
  private static double[] lowestOnRows(int rows, int keys, int[] fullRows, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    double[] bias = new double[rows * keys];
    for (int n = 0; n < bias.length; n++) {
      bias[n] = (random.nextInt(129) - 64) / 64.0;
      if (random.nextInt(5) == 0) {
        bias[n] = -Float.MAX_VALUE;
      }
    }
    for (int row : fullRows) {
      for (int j = 0; j < keys; j++) {
        bias[row * keys + j] = -Float.MAX_VALUE;
      }
    }
    return bias;
  }

  /** Draws one case's inputs in order from its seed. */
  private static final class Draw {
    private final String name;
    private final String group;
    private final long seed;
    private final ContribNode node;
    private final SplittableRandom random;
    private final Map<String, Tensor> inputs = new LinkedHashMap<>();
    private Tolerance tolerance = Tolerances.FLOAT32;

    Draw(String name, String group, long seed, ContribNode node) {
      this.name = name;
      this.group = group;
      this.seed = seed;
      this.node = node;
      this.random = new SplittableRandom(seed);
    }

    /** Multiples of 1/64 in [−1, 1]. */
    Draw floats(String input, int... shape) {
      return floats(input, 1, shape);
    }

    /** Multiples of scale/64 in [−scale, scale]. */
    Draw floats(String input, double scale, int... shape) {
      double[] data = new double[size(shape)];
      for (int n = 0; n < data.length; n++) {
        data[n] = scale * (random.nextInt(129) - 64) / 64.0;
      }
      return values(input, data, shape);
    }

    /** Multiplies an input already drawn by a power of two (exact). */
    Draw scaled(String input, double factor) {
      Tensor t = inputs.get(input);
      double[] data = t.data().clone();
      for (int n = 0; n < data.length; n++) {
        data[n] *= factor;
      }
      return values(input, data, t.shape());
    }

    Draw values(String input, double[] data, int... shape) {
      inputs.put(input, new Tensor(data, shape));
      return this;
    }

    Draw ints(String input, int[] values, int... shape) {
      double[] data = new double[values.length];
      for (int n = 0; n < values.length; n++) {
        data[n] = values[n];
      }
      return values(input, data, shape);
    }

    /** A 0/1 mask, about a third zeros, every row keeping at least one key. */
    Draw keepMask(String input, int... shape) {
      return keepMaskWithin(input, shape[shape.length - 1], shape);
    }

    /** A 0/1 mask, about a third zeros, every row keeping one of its first {@code within} keys. */
    Draw keepMaskWithin(String input, int within, int... shape) {
      int keys = shape[shape.length - 1];
      double[] data = new double[size(shape)];
      for (int row = 0; row < data.length / keys; row++) {
        int kept = random.nextInt(within);
        for (int j = 0; j < keys; j++) {
          data[row * keys + j] = j == kept || random.nextInt(3) > 0 ? 1 : 0;
        }
      }
      return values(input, data, shape);
    }

    /** MultiHeadAttention's query (2, S, 8), key (2, L, 8) and value (2, L, 8). */
    Draw qkv(int queryLength, int keyLength) {
      return floats("query", 2, queryLength, 8)
          .floats("key", 2, keyLength, 8)
          .floats("value", 2, keyLength, 8);
    }

    /**
     * A GroupQueryAttention step of S new tokens: query (B, S, H·D), key and value (B, S, G·D), a
     * past buffer of C rows (none for 0), {@code seqlens_k} from the given totals T_b (one per
     * batch) and {@code total_sequence_length} their maximum.
     */
    Draw gqaStep(int batch, int length, int headSize, int buffer, int... totals) {
      ContribGroupQueryAttention op = ((ContribNode.GroupQuery) node).op();
      floats("query", batch, length, op.numHeads() * headSize);
      floats("key", batch, length, op.kvNumHeads() * headSize);
      floats("value", batch, length, op.kvNumHeads() * headSize);
      if (buffer > 0) {
        floats("past_key", batch, op.kvNumHeads(), buffer, headSize);
        floats("past_value", batch, op.kvNumHeads(), buffer, headSize);
      }
      int[] valid = totals.length == batch ? totals : repeat(totals[0], batch);
      return lengths(valid);
    }

    /** {@code seqlens_k} = T_b − 1 and {@code total_sequence_length} = max T_b. */
    Draw lengths(int[] totals) {
      int[] seqlens = new int[totals.length];
      int max = 0;
      for (int b = 0; b < totals.length; b++) {
        seqlens[b] = totals[b] - 1;
        max = Math.max(max, totals[b]);
      }
      ints("seqlens_k", seqlens, totals.length);
      return ints("total_sequence_length", new int[] {max});
    }

    /** cos/sin caches (positions, R/2) of angles p·10000^(−2d/R), rounded to float32. */
    Draw rotary(int positions, int half) {
      double[] cos = new double[positions * half];
      double[] sin = new double[positions * half];
      for (int p = 0; p < positions; p++) {
        for (int d = 0; d < half; d++) {
          double angle = p * Math.pow(10000, -2.0 * d / (2 * half));
          cos[p * half + d] = (float) Math.cos(angle);
          sin[p * half + d] = (float) Math.sin(angle);
        }
      }
      values("cos_cache", cos, positions, half);
      return values("sin_cache", sin, positions, half);
    }

    Draw tolerance(Tolerance tolerance) {
      this.tolerance = tolerance;
      return this;
    }

    ContribCase build() {
      Map<String, Tensor> ordered = new LinkedHashMap<>();
      for (String input : node.inputNames()) {
        if (inputs.containsKey(input)) {
          ordered.put(input, inputs.get(input));
        }
      }
      for (String input : inputs.keySet()) {
        if (!ordered.containsKey(input)) {
          throw new IllegalArgumentException(
              name + ": " + node.opType() + " has no input " + input);
        }
      }
      return new ContribCase(name, group, seed, node, ordered, tolerance);
    }

    private static int[] repeat(int value, int count) {
      int[] values = new int[count];
      java.util.Arrays.fill(values, value);
      return values;
    }

    private static int size(int[] shape) {
      int size = 1;
      for (int d : shape) {
        size *= d;
      }
      return size;
    }
  }
}
