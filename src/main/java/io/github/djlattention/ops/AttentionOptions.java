package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * Settings for {@link Attention#attention(NDArray, NDArray, NDArray, AttentionOptions)}.
 *
 * <p>Every setting is optional; {@link #defaults()} computes plain scaled dot-product attention
 * with the scale 1/√D and returns the weights. Build with {@link #builder()}.
 *
 * <p>The order of operations follows the ONNX {@code Attention} operator: scores are scaled, then
 * soft-capped ({@code c·tanh(scores/c)}), then the mask and the causal mask are applied, then the
 * softmax. A query row whose keys are all masked gets zero weights and a zero output.
 */
public final class AttentionOptions {

  private static final AttentionOptions DEFAULTS = builder().build();

  private final NDArray mask;
  private final boolean causal;
  private final Double scale;
  private final Double softcap;
  private final boolean returnWeights;

  private AttentionOptions(Builder builder) {
    this.mask = builder.mask;
    this.causal = builder.causal;
    this.scale = builder.scale;
    this.softcap = builder.softcap;
    this.returnWeights = builder.returnWeights;
  }

  /** Returns the default options: scale 1/√D, no mask, not causal, weights returned. */
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

  /** Builds {@link AttentionOptions}; every setting is optional. */
  public static final class Builder {
    private NDArray mask;
    private boolean causal;
    private Double scale;
    private Double softcap;
    private boolean returnWeights = true;

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
      return new AttentionOptions(this);
    }
  }
}
