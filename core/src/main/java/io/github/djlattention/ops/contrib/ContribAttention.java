package io.github.djlattention.ops.contrib;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.AttentionResult;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime's {@code com.microsoft.Attention}: self attention with the query, key and value
 * projections merged into one weight, as BERT and GPT-2 models optimized by ONNX Runtime's tools
 * use it.
 *
 * <p>Legend: B batch, S sequence length, E input features, H heads, D query/key head size, Dv value
 * head size, P past length, T = P + S total key length, M the shared buffer's length or a 4-D
 * mask's size.
 *
 * <p>Inputs, by ONNX name (see {@link #INPUTS}): {@code input} (B, S, E); {@code weights} (E, H·D +
 * H·D + H·Dv), the three projections side by side ({@code qkv_hidden_sizes} gives the three widths,
 * equal by default); {@code bias} (H·D + H·D + H·Dv); {@code mask_index} (integer): (B) valid key
 * counts (right padding), (2B) exclusive end positions followed by inclusive start positions (left
 * padding), (B, T) or (B, S, T) with 0 where a key is masked, or (B, 1, M, M) whose rows P … P+S−1
 * and columns 0 … T−1 are taken; {@code past} (2, B, H, P, D), keys then values; {@code
 * attention_bias} (B or 1, H or 1, S, T); {@code past_sequence_length} (one integer P) with {@code
 * past_present_share_buffer}, when {@code past} is a (2, B, H, M, D) buffer whose first P rows are
 * the past.
 *
 * <p>Semantics: Q, K, V = input·W + bias, split into heads; with a past the new keys and values are
 * appended (or written at rows P … T−1 of the shared buffer), and {@code present} is the result (2,
 * B, H, T, D) or the updated buffer (2, B, H, M, D). scores = scale·Q·Kᵀ (1/√D unless set) +
 * attention bias + {@code mask_filter_value} on every key that {@code mask_index} or, with {@code
 * unidirectional}, the causal mask hides (query i is the token at position P + i and sees keys j ≤
 * P + i), added once however many hide it; softmax over the T keys; weighted sum. {@code do_rotary}
 * is not implemented: the operator documents neither the rotary base nor the pair layout.
 */
public final class ContribAttention {

  /** The operator's type in the {@code com.microsoft} domain. */
  public static final String OP_TYPE = "Attention";

  /** The inputs {@link #compute} takes, in the node's order. */
  public static final List<String> INPUTS =
      List.of(
          "input",
          "weights",
          "bias",
          "mask_index",
          "past",
          "attention_bias",
          "past_sequence_length");

  /** The operator's default {@code mask_filter_value}. */
  public static final float DEFAULT_MASK_FILTER_VALUE = -10000f;

  private final int numHeads;
  private final long[] qkvHiddenSizes;
  private final Float scale;
  private final float maskFilterValue;
  private final boolean unidirectional;
  private final boolean pastPresentShareBuffer;

  private ContribAttention(Builder builder) {
    this.numHeads = builder.numHeads;
    this.qkvHiddenSizes = builder.qkvHiddenSizes;
    this.scale = builder.scale;
    this.maskFilterValue = builder.maskFilterValue;
    this.unidirectional = builder.unidirectional;
    this.pastPresentShareBuffer = builder.pastPresentShareBuffer;
  }

  /** Returns a new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns {@code num_heads}. */
  public int numHeads() {
    return numHeads;
  }

  /** Returns {@code qkv_hidden_sizes}, or null for three equal widths. */
  public long[] qkvHiddenSizes() {
    return qkvHiddenSizes == null ? null : qkvHiddenSizes.clone();
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

  /** Returns {@code past_present_share_buffer}. */
  public boolean pastPresentShareBuffer() {
    return pastPresentShareBuffer;
  }

  /**
   * The three projection widths for weights of {@code columns} columns.
   *
   * @param columns the weights' second axis
   * @return H·D, H·D and H·Dv
   * @throws IllegalArgumentException when they do not add up or do not split into the heads
   */
  public long[] hiddenSizes(long columns) {
    long[] sizes =
        qkvHiddenSizes != null
            ? qkvHiddenSizes.clone()
            : new long[] {columns / 3, columns / 3, columns / 3};
    if (sizes[0] + sizes[1] + sizes[2] != columns
        || sizes[0] != sizes[1]
        || Arrays.stream(sizes).anyMatch(s -> s <= 0 || s % numHeads != 0)) {
      throw new IllegalArgumentException(
          OP_TYPE
              + " weights of "
              + columns
              + " columns do not split into query, key and value widths "
              + Arrays.toString(sizes)
              + " (equal query and key widths, each a multiple of num_heads "
              + numHeads
              + ")");
    }
    return sizes;
  }

  /**
   * Stacks an {@code Attention} result's key and value caches into the operator's {@code present}
   * output.
   *
   * @param result a result of {@link #compute}
   * @return (2, B, H, T, D), in the result's manager
   */
  public static NDArray present(ContribResult result) {
    return NDArrays.stack(new NDList(result.presentKey(), result.presentValue()), 0);
  }

  /**
   * Computes the node.
   *
   * @param inputs the inputs by ONNX name; absent optional inputs are left out (or null)
   * @param returnWeights whether to return the attention weights (B, H, S, T)
   * @return {@code output} (B, S, H·Dv) and the key and value caches (see {@link #present}), and
   *     the weights if requested; in the input's manager
   * @throws IllegalArgumentException when an input is missing, unknown or of the wrong shape
   */
  public ContribResult compute(Map<String, NDArray> inputs, boolean returnWeights) {
    NDArray callerInput = inputs.get("input");
    if (callerInput == null) {
      throw new IllegalArgumentException(OP_TYPE + " needs the input 'input'");
    }
    NDManager parent = callerInput.getManager();
    try (NDManager scope = parent.newSubManager()) {
      ContribInputs in = new ContribInputs(OP_TYPE, INPUTS, inputs, scope);
      NDArray x = in.required("input");
      NDArray weights = in.required("weights");
      Shape xs = x.getShape();
      Shape ws = weights.getShape();
      if (xs.dimension() != 3 || ws.dimension() != 2 || ws.get(0) != xs.get(2)) {
        throw new IllegalArgumentException(
            OP_TYPE + " input " + xs + " and weights " + ws + " must be (B, S, E) and (E, ·)");
      }
      long batch = xs.get(0);
      long length = xs.get(1);
      long[] sizes = hiddenSizes(ws.get(1));
      NDArray projected = x.matMul(weights); // (B, S, H·D + H·D + H·Dv)
      NDArray bias = in.optional("bias");
      if (bias != null) {
        if (bias.getShape().dimension() != 1 || bias.getShape().get(0) != ws.get(1)) {
          throw new IllegalArgumentException(
              OP_TYPE + " bias must be (" + ws.get(1) + "), got " + bias.getShape());
        }
        projected = projected.add(bias);
      }
      long headSize = sizes[0] / numHeads;
      long valueSize = sizes[2] / numHeads;
      NDArray q =
          heads(projected.get(new NDIndex(":, :, :{}", sizes[0])), headSize); // (B, H, S, D)
      NDArray k =
          heads(projected.get(new NDIndex(":, :, {}:{}", sizes[0], 2 * sizes[0])), headSize);
      NDArray v = heads(projected.get(new NDIndex(":, :, {}:", 2 * sizes[0])), valueSize);

      NDArray pastArray = in.optional("past");
      Long shared = in.scalar("past_sequence_length");
      long past = 0;
      NDArray presentKey = k;
      NDArray presentValue = v;
      NDArray keys = k;
      NDArray values = v;
      if (pastArray != null) {
        Shape ps = pastArray.getShape();
        if (valueSize != headSize
            || ps.dimension() != 5
            || ps.get(0) != 2
            || ps.get(1) != batch
            || ps.get(2) != numHeads
            || ps.get(4) != headSize) {
          throw new IllegalArgumentException(
              OP_TYPE
                  + " past must be (2, B, H, P, D) = (2, "
                  + batch
                  + ", "
                  + numHeads
                  + ", P, "
                  + headSize
                  + ") with equal query, key and value widths, got "
                  + ps);
        }
        NDArray pastKey = pastArray.get(0); // (B, H, P, D)
        NDArray pastValue = pastArray.get(1);
        if (pastPresentShareBuffer) {
          if (shared == null) {
            throw new IllegalArgumentException(
                OP_TYPE + " past_present_share_buffer needs past_sequence_length");
          }
          past = shared;
          if (past < 0 || past + length > ps.get(3)) {
            throw new IllegalArgumentException(
                OP_TYPE
                    + " past_sequence_length "
                    + past
                    + " plus "
                    + length
                    + " new tokens does not fit the buffer of "
                    + ps.get(3));
          }
          presentKey = ContribArrays.write(pastKey, k, past); // (B, H, M, D)
          presentValue = ContribArrays.write(pastValue, v, past);
          keys = presentKey.get(new NDIndex(":, :, :{}", past + length)); // (B, H, T, D)
          values = presentValue.get(new NDIndex(":, :, :{}", past + length));
        } else {
          past = ps.get(3);
          presentKey = pastKey.concat(k, 2); // (B, H, P + S, D)
          presentValue = pastValue.concat(v, 2);
          keys = presentKey;
          values = presentValue;
        }
      } else if (shared != null) {
        throw new IllegalArgumentException(OP_TYPE + " past_sequence_length needs a past buffer");
      }
      long total = past + length;
      NDArray hidden = null; // (B or 1, S or 1, T)
      NDArray maskIndex = in.optional("mask_index");
      if (maskIndex != null) {
        hidden =
            KeyMasks.hidden(
                OP_TYPE + " mask_index",
                maskIndex,
                KeyMasks.Layouts.MASK_INDEX,
                batch,
                length,
                total,
                past);
      }
      if (unidirectional) {
        NDArray causal = KeyMasks.causal(scope, length, total, past);
        hidden = hidden == null ? causal : hidden.logicalOr(causal);
      }
      DataType dtype = q.getDataType();
      NDArray mask =
          KeyMasks.additive(scope, hidden, in.optional("attention_bias"), maskFilterValue, dtype);
      AttentionOptions.Builder options = AttentionOptions.builder().optReturnWeights(returnWeights);
      if (mask != null) {
        options.optMask(mask);
      }
      if (scale != null) {
        options.optScale(scale);
      }
      AttentionResult result = Attention.attention(q, keys, values, options.build());
      return ContribArrays.result(
          parent,
          ContribArrays.mergeHeads(result.output()),
          presentKey,
          presentValue,
          returnWeights ? result.weights() : null);
    }
  }

  private NDArray heads(NDArray x, long headSize) {
    Shape s = x.getShape(); // (B, S, H·D)
    return x.reshape(s.get(0), s.get(1), numHeads, headSize).transpose(0, 2, 1, 3); // (B, H, S, D)
  }

  /** Builds a {@link ContribAttention} from the node's attributes. */
  public static final class Builder {
    private int numHeads;
    private long[] qkvHiddenSizes;
    private Float scale;
    private float maskFilterValue = DEFAULT_MASK_FILTER_VALUE;
    private boolean unidirectional;
    private boolean pastPresentShareBuffer;

    private Builder() {}

    /**
     * Sets {@code num_heads} (required).
     *
     * @param numHeads H, at least 1
     * @return this builder
     */
    public Builder setNumHeads(int numHeads) {
      this.numHeads = numHeads;
      return this;
    }

    /**
     * Sets {@code qkv_hidden_sizes}: the widths of the query, key and value projections.
     *
     * @param query H·D
     * @param key H·D, equal to the query's
     * @param value H·Dv
     * @return this builder
     */
    public Builder optQkvHiddenSizes(long query, long key, long value) {
      this.qkvHiddenSizes = new long[] {query, key, value};
      return this;
    }

    /**
     * Sets {@code scale} (default 1/√D).
     *
     * @param scale finite and positive
     * @return this builder
     */
    public Builder optScale(float scale) {
      this.scale = scale;
      return this;
    }

    /**
     * Sets {@code mask_filter_value}, added to the scores of masked keys (default −10000).
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
     * Sets {@code past_present_share_buffer}: {@code past} is a buffer of the maximum length and
     * {@code past_sequence_length} says how much of it is the past.
     *
     * @param share whether past and present share one buffer
     * @return this builder
     */
    public Builder optPastPresentShareBuffer(boolean share) {
      this.pastPresentShareBuffer = share;
      return this;
    }

    /**
     * Builds the operator.
     *
     * @return the operator
     * @throws IllegalArgumentException when {@code num_heads} is unset, or the scale or the fill
     *     value is not finite
     */
    public ContribAttention build() {
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
      return new ContribAttention(this);
    }
  }
}
