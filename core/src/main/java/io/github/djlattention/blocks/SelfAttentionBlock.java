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
 * <p>Input: {@code (x)} or {@code (x, mask)} with x (B, S, E); the mask is boolean (true = the key
 * takes part) or float (added to the scores), shaped (S, S) or (B, S, S). Outputs: the attention
 * output (B, S, D), then the weights (B, S, S) unless {@link Builder#optReturnWeights} turned them
 * off.
 *
 * <p>Parameters, named as in the seed's module: {@code W_q.weight}, {@code W_k.weight}, {@code
 * W_v.weight}, each (D, E), and {@code W_q.bias}, {@code W_k.bias}, {@code W_v.bias} (D) with bias.
 */
public final class SelfAttentionBlock extends AbstractBlock {

  private static final byte VERSION = 1;

  private final long embeddingSize;
  private final long headSize;
  private final boolean bias;
  private final boolean causal;
  private final boolean returnWeights;
  private final Projection query;
  private final Projection key;
  private final Projection value;

  private SelfAttentionBlock(Builder builder) {
    super(VERSION);
    this.embeddingSize = builder.embeddingSize;
    this.headSize = builder.headSize > 0 ? builder.headSize : builder.embeddingSize;
    this.bias = builder.bias;
    this.causal = builder.causal;
    this.returnWeights = builder.returnWeights;
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

  /** The embedding size E of the input. */
  public long getEmbeddingSize() {
    return embeddingSize;
  }

  /** The head size D of Q, K, V and the output. */
  public long getHeadSize() {
    return headSize;
  }

  /** Whether W_q, W_k, W_v carry biases. */
  public boolean hasBias() {
    return bias;
  }

  /** Whether query i sees only keys j ≤ i. */
  public boolean isCausal() {
    return causal;
  }

  /** Whether the weights are the second output. */
  public boolean returnsWeights() {
    return returnWeights;
  }

  @Override
  protected NDList forwardInternal(
      ParameterStore store, NDList inputs, boolean training, PairList<String, Object> params) {
    if (inputs.size() > 2) {
      throw new IllegalArgumentException(
          "SelfAttentionBlock takes (x) or (x, mask); got " + inputs.size() + " inputs");
    }
    Inputs in = Inputs.of(inputs, "SelfAttentionBlock");
    in.requireFeatures(embeddingSize, embeddingSize, embeddingSize);
    NDArray x = in.query();
    NDArray q = query.apply(store, x, training); // Q = X·W_qᵀ  (B, S, D)
    NDArray k = key.apply(store, x, training); // K = X·W_kᵀ  (B, S, D)
    NDArray v = value.apply(store, x, training); // V = X·W_vᵀ  (B, S, D)
    AttentionOptions options =
        AttentionOptions.builder()
            .optMask(in.mask())
            .optCausal(causal)
            .optReturnWeights(returnWeights)
            .optTraining(training) // a training step takes a kernel that records gradients
            .build();
    AttentionResult result = Attention.attention(q, k, v, options);
    return returnWeights
        ? new NDList(result.output(), result.weights())
        : new NDList(result.output());
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    Shape x = inputShapes[0];
    Shape output = new Shape(x.get(0), x.get(1), headSize);
    if (!returnWeights) {
      return new Shape[] {output};
    }
    return new Shape[] {output, new Shape(x.get(0), x.get(1), x.get(1))};
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
    Projection.requireLoadedShapes(toString(), query, key, value);
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
    private boolean returnWeights = true;

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

    /** Sets whether the weights are returned as a second output (default true). */
    public Builder optReturnWeights(boolean returnWeights) {
      this.returnWeights = returnWeights;
      return this;
    }

    /**
     * Builds the block.
     *
     * @return the block
     * @throws IllegalArgumentException when a size is not positive
     */
    public SelfAttentionBlock build() {
      if (embeddingSize <= 0) {
        throw new IllegalArgumentException(
            "embedding size must be set and > 0, got " + embeddingSize);
      }
      if (headSize < 0) {
        throw new IllegalArgumentException("head size must be > 0, got " + headSize);
      }
      return new SelfAttentionBlock(this);
    }
  }
}
