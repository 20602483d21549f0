package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * Settings for {@link Attention#attention(NDArray, NDArray, NDArray, AttentionOptions)}.
 *
 * <p>Every setting is optional. {@link #builder()} starts from these defaults, which {@link
 * #defaults()} holds: plain scaled dot-product attention that also returns the weights.
 *
 * <table>
 *   <caption>The options and their defaults</caption>
 *   <tr><th>Builder method</th><th>Default</th><th>Meaning of the default</th></tr>
 *   <tr><td>{@link Builder#optMask}</td><td>{@code null}</td><td>no mask</td></tr>
 *   <tr><td>{@link Builder#optCausal}</td><td>{@code false}</td><td>every query sees every
 *       key</td></tr>
 *   <tr><td>{@link Builder#optScale}</td><td>none</td><td>1/√D, D the query's head size</td></tr>
 *   <tr><td>{@link Builder#optSoftcap}</td><td>none (0)</td><td>no softcapping</td></tr>
 *   <tr><td>{@link Builder#optReturnWeights}</td><td>{@code true}</td><td>the weights are
 *       returned, which takes the step-by-step chain; {@code false} lets the fast path take the
 *       call</td></tr>
 *   <tr><td>{@link Builder#optKvCache}</td><td>{@code null, null}</td><td>no KV cache</td></tr>
 *   <tr><td>{@link Builder#optNonPadKeyLengths}</td><td>{@code null}</td><td>every key is
 *       valid</td></tr>
 *   <tr><td>{@link Builder#optWindow}</td><td>{@code -1, -1}</td><td>no sliding window</td></tr>
 *   <tr><td>{@link Builder#optSoftmaxPrecision}</td><td>{@code null}</td><td>the compute type:
 *       the inputs' type, float32 for float16 and bfloat16</td></tr>
 *   <tr><td>{@link Builder#optScoresOutput}</td><td>{@code null}</td><td>no intermediate
 *       returned</td></tr>
 *   <tr><td>{@link Builder#optTraining}</td><td>{@code false}</td><td>gradients are recorded when
 *       the engine records them (inside a {@code GradientCollector}, for tracked inputs)</td></tr>
 *   <tr><td>{@link Builder#optSequenceFirst}</td><td>{@code false}</td><td>4-D inputs and the
 *       output are heads first: (B, H, S, D)</td></tr>
 * </table>
 *
 * <p>The blocks in {@code io.github.djlattention.blocks} build their options themselves and ask for
 * the weights only when built to return them.
 *
 * <p>The order of operations follows the ONNX {@code Attention} operator: scores are scaled, then
 * soft-capped ({@code c·tanh(scores/c)}), then the mask and the causal mask are applied, then the
 * softmax. A query row whose keys are all masked gets zero weights and a zero output.
 *
 * <p>Beyond plain attention the options cover what the ONNX operator defines for decoding and
 * batching:
 *
 * <ul>
 *   <li>a KV cache that appends in place ({@link Builder#optCache}, a {@link KvCache.Layer}): the
 *       new keys and values are written into preallocated buffers after each sequence's last
 *       position, and attention runs over each sequence's valid prefix, on the fast path, with the
 *       causal mask aligned to the bottom right: query i sits at position {@code L − S + i} for a
 *       sequence of length L after the call;
 *   <li>a KV cache of past arrays ({@link Builder#optKvCache}): the new keys and values are
 *       appended to the past ones, the result holds the concatenation ({@link
 *       AttentionResult#presentKey()}), and the causal mask is aligned to the bottom right: query i
 *       sits at position {@code past + i}; this copies the whole cache on every call and runs the
 *       step-by-step chain;
 *   <li>valid key counts per batch ({@link Builder#optNonPadKeyLengths}): keys at or beyond the
 *       count are padding and hidden; without a cache, query i then sits at position {@code count −
 *       S + i} (an external, statically sized cache);
 *   <li>a sliding window ({@link Builder#optWindow}): a query at position p sees keys {@code p −
 *       left … p + right};
 *   <li>the softmax in a chosen precision ({@link Builder#optSoftmaxPrecision});
 *   <li>an intermediate of the computation as an extra result ({@link Builder#optScoresOutput}).
 * </ul>
 */
public final class AttentionOptions {

  private static final AttentionOptions DEFAULTS = builder().build();

  private final NDArray mask;
  private final boolean causal;
  private final Double scale;
  private final Double softcap;
  private final boolean returnWeights;
  private final NDArray pastKey;
  private final NDArray pastValue;
  private final NDArray nonPadKeyLengths;
  private final int leftWindow;
  private final int rightWindow;
  private final DataType softmaxPrecision;
  private final ScoresOutput scoresOutput;
  private final boolean training;
  private final KvCache.Layer cache;
  private final boolean sequenceFirst;

  private AttentionOptions(Builder builder) {
    this.cache = builder.cache;
    this.sequenceFirst = builder.sequenceFirst;
    this.pastKey = builder.pastKey;
    this.pastValue = builder.pastValue;
    this.nonPadKeyLengths = builder.nonPadKeyLengths;
    this.leftWindow = builder.leftWindow;
    this.rightWindow = builder.rightWindow;
    this.softmaxPrecision = builder.softmaxPrecision;
    this.scoresOutput = builder.scoresOutput;
    this.mask = builder.mask;
    this.causal = builder.causal;
    this.scale = builder.scale;
    this.softcap = builder.softcap;
    this.returnWeights = builder.returnWeights;
    this.training = builder.training;
  }

  /** Returns the default options, as listed in the class documentation. */
  public static AttentionOptions defaults() {
    return DEFAULTS;
  }

  /** Returns a new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns a builder that starts from these options. */
  public Builder toBuilder() {
    Builder builder = new Builder();
    builder.mask = mask;
    builder.causal = causal;
    builder.scale = scale;
    builder.softcap = softcap;
    builder.returnWeights = returnWeights;
    builder.pastKey = pastKey;
    builder.pastValue = pastValue;
    builder.nonPadKeyLengths = nonPadKeyLengths;
    builder.leftWindow = leftWindow;
    builder.rightWindow = rightWindow;
    builder.softmaxPrecision = softmaxPrecision;
    builder.scoresOutput = scoresOutput;
    builder.training = training;
    builder.cache = cache;
    builder.sequenceFirst = sequenceFirst;
    return builder;
  }

  /**
   * Returns the mask, or {@code null}. A boolean mask keeps the keys where it is true; a float mask
   * is added to the scores. It broadcasts, right-aligned, to the shape of the weights.
   */
  public NDArray mask() {
    return mask;
  }

  /** Returns whether query i may only see keys j ≤ i. */
  public boolean causal() {
    return causal;
  }

  /** Returns the score scale, or {@code null} for 1/√D. */
  public Double scale() {
    return scale;
  }

  /** Returns the softcap c, or {@code null} for none. */
  public Double softcap() {
    return softcap;
  }

  /** Returns whether the attention weights are returned with the output. */
  public boolean returnWeights() {
    return returnWeights;
  }

  /** Returns the cached keys the new keys are appended to, or {@code null} for no cache. */
  public NDArray pastKey() {
    return pastKey;
  }

  /** Returns the cached values the new values are appended to, or {@code null} for no cache. */
  public NDArray pastValue() {
    return pastValue;
  }

  /** Returns the number of valid (non-padding) keys per batch, or {@code null} if all are valid. */
  public NDArray nonPadKeyLengths() {
    return nonPadKeyLengths;
  }

  /** Returns how many keys before its own position a query sees, or -1 for unbounded. */
  public int leftWindow() {
    return leftWindow;
  }

  /** Returns how many keys after its own position a query sees, or -1 for unbounded. */
  public int rightWindow() {
    return rightWindow;
  }

  /** Returns the type the softmax is computed in, or {@code null} for the compute type. */
  public DataType softmaxPrecision() {
    return softmaxPrecision;
  }

  /**
   * Returns whether the call is part of a training step, so that it must record gradients even if
   * no input is tracked by autograd yet.
   */
  public boolean training() {
    return training;
  }

  /** Returns which intermediate is returned as {@link AttentionResult#scores()}, or null. */
  public ScoresOutput scoresOutput() {
    return scoresOutput;
  }

  /**
   * Returns whether 4-D inputs and the output are sequence first, (B, S, H, D), rather than heads
   * first.
   */
  public boolean sequenceFirst() {
    return sequenceFirst;
  }

  /** Returns the in-place KV cache layer the call appends to, or {@code null} for none. */
  public KvCache.Layer cache() {
    return cache;
  }

  /** Builds {@link AttentionOptions}; every setting is optional. */
  public static final class Builder {
    private NDArray pastKey;
    private NDArray pastValue;
    private NDArray nonPadKeyLengths;
    private int leftWindow = -1;
    private int rightWindow = -1;
    private DataType softmaxPrecision;
    private ScoresOutput scoresOutput;
    private NDArray mask;
    private boolean causal;
    private Double scale;
    private Double softcap;
    private boolean returnWeights = true;
    private boolean training;
    private KvCache.Layer cache;
    private boolean sequenceFirst;

    private Builder() {}

    /**
     * Sets a mask broadcastable to the weights: boolean (true = the key takes part) or float (added
     * to the scaled scores).
     *
     * @param mask the mask, or {@code null} for none
     * @return this builder
     */
    public Builder optMask(NDArray mask) {
      this.mask = mask;
      return this;
    }

    /**
     * Sets causal masking: query i sees keys j ≤ i. Combines with a mask.
     *
     * @param causal whether to mask future keys
     * @return this builder
     */
    public Builder optCausal(boolean causal) {
      this.causal = causal;
      return this;
    }

    /**
     * Sets the factor the scores are multiplied by, instead of 1/√D.
     *
     * <p>Attention computes with it in its compute type (float32 for float16 and float32 inputs,
     * float64 for float64) and refuses, with an {@link IllegalArgumentException}, a scale that is
     * not a normal number of that type: 1e39 is +∞ in float32, 1e-50 is 0.
     *
     * @param scale a finite, positive factor
     * @return this builder
     */
    public Builder optScale(double scale) {
      this.scale = scale;
      return this;
    }

    /**
     * Sets the softcap c: scores become c·tanh(scores/c) after scaling and before masking.
     *
     * <p>As for the scale, attention refuses a softcap that is not a normal number of its compute
     * type: in float32, 1e39 is +∞, 1e-50 is 0 and 1e-40 a subnormal whose reciprocal overflows.
     *
     * @param softcap a finite, positive cap; 0 turns softcapping off (as in ONNX)
     * @return this builder
     */
    public Builder optSoftcap(double softcap) {
      this.softcap = softcap == 0 ? null : softcap;
      return this;
    }

    /**
     * Sets whether the weights are returned with the output (default true).
     *
     * @param returnWeights whether to return the weights
     * @return this builder
     */
    public Builder optReturnWeights(boolean returnWeights) {
      this.returnWeights = returnWeights;
      return this;
    }

    /**
     * Sets a KV cache: the key and value passed to {@code attention} are appended to these along
     * the length axis, attention runs over the concatenation, and the result returns it as {@link
     * AttentionResult#presentKey()} and {@link AttentionResult#presentValue()}. A causal mask is
     * then aligned to the bottom right: query i sits at position {@code P + i} for a cache of
     * length P.
     *
     * @param pastKey cached keys, shaped like the key except for the length: (P, D), (B, P, D) or
     *     (B, G, P, D); {@code null} for none
     * @param pastValue cached values, (P, Dv), (B, P, Dv) or (B, G, P, Dv); {@code null} for none
     * @return this builder
     */
    public Builder optKvCache(NDArray pastKey, NDArray pastValue) {
      this.pastKey = pastKey;
      this.pastValue = pastValue;
      return this;
    }

    /**
     * Sets a KV cache that appends in place: {@code attention} writes the key and value it is given
     * (the new positions, (B, G, S, D) and (B, G, S, Dv)) into the layer's buffers after each
     * sequence's last position, and attends the query (B, H, S, D) over each sequence's valid
     * prefix, its S queries at its last S positions (bottom-right causal alignment; a window counts
     * from there). A mask spans the cache's capacity. With {@code optReturnWeights(false)} this is
     * the fast path, which reads the buffers where they lie. See {@link KvCache}.
     *
     * @param cache the layer's cache, or {@code null} for none
     * @return this builder
     */
    public Builder optCache(KvCache.Layer cache) {
      this.cache = cache;
      return this;
    }

    /**
     * Sets the number of valid keys per batch: keys at index {@code >= lengths[b]} are padding and
     * get no weight. Without a KV cache, a causal or windowed query i then sits at position {@code
     * lengths[b] − S + i}: the keys hold a statically sized cache whose valid part ends with the
     * current queries.
     *
     * @param lengths integer (B), one count per batch; {@code null} for none
     * @return this builder
     */
    public Builder optNonPadKeyLengths(NDArray lengths) {
      this.nonPadKeyLengths = lengths;
      return this;
    }

    /**
     * Sets a sliding window: a query at position p sees only keys {@code p − left … p + right}.
     * Combined with {@link #optCausal}, keys after p stay hidden whatever {@code right} is.
     *
     * @param left keys before the query's own position that stay visible, or -1 for unbounded
     * @param right keys after the query's own position that stay visible, or -1 for unbounded
     * @return this builder
     */
    public Builder optWindow(int left, int right) {
      this.leftWindow = left;
      this.rightWindow = right;
      return this;
    }

    /**
     * Sets the type the softmax is computed in: the masked scores are cast to it, normalized, and
     * cast back. {@code null} (the default) uses the compute type: the inputs' type, or float32 for
     * float16 and bfloat16 inputs.
     *
     * @param precision float16, float32 or float64, or {@code null}
     * @return this builder
     */
    public Builder optSoftmaxPrecision(DataType precision) {
      this.softmaxPrecision = precision;
      return this;
    }

    /**
     * Returns an intermediate of the computation as {@link AttentionResult#scores()}.
     *
     * @param output which intermediate, or {@code null} for none (the default)
     * @return this builder
     */
    public Builder optScoresOutput(ScoresOutput output) {
      this.scoresOutput = output;
      return this;
    }

    /**
     * Marks the call as part of a training step (default false): it then takes a kernel that
     * records gradients, whatever autograd's state. Without it, a call records gradients when the
     * engine records them: inside a DJL {@code GradientCollector}, for inputs that autograd tracks.
     * Blocks pass their {@code forward}'s {@code training} flag here.
     *
     * @param training whether the call is part of a training step
     * @return this builder
     */
    public Builder optTraining(boolean training) {
      this.training = training;
      return this;
    }

    /**
     * Sets the layout of 4-D inputs and of the output (default false: heads first, (B, H, S, D)).
     * Sequence first, the query is (B, S, H, D), the key (B, T, G, D), the value (B, T, G, Dv), the
     * output (B, S, H, Dv), and past keys and values (and the present ones returned) (B, P, G, D):
     * the layout that a projection's (B, S, H·D) output has once reshaped, as FlashAttention and
     * ONNX Runtime's {@code MultiHeadAttention} take their inputs. The mask, the weights and the
     * scores stay (B, H, S, T). The native kernels read and write this layout where it lies; the
     * other kernels and the step-by-step chain compute on heads-first views of the same arrays, so
     * every path gives the results it gives heads first, in this layout.
     *
     * @param sequenceFirst whether 4-D inputs and the output are (B, S, H, D)
     * @return this builder
     */
    public Builder optSequenceFirst(boolean sequenceFirst) {
      this.sequenceFirst = sequenceFirst;
      return this;
    }

    /**
     * Builds the options.
     *
     * @return the options
     * @throws IllegalArgumentException when the scale or the softcap is not finite and positive
     */
    public AttentionOptions build() {
      if (scale != null && !(scale > 0 && Double.isFinite(scale))) {
        throw new IllegalArgumentException("scale must be finite and > 0, got " + scale);
      }
      if (softcap != null && !(softcap > 0 && Double.isFinite(softcap))) {
        throw new IllegalArgumentException(
            "softcap must be finite and > 0 (or 0 for none), got " + softcap);
      }
      if (mask != null
          && mask.getDataType() != DataType.BOOLEAN
          && !mask.getDataType().isFloating()) {
        throw new IllegalArgumentException(
            "mask must be boolean or floating point, got " + mask.getDataType());
      }
      if ((pastKey == null) != (pastValue == null)) {
        throw new IllegalArgumentException(
            "a KV cache needs both past key and past value, got key "
                + (pastKey == null ? "null" : pastKey.getShape())
                + " and value "
                + (pastValue == null ? "null" : pastValue.getShape()));
      }
      if (leftWindow < -1 || rightWindow < -1) {
        throw new IllegalArgumentException(
            "window sizes must be >= 0 or -1 (unbounded), got left "
                + leftWindow
                + ", right "
                + rightWindow);
      }
      if (softmaxPrecision != null
          && softmaxPrecision != DataType.FLOAT16
          && softmaxPrecision != DataType.FLOAT32
          && softmaxPrecision != DataType.FLOAT64) {
        // bfloat16 is left out: casting to it aborts the JVM on DJL 0.36's PyTorch engine.
        throw new IllegalArgumentException(
            "softmax precision must be float16, float32 or float64, got " + softmaxPrecision);
      }
      if (cache != null && (pastKey != null || nonPadKeyLengths != null)) {
        throw new IllegalArgumentException(
            "a KvCache keeps its own lengths and buffers: it takes neither past key and value"
                + " (optKvCache) nor valid key counts (optNonPadKeyLengths)");
      }
      if (nonPadKeyLengths != null && !nonPadKeyLengths.getDataType().isInteger()) {
        throw new IllegalArgumentException(
            "valid key counts must be integers, got " + nonPadKeyLengths.getDataType());
      }
      return new AttentionOptions(this);
    }
  }
}
