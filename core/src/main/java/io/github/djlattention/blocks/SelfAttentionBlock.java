package io.github.djlattention.blocks;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.AttentionResult;
import java.io.DataInputStream;
import java.io.IOException;

/**
 * The seed document's single attention head: Q = X·W_qᵀ, K = X·W_kᵀ, V = X·W_vᵀ, then
 * softmax(Q·Kᵀ/√D)·V.
 *
 * <p>Legend: B batch, S sequence length, E embedding size, D head size.
 *
 * <p>Inputs: {@code (x)} or {@code (x, mask)} with x (B, S, E); the mask is boolean (true = the key
 * takes part) or float (added to the scores), shaped (S, S) or (B, S, S). A block built with {@link
 * Builder#optKeyPaddingMask} takes a key-padding mask (B, S) as its last input, with the opposite
 * boolean convention, as in {@code torch.nn.MultiheadAttention}: true marks a padding key, which no
 * query sees (a float key-padding mask is added). See {@link MultiHeadAttentionBlock} for how the
 * two masks combine.
 *
 * <p>Outputs: the attention output (B, S, D), then the weights when {@link
 * Builder#optAttentionWeights} asks for them: (B, S, S) for {@link AttentionWeights#AVERAGED} (one
 * head: its weights), (B, 1, S, S) for {@link AttentionWeights#PER_HEAD}. Without weights (the
 * default) the block takes the fast path.
 *
 * <p>Parameters, named as in the seed's module: {@code W_q.weight}, {@code W_k.weight}, {@code
 * W_v.weight}, each (D, E), and {@code W_q.bias}, {@code W_k.bias}, {@code W_v.bias} (D) with bias.
 */
public final class SelfAttentionBlock extends AbstractBlock implements AttentionBlock {

  private static final byte VERSION = 1;

  private final long embeddingSize;
  private final long headSize;
  private final boolean bias;
  private final boolean causal;
  private final AttentionWeights attentionWeights;
  private final boolean keyPaddingMask;
  private final Projection query;
  private final Projection key;
  private final Projection value;

  private SelfAttentionBlock(Builder builder) {
    super(VERSION);
    this.embeddingSize = builder.embeddingSize;
    this.headSize = builder.headSize > 0 ? builder.headSize : builder.embeddingSize;
    this.bias = builder.bias;
    this.causal = builder.causal;
    this.attentionWeights = builder.attentionWeights;
    this.keyPaddingMask = builder.keyPaddingMask;
    this.query = register(Projection.create("W_q", embeddingSize, headSize, bias));
    this.key = register(Projection.create("W_k", embeddingSize, headSize, bias));
    this.value = register(Projection.create("W_v", embeddingSize, headSize, bias));
  }

  private Projection register(Projection projection) {
    projection.parameters().forEach(this::addParameter);
    return projection;
  }

  /** Returns a new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns the embedding size E of the input. */
  public long getEmbeddingSize() {
    return embeddingSize;
  }

  /** Returns the head size D of Q, K, V and the output. */
  public long getHeadSize() {
    return headSize;
  }

  /** Returns whether W_q, W_k, W_v carry biases. */
  @Override
  public boolean isIncludeBias() {
    return bias;
  }

  @Override
  public BlockLayout getLayout() {
    return new BlockLayout(
        true, embeddingSize, embeddingSize, embeddingSize, 1, 1, headSize, bias, false);
  }

  @Override
  public boolean isCausal() {
    return causal;
  }

  @Override
  public AttentionWeights getAttentionWeights() {
    return attentionWeights;
  }

  @Override
  public boolean isIncludeKeyPaddingMask() {
    return keyPaddingMask;
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore store, NDList inputs, boolean training, PairList<String, Object> params) {
    int count = inputs.size() - (keyPaddingMask ? 1 : 0);
    if (count < 1 || count > 2) {
      throw new IllegalArgumentException(
          "SelfAttentionBlock takes (x) or (x, mask)"
              + (keyPaddingMask ? ", then the key-padding mask" : "")
              + "; got "
              + inputs.size()
              + " inputs");
    }
    Inputs in = Inputs.of(inputs, "SelfAttentionBlock", keyPaddingMask);
    in.requireFeatures(embeddingSize, embeddingSize, embeddingSize);
    NDArray x = in.query();
    NDArray q = query.apply(store, x, training); // Q = X·W_qᵀ  (B, S, D)
    NDArray k = key.apply(store, x, training); // K = X·W_kᵀ  (B, S, D)
    NDArray v = value.apply(store, x, training); // V = X·W_vᵀ  (B, S, D)
    AttentionResult result;
    try (NDManager scope = q.getManager().newSubManager()) {
      AttentionOptions options =
          AttentionOptions.builder()
              .optMask(in.combinedMask(3, scope)) // against the (B, S, S) weights
              .optCausal(causal)
              .optReturnWeights(attentionWeights != AttentionWeights.NONE)
              .optTraining(training) // a training step takes a kernel that records gradients
              .build();
      result = Attention.attention(q, k, v, options);
    }
    switch (attentionWeights) {
      case AVERAGED:
        return new NDList(result.output(), result.weights()); // (B, S, D), (B, S, S)
      case PER_HEAD:
        return new NDList(result.output(), result.weights().expandDims(1)); // (B, 1, S, S)
      default:
        return new NDList(result.output());
    }
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    Shape x = inputShapes[0];
    Shape output = new Shape(x.get(0), x.get(1), headSize);
    switch (attentionWeights) {
      case AVERAGED:
        return new Shape[] {output, new Shape(x.get(0), x.get(1), x.get(1))};
      case PER_HEAD:
        return new Shape[] {output, new Shape(x.get(0), 1, x.get(1), x.get(1))};
      default:
        return new Shape[] {output};
    }
  }

  /**
   * Loads the parameters DJL saved, and refuses a file whose shapes do not fit this block.
   *
   * @throws MalformedModelException naming each parameter whose saved shape differs from the
   *     block's, with both shapes; the block's parameters are then not usable
   */
  @Override
  public void loadParameters(NDManager manager, DataInputStream is)
      throws IOException, MalformedModelException {
    super.loadParameters(manager, is);
    BlockParameters.requireLoadedShapes(this);
  }

  @Override
  public String toString() {
    return String.format(
        "SelfAttentionBlock(E=%d, D=%d, bias=%b, causal=%b)",
        embeddingSize, headSize, bias, causal);
  }

  /**
   * Builds a {@link SelfAttentionBlock}: {@code setX} for required settings, {@code optX} for
   * optional ones, all validated in {@link #build()}.
   */
  public static final class Builder {
    private long embeddingSize;
    private long headSize;
    private boolean bias;
    private boolean causal;
    private AttentionWeights attentionWeights = AttentionWeights.NONE;
    private boolean keyPaddingMask;

    private Builder() {}

    /** Sets the embedding size E of the input (required). */
    public Builder setEmbeddingSize(long embeddingSize) {
      this.embeddingSize = embeddingSize;
      return this;
    }

    /** Sets the head size D (default E). */
    public Builder optHeadSize(long headSize) {
      this.headSize = headSize;
      return this;
    }

    /** Sets whether W_q, W_k, W_v carry biases (default false, as in the seed). */
    public Builder optBias(boolean bias) {
      this.bias = bias;
      return this;
    }

    /** Sets causal masking: query i sees only keys j ≤ i (default false). */
    public Builder optCausal(boolean causal) {
      this.causal = causal;
      return this;
    }

    /**
     * Sets which attention weights follow the output (default {@link AttentionWeights#NONE}: the
     * output alone, through the fast path).
     */
    public Builder optAttentionWeights(AttentionWeights attentionWeights) {
      this.attentionWeights = attentionWeights;
      return this;
    }

    /**
     * Sets whether the last input is a key-padding mask (B, S) (default false): boolean true marks
     * a padding key that no query sees, as {@code key_padding_mask} in {@code
     * torch.nn.MultiheadAttention} (the opposite of the attention mask's boolean convention); a
     * float one is added to the scores of each key.
     */
    public Builder optKeyPaddingMask(boolean keyPaddingMask) {
      this.keyPaddingMask = keyPaddingMask;
      return this;
    }

    /**
     * Builds the block.
     *
     * @return the block
     * @throws IllegalArgumentException when a size is not positive or the weights setting is null
     */
    public SelfAttentionBlock build() {
      if (embeddingSize <= 0) {
        throw new IllegalArgumentException(
            "embedding size must be set and > 0, got " + embeddingSize);
      }
      if (headSize < 0) {
        throw new IllegalArgumentException("head size must be > 0, got " + headSize);
      }
      if (attentionWeights == null) {
        throw new IllegalArgumentException(
            "attention weights must be NONE, AVERAGED or PER_HEAD, got null");
      }
      return new SelfAttentionBlock(this);
    }
  }
}
