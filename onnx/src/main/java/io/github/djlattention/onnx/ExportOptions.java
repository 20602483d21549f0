package io.github.djlattention.onnx;

import java.util.Locale;

/**
 * How {@link OnnxExporter} writes a block: which form (opset), whether the graph takes an {@code
 * attn_mask} input and of which type and rank, and whether per-head weights are exposed.
 *
 * <p>Legend: B batch, H heads, S query length, T key/value length.
 *
 * <p>The mask follows the library's convention: a {@link MaskType#BOOL} mask is true where the key
 * takes part (as the ONNX {@code Attention} operator reads it, and the opposite of PyTorch's bool
 * {@code attn_mask}); a {@link MaskType#FLOAT} mask is added to the scaled scores ({@code -inf}
 * blocks a pair). Its rank picks its shape: 2 = (S, T), 3 = (B, S, T), 4 = (B, H, S, T).
 */
public final class ExportOptions {

  /** The element type of the {@code attn_mask} input. */
  public enum MaskType {
    /** No mask input. */
    NONE,
    /** A bool mask: true = the key takes part. */
    BOOL,
    /** A float32 mask added to the scaled scores. */
    FLOAT;

    /**
     * Parses {@code none}, {@code bool} or {@code float} (case-insensitive).
     *
     * @param text the name
     * @return the type
     * @throws IllegalArgumentException for any other name
     */
    public static MaskType parse(String text) {
      try {
        return valueOf(text.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "unknown mask type '" + text + "': expected none, bool or float", e);
      }
    }
  }

  private static final ExportOptions DEFAULTS = builder().build();

  private final int opset;
  private final MaskType maskType;
  private final int maskRank;
  private final boolean headWeights;

  private ExportOptions(Builder builder) {
    this.opset = builder.opset;
    this.maskType = builder.maskType;
    this.maskRank = builder.maskRank;
    this.headWeights = builder.headWeights;
  }

  /** The defaults: decomposed opset-17 graph, no mask input, no per-head weights. */
  public static ExportOptions defaults() {
    return DEFAULTS;
  }

  /** Returns a new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** The opset: {@link OnnxConstants#DECOMPOSED_OPSET} or {@link OnnxConstants#ATTENTION_OPSET}. */
  public int opset() {
    return opset;
  }

  /** Whether the graph is built around the ONNX {@code Attention} operator. */
  public boolean usesAttentionOperator() {
    return opset == OnnxConstants.ATTENTION_OPSET;
  }

  /** The {@code attn_mask} input's type, {@link MaskType#NONE} for no mask input. */
  public MaskType maskType() {
    return maskType;
  }

  /** The {@code attn_mask} input's rank (2, 3 or 4); meaningless without a mask. */
  public int maskRank() {
    return maskRank;
  }

  /** Whether the per-head weights (B, H, S, T) are an extra output named {@code head_weights}. */
  public boolean headWeights() {
    return headWeights;
  }

  @Override
  public String toString() {
    return "opset "
        + opset
        + (maskType == MaskType.NONE
            ? ""
            : ", " + maskType.name().toLowerCase(Locale.ROOT) + " mask rank " + maskRank)
        + (headWeights ? ", head_weights" : "");
  }

  /** Builds {@link ExportOptions}; every setting is optional. */
  public static final class Builder {
    private int opset = OnnxConstants.DECOMPOSED_OPSET;
    private MaskType maskType = MaskType.NONE;
    private int maskRank = 2;
    private boolean headWeights;

    private Builder() {}

    /**
     * Sets the form: opset 17 writes the decomposed graph, opset 23 the ONNX {@code Attention}
     * operator.
     *
     * @param opset 17 (default) or 23
     * @return this builder
     */
    public Builder optOpset(int opset) {
      this.opset = opset;
      return this;
    }

    /**
     * Adds an {@code attn_mask} input.
     *
     * @param type bool (true = take part) or float (added to the scores); NONE for no input
     * @param rank 2 for (S, T), 3 for (B, S, T), 4 for (B, H, S, T)
     * @return this builder
     */
    public Builder optMask(MaskType type, int rank) {
      this.maskType = type;
      this.maskRank = rank;
      return this;
    }

    /**
     * Sets whether the per-head weights (B, H, S, T) are exposed as output {@code head_weights}
     * (default false). They exist only for blocks that return weights.
     *
     * @param headWeights whether to add the output
     * @return this builder
     */
    public Builder optHeadWeights(boolean headWeights) {
      this.headWeights = headWeights;
      return this;
    }

    /**
     * Builds the options.
     *
     * @return the options
     * @throws IllegalArgumentException for an opset other than 17 or 23, a null mask type or a mask
     *     rank outside 2..4
     */
    public ExportOptions build() {
      OnnxConstants.irVersion(opset);
      if (maskType == null) {
        throw new IllegalArgumentException("mask type must not be null (use NONE)");
      }
      if (maskType != MaskType.NONE && (maskRank < 2 || maskRank > 4)) {
        throw new IllegalArgumentException(
            "mask rank must be 2 (S, T), 3 (B, S, T) or 4 (B, H, S, T), got " + maskRank);
      }
      return new ExportOptions(this);
    }
  }
}
