package io.github.djlattention.ops.contrib;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.AttentionResult;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime's {@code com.microsoft.MultiHeadAttention}: multi-head self or cross attention on
 * projected query, key and value, with the input projection's bias, a key padding mask, an
 * attention bias and a KV cache.
 *
 * <p>Legend: B batch, S query length, L new key length, P past length, T = P + L total key length,
 * H heads, D query/key head size, Dv value head size, M the shared buffer's length.
 *
 * <p>Inputs, by ONNX name (see {@link #INPUTS}):
 *
 * <ul>
 *   <li>{@code query} (B, S, H·D), or packed (B, S, H, 3, D) holding query, key and value (then no
 *       {@code key} or {@code value});
 *   <li>{@code key} (B, L, H·D), packed (B, L, H, 2, D) holding key and value (then no {@code
 *       value}), or (B, H, L, D) with {@code value} (B, H, L, Dv): keys already split into heads,
 *       used as they are (no bias, no past);
 *   <li>{@code value} (B, L, H·Dv);
 *   <li>{@code bias} (H·D + H·D + H·Dv): added to query, key and value;
 *   <li>{@code key_padding_mask} (integer): (B) valid key counts, or (B, T) or (B, S, T) with 0
 *       where a key is padding;
 *   <li>{@code attention_bias} (B or 1, H or 1, S, T): added to the scaled scores;
 *   <li>{@code past_key}, {@code past_value} (B, H, P, D) and (B, H, P, Dv): the new keys and
 *       values are appended, and {@code present_key}/{@code present_value} are the concatenations
 *       (B, H, T, ·);
 *   <li>{@code past_sequence_length} (one integer P) with a shared buffer: {@code past_key} and
 *       {@code past_value} are then (B, H, M, ·) buffers whose first P rows are the past; the new
 *       rows are written at P … T−1 and the presents are the buffers so updated (B, H, M, ·), rows
 *       T … M−1 unchanged.
 * </ul>
 *
 * <p>Semantics: scores = scale·Q·Kᵀ (scale 1/√D unless set) + attention bias + {@code
 * mask_filter_value} on every key that the padding mask or, with {@code unidirectional}, the causal
 * mask hides, added once however many of them hide it. Query i is the token at position P + i, and
 * the causal mask hides keys j &gt; P + i (aligned to the top left when there is no past, whatever
 * L is). Then the softmax over the T keys and the weighted sum of the values. The fill value is
 * added, not substituted: a row whose every key is hidden keeps the softmax of its scores when the
 * fill value is small enough for float to hold the differences (the default −10000), and gets equal
 * weights when it swamps them (−3.4e38). {@code cache_indirection} (beam search) is not
 * implemented.
 */
public final class ContribMultiHeadAttention {

  /** The operator's type in the {@code com.microsoft} domain. */
  public static final String OP_TYPE = "MultiHeadAttention";

  /** The inputs {@link #compute} takes, in the node's order. */
  public static final List<String> INPUTS =
      List.of(
          "query",
          "key",
          "value",
          "bias",
          "key_padding_mask",
          "attention_bias",
          "past_key",
          "past_value",
          "past_sequence_length");

  /** The operator's default {@code mask_filter_value}. */
  public static final float DEFAULT_MASK_FILTER_VALUE = -10000f;

  private final int numHeads;
  private final Float scale;
  private final float maskFilterValue;
  private final boolean unidirectional;

  private ContribMultiHeadAttention(Builder builder) {
    this.numHeads = builder.numHeads;
    this.scale = builder.scale;
    this.maskFilterValue = builder.maskFilterValue;
    this.unidirectional = builder.unidirectional;
  }

  /** Returns a new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns {@code num_heads}. */
  public int numHeads() {
    return numHeads;
  }

  /** Returns {@code scale}, or null for 1/√D. */
  public Float scale() {
    return scale;
  }

  /** Returns {@code mask_filter_value}. */
  public float maskFilterValue() {
    return maskFilterValue;
  }

  /** Returns {@code unidirectional}. */
  public boolean unidirectional() {
    return unidirectional;
  }

  /**
   * Computes the node.
   *
   * @param inputs the inputs by ONNX name; absent optional inputs are left out (or null)
   * @param returnWeights whether to return the attention weights (B, H, S, T); without them the
   *     attention runs the fast path where it can
   * @return {@code output} (B, S, H·Dv), {@code present_key} and {@code present_value}, and the
   *     weights if requested; in the query's manager
   * @throws IllegalArgumentException when an input is missing, unknown or of the wrong shape
   */
  public ContribResult compute(Map<String, NDArray> inputs, boolean returnWeights) {
    NDArray callerQuery = inputs.get("query");
    if (callerQuery == null) {
      throw new IllegalArgumentException(OP_TYPE + " needs the input 'query'");
    }
    NDManager parent = callerQuery.getManager();
    try (NDManager scope = parent.newSubManager()) {
      ContribInputs in = new ContribInputs(OP_TYPE, INPUTS, inputs, scope);
      NDArray query = in.required("query");
      Shape qs = query.getShape();
      long batch = qs.get(0);
      long queryLength = qs.get(1);
      NDArray q; // (B, H, S, D)
      NDArray k; // (B, H, L, D)
      NDArray v; // (B, H, L, Dv)
      NDArray bias = in.optional("bias");
      boolean splitKeys;
      if (qs.dimension() == 5) {
        requireAbsent(in, "key", "packed query, key and value (B, S, H, 3, D)");
        requireAbsent(in, "value", "packed query, key and value (B, S, H, 3, D)");
        requireHeads(qs, 2, "query");
        requirePackedCount(qs, 3, "query");
        long d = qs.get(4);
        q = query.get(new NDIndex(":, :, :, 0, :")).reshape(batch, queryLength, numHeads * d);
        k = query.get(new NDIndex(":, :, :, 1, :")).reshape(batch, queryLength, numHeads * d);
        v = query.get(new NDIndex(":, :, :, 2, :")).reshape(batch, queryLength, numHeads * d);
        splitKeys = true;
      } else if (qs.dimension() == 3) {
        q = query;
        NDArray key = in.required("key");
        Shape ks = key.getShape();
        if (ks.dimension() == 5) {
          requireAbsent(in, "value", "packed key and value (B, L, H, 2, D)");
          requireHeads(ks, 2, "key");
          requirePackedCount(ks, 2, "key");
          long d = ks.get(4);
          k = key.get(new NDIndex(":, :, :, 0, :")).reshape(ks.get(0), ks.get(1), numHeads * d);
          v = key.get(new NDIndex(":, :, :, 1, :")).reshape(ks.get(0), ks.get(1), numHeads * d);
          splitKeys = true;
        } else if (ks.dimension() == 3) {
          k = key;
          v = in.required("value");
          splitKeys = true;
        } else if (ks.dimension() == 4) {
          k = key;
          v = in.required("value");
          requireHeads(ks, 1, "key");
          requireHeads(v.getShape(), 1, "value");
          if (bias != null || in.has("past_key")) {
            throw new IllegalArgumentException(
                OP_TYPE
                    + ": key and value already split into heads (B, H, L, D) take no bias and no"
                    + " past");
          }
          splitKeys = false;
        } else {
          throw new IllegalArgumentException(
              OP_TYPE + " key must be (B, L, H·D), (B, L, H, 2, D) or (B, H, L, D), got " + ks);
        }
      } else {
        throw new IllegalArgumentException(
            OP_TYPE + " query must be (B, S, H·D) or (B, S, H, 3, D), got " + qs);
      }
      long hidden = q.getShape().get(2);
      if (hidden % numHeads != 0) {
        throw new IllegalArgumentException(
            OP_TYPE
                + " query hidden size "
                + hidden
                + " is not a multiple of num_heads "
                + numHeads);
      }
      long headSize = hidden / numHeads;
      long valueHidden = splitKeys ? v.getShape().get(2) : v.getShape().get(3) * numHeads;
      if (bias != null) {
        long expected = 2 * hidden + valueHidden;
        if (bias.getShape().dimension() != 1 || bias.getShape().get(0) != expected) {
          throw new IllegalArgumentException(
              OP_TYPE
                  + " bias must be ("
                  + expected
                  + ") = (H·D + H·D + H·Dv), got "
                  + bias.getShape());
        }
        q = q.add(bias.get(new NDIndex(":{}", hidden)));
        k = k.add(bias.get(new NDIndex("{}:{}", hidden, 2 * hidden)));
        v = v.add(bias.get(new NDIndex("{}:", 2 * hidden)));
      }
      q = splitHeads(q, headSize); // (B, H, S, D)
      if (splitKeys) {
        requireKeyValue(k, v, batch);
        k = splitHeads(k, headSize); // (B, H, L, D)
        v = splitHeads(v, valueHidden / numHeads); // (B, H, L, Dv)
      }
      requireKeyShape(k, batch, headSize);
      long newLength = k.getShape().get(2);
      // The cache: appended, or written into a shared buffer.
      NDArray pastKey = in.optional("past_key");
      NDArray pastValue = in.optional("past_value");
      if ((pastKey == null) != (pastValue == null)) {
        throw new IllegalArgumentException(
            OP_TYPE + " needs both past_key and past_value, or neither");
      }
      Long shared = in.scalar("past_sequence_length");
      long past = 0;
      NDArray presentKey;
      NDArray presentValue;
      NDArray keys;
      NDArray values;
      if (pastKey == null) {
        if (shared != null) {
          throw new IllegalArgumentException(
              OP_TYPE + " past_sequence_length needs past_key and past_value buffers");
        }
        presentKey = k;
        presentValue = v;
        keys = k;
        values = v;
      } else {
        requireCache(pastKey, k, "key");
        requireCache(pastValue, v, "value");
        if (shared == null) {
          past = pastKey.getShape().get(2);
          presentKey = pastKey.concat(k, 2); // (B, H, P + L, D)
          presentValue = pastValue.concat(v, 2);
          keys = presentKey;
          values = presentValue;
        } else {
          past = shared;
          long buffer = pastKey.getShape().get(2);
          if (past < 0 || past + newLength > buffer) {
            throw new IllegalArgumentException(
                OP_TYPE
                    + " past_sequence_length "
                    + past
                    + " plus "
                    + newLength
                    + " new keys does not fit the buffer of "
                    + buffer);
          }
          presentKey = ContribArrays.write(pastKey, k, past); // (B, H, M, D)
          presentValue = ContribArrays.write(pastValue, v, past);
          keys = presentKey.get(new NDIndex(":, :, :{}", past + newLength)); // (B, H, T, D)
          values = presentValue.get(new NDIndex(":, :, :{}", past + newLength));
        }
      }
      long total = past + newLength;
      NDArray hiddenKeys = null; // (B or 1, S or 1, T)
      NDArray padding = in.optional("key_padding_mask");
      if (padding != null) {
        hiddenKeys =
            KeyMasks.hidden(
                OP_TYPE + " key_padding_mask",
                padding,
                KeyMasks.Layouts.KEY_PADDING,
                batch,
                queryLength,
                total,
                past);
      }
      if (unidirectional) {
        NDArray causal = KeyMasks.causal(scope, queryLength, total, past);
        hiddenKeys = hiddenKeys == null ? causal : hiddenKeys.logicalOr(causal);
      }
      DataType dtype = q.getDataType();
      NDArray attentionBias = in.optional("attention_bias");
      NDArray mask = KeyMasks.additive(scope, hiddenKeys, attentionBias, maskFilterValue, dtype);
      AttentionOptions.Builder options = AttentionOptions.builder().optReturnWeights(returnWeights);
      if (mask != null) {
        options.optMask(mask);
      }
      if (scale != null) {
        options.optScale(scale);
      }
      AttentionResult result = Attention.attention(q, keys, values, options.build());
      NDArray output = ContribArrays.mergeHeads(result.output()); // (B, S, H·Dv)
      return ContribArrays.result(
          parent, output, presentKey, presentValue, returnWeights ? result.weights() : null);
    }
  }

  private NDArray splitHeads(NDArray x, long headSize) {
    Shape s = x.getShape(); // (B, S, H·D)
    return x.reshape(s.get(0), s.get(1), numHeads, headSize).transpose(0, 2, 1, 3); // (B, H, S, D)
  }

  private void requireHeads(Shape shape, int axis, String name) {
    if (shape.get(axis) != numHeads) {
      throw new IllegalArgumentException(
          OP_TYPE
              + " "
              + name
              + " "
              + shape
              + " has "
              + shape.get(axis)
              + " heads, num_heads is "
              + numHeads);
    }
  }

  private static void requirePackedCount(Shape shape, long count, String name) {
    if (shape.get(3) != count) {
      throw new IllegalArgumentException(
          OP_TYPE + " packed " + name + " " + shape + " must hold " + count + " tensors on axis 3");
    }
  }

  private static void requireAbsent(ContribInputs in, String name, String layout) {
    if (in.has(name)) {
      throw new IllegalArgumentException(OP_TYPE + " takes no " + name + " with " + layout);
    }
  }

  private static void requireKeyValue(NDArray k, NDArray v, long batch) {
    Shape ks = k.getShape();
    Shape vs = v.getShape();
    if (ks.dimension() != 3
        || vs.dimension() != 3
        || ks.get(0) != batch
        || vs.get(0) != batch
        || ks.get(1) != vs.get(1)) {
      throw new IllegalArgumentException(
          OP_TYPE + " key " + ks + " and value " + vs + " must be (B, L, ·) with B = " + batch);
    }
  }

  private void requireKeyShape(NDArray k, long batch, long headSize) {
    Shape ks = k.getShape(); // (B, H, L, D)
    if (ks.get(0) != batch || ks.get(1) != numHeads || ks.get(3) != headSize) {
      throw new IllegalArgumentException(
          OP_TYPE
              + " key heads "
              + ks
              + " do not fit B = "
              + batch
              + ", H = "
              + numHeads
              + ", D = "
              + headSize);
    }
  }

  private static void requireCache(NDArray past, NDArray current, String what) {
    Shape p = past.getShape();
    Shape c = current.getShape();
    if (p.dimension() != 4
        || p.get(0) != c.get(0)
        || p.get(1) != c.get(1)
        || p.get(3) != c.get(3)) {
      throw new IllegalArgumentException(
          OP_TYPE
              + " past_"
              + what
              + " "
              + p
              + " must be (B, H, P, ·) like the new "
              + what
              + " "
              + c);
    }
  }

  /** Builds a {@link ContribMultiHeadAttention} from the node's attributes. */
  public static final class Builder {
    private int numHeads;
    private Float scale;
    private float maskFilterValue = DEFAULT_MASK_FILTER_VALUE;
    private boolean unidirectional;

    private Builder() {}

    /**
     * Sets {@code num_heads} (required).
     *
     * @param numHeads the number of heads, at least 1
     * @return this builder
     */
    public Builder setNumHeads(int numHeads) {
      this.numHeads = numHeads;
      return this;
    }

    /**
     * Sets {@code scale}, the factor of the scores (default 1/√D).
     *
     * @param scale finite and positive
     * @return this builder
     */
    public Builder optScale(float scale) {
      this.scale = scale;
      return this;
    }

    /**
     * Sets {@code mask_filter_value}, added to the scores of hidden keys (default −10000).
     *
     * @param value a finite value
     * @return this builder
     */
    public Builder optMaskFilterValue(float value) {
      this.maskFilterValue = value;
      return this;
    }

    /**
     * Sets {@code unidirectional}: query i (the token at position P + i) sees keys j ≤ P + i.
     *
     * @param unidirectional whether to hide later keys
     * @return this builder
     */
    public Builder optUnidirectional(boolean unidirectional) {
      this.unidirectional = unidirectional;
      return this;
    }

    /**
     * Builds the operator.
     *
     * @return the operator
     * @throws IllegalArgumentException when {@code num_heads} is unset or not positive, or the
     *     scale or the fill value is not finite
     */
    public ContribMultiHeadAttention build() {
      if (numHeads < 1) {
        throw new IllegalArgumentException("num_heads must be set and >= 1, got " + numHeads);
      }
      if (scale != null && !(scale > 0 && Float.isFinite(scale))) {
        throw new IllegalArgumentException("scale must be finite and > 0, got " + scale);
      }
      if (!Float.isFinite(maskFilterValue)) {
        throw new IllegalArgumentException(
            "mask_filter_value must be finite, got " + maskFilterValue);
      }
      return new ContribMultiHeadAttention(this);
    }
  }
}
