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
import io.github.djlattention.ops.KvCache;
import java.io.DataInputStream;
import java.io.IOException;

/**
 * Multi-head attention with learned projections, in the layout of PyTorch's {@code
 * torch.nn.MultiheadAttention(batch_first=True)}, extended with grouped-query heads.
 *
 * <p>Legend: B batch, S query length, T key/value length, E embedding size, H query heads, G
 * key/value heads, D = E/H head size.
 *
 * <p>Inputs, as an {@link NDList}: {@code (x)} for self-attention, {@code (query, key, value)} for
 * attention across sequences, and either followed by an optional attention mask: query (B, S, E),
 * key (B, T, Ek), value (B, T, Ev); the attention mask is boolean (<b>true = the key takes
 * part</b>, the library's convention and the ONNX {@code Attention} operator's, the opposite of
 * PyTorch's boolean {@code attn_mask}) or float (added to the scaled scores), shaped (S, T), (B, S,
 * T) or (B, H, S, T) or broadcastable to them.
 *
 * <p>Generation with a KV cache: pass a {@link KvCache.Layer} in {@code forward}'s parameters under
 * {@link #KV_CACHE}. The block then appends the keys and values of this call's positions to the
 * layer's buffers in place and attends over each sequence's valid prefix (the causal mask aligned
 * to the bottom right; a mask spans the cache's capacity). See {@link KvCache}.
 *
 * <p>A block built with {@link Builder#optKeyPaddingMask} takes a key-padding mask (B, T) as its
 * last input, as {@code key_padding_mask} in {@code torch.nn.MultiheadAttention}: boolean <b>true =
 * the key is padding and no query sees it</b> (PyTorch's convention, which the name says), or
 * float, added to the scores of every query against that key. The two masks combine as PyTorch
 * combines them: a key takes part only if both let it; float masks add up. A query row left without
 * any key gets zero weights and a zero output (PyTorch gives NaN there).
 *
 * <p>Outputs: the attention output (B, S, E), then, when {@link Builder#optAttentionWeights} asks
 * for them, the weights averaged over heads (B, S, T) ({@link AttentionWeights#AVERAGED}, as {@code
 * torch.nn.MultiheadAttention} returns them) or per head (B, H, S, T) ({@link
 * AttentionWeights#PER_HEAD}, its {@code average_attn_weights=False}). Without weights (the
 * default) the block takes the fast path.
 *
 * <p>Parameters (PyTorch's names, W shaped (out, in), y = x·Wᵀ + b): {@code q_proj.weight} (H·D,
 * E), {@code k_proj.weight} (G·D, Ek), {@code v_proj.weight} (G·D, Ev), {@code out_proj.weight} (E,
 * H·D), and the matching {@code .bias} vectors when bias is on.
 */
public final class MultiHeadAttentionBlock extends AbstractBlock implements AttentionBlock {

  private static final byte VERSION = 1;

  /**
   * The name, in {@code forward}'s {@code params}, of a {@link KvCache.Layer} the call appends its
   * keys and values to: {@code block.forward(store, inputs, false, new PairList<>(List.of(
   * MultiHeadAttentionBlock.KV_CACHE), List.of(cache.layer(i))))}.
   */
  public static final String KV_CACHE = "kv_cache";

  private final long embeddingSize;
  private final long keySize;
  private final long valueSize;
  private final int heads;
  private final int kvHeads;
  private final boolean bias;
  private final boolean outputProjection;
  private final boolean causal;
  private final AttentionWeights attentionWeights;
  private final boolean keyPaddingMask;
  private final Projection queryProjection;
  private final Projection keyProjection;
  private final Projection valueProjection;
  private final Projection outProjection;

  private MultiHeadAttentionBlock(Builder builder) {
    super(VERSION);
    this.embeddingSize = builder.embeddingSize;
    this.keySize = builder.keySize > 0 ? builder.keySize : builder.embeddingSize;
    this.valueSize = builder.valueSize > 0 ? builder.valueSize : builder.embeddingSize;
    this.heads = builder.heads;
    this.kvHeads = builder.kvHeads > 0 ? builder.kvHeads : builder.heads;
    this.bias = builder.bias;
    this.outputProjection = builder.outputProjection;
    this.causal = builder.causal;
    this.attentionWeights = builder.attentionWeights;
    this.keyPaddingMask = builder.keyPaddingMask;
    long headSize = getHeadSize();
    this.queryProjection =
        register(Projection.create("q_proj", embeddingSize, heads * headSize, bias));
    this.keyProjection = register(Projection.create("k_proj", keySize, kvHeads * headSize, bias));
    this.valueProjection =
        register(Projection.create("v_proj", valueSize, kvHeads * headSize, bias));
    this.outProjection =
        outputProjection
            ? register(Projection.create("out_proj", heads * headSize, embeddingSize, bias))
            : null;
  }

  private Projection register(Projection projection) {
    projection.parameters().forEach(this::addParameter);
    return projection;
  }

  /** Returns a new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns the embedding size E of the query and the output. */
  public long getEmbeddingSize() {
    return embeddingSize;
  }

  /** Returns the feature size of the key input (E unless set). */
  public long getKeySize() {
    return keySize;
  }

  /** Returns the feature size of the value input (E unless set). */
  public long getValueSize() {
    return valueSize;
  }

  /** Returns the number of query heads H. */
  public int getHeads() {
    return heads;
  }

  /** Returns the number of key/value heads G. */
  public int getKvHeads() {
    return kvHeads;
  }

  /** Returns the head size D = E / H. */
  public long getHeadSize() {
    return embeddingSize / heads;
  }

  @Override
  public boolean isIncludeBias() {
    return bias;
  }

  /** Returns whether the output goes through {@code out_proj}. */
  public boolean isIncludeOutputProjection() {
    return outputProjection;
  }

  @Override
  public BlockLayout getLayout() {
    return new BlockLayout(
        false,
        embeddingSize,
        keySize,
        valueSize,
        heads,
        kvHeads,
        getHeadSize(),
        bias,
        outputProjection);
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
    Inputs in = Inputs.of(inputs, "MultiHeadAttentionBlock", keyPaddingMask);
    in.requireFeatures(embeddingSize, keySize, valueSize);
    NDArray query = in.query();
    long batch = query.getShape().get(0);
    long queryLength = query.getShape().get(1);
    long keyLength = in.key().getShape().get(1);
    long headSize = getHeadSize();

    NDArray q = queryProjection.apply(store, query, training); // (B, S, H·D)
    NDArray k = keyProjection.apply(store, in.key(), training); // (B, T, G·D)
    NDArray v = valueProjection.apply(store, in.value(), training); // (B, T, G·D)
    // Sequence first, as the projections lay the heads out: the native kernels read these
    // views where they lie, so no head is copied to (B, H, S, D) and back (issue 14: four such
    // copies were 0.2 ms of a 64-token call).
    q = q.reshape(batch, queryLength, heads, headSize); // (B, S, H, D)
    k = k.reshape(batch, keyLength, kvHeads, headSize); // (B, T, G, D)
    v = v.reshape(batch, keyLength, kvHeads, headSize); // (B, T, G, D)

    AttentionResult result;
    try (NDManager scope = q.getManager().newSubManager()) {
      AttentionOptions options =
          AttentionOptions.builder()
              .optMask(in.combinedMask(4, scope)) // against the (B, H, S, T) weights
              .optCausal(causal)
              .optReturnWeights(attentionWeights != AttentionWeights.NONE)
              .optTraining(training) // a training step takes a kernel that records gradients
              .optCache(cache(params))
              .optSequenceFirst(true)
              .build();
      result = Attention.attention(q, k, v, options);
    }

    NDArray output =
        result
            .output()
            .reshape(batch, queryLength, heads * headSize); // (B, S, H, D) to (B, S, H·D)
    if (outProjection != null) {
      output = outProjection.apply(store, output, training); // (B, S, E)
    }
    switch (attentionWeights) {
      case AVERAGED:
        return new NDList(output, result.weights().mean(new int[] {1})); // (B, S, T)
      case PER_HEAD:
        return new NDList(output, result.weights()); // (B, H, S, T)
      default:
        return new NDList(output);
    }
  }

  /** The KV cache layer of the call's params, or null. */
  private static KvCache.Layer cache(PairList<String, Object> params) {
    Object cache = params == null ? null : params.get(KV_CACHE);
    if (cache != null && !(cache instanceof KvCache.Layer)) {
      throw new IllegalArgumentException(
          KV_CACHE + " must be a KvCache.Layer, got " + cache.getClass().getName());
    }
    return (KvCache.Layer) cache;
  }

  @Override
  public Shape[] getOutputShapes(Shape[] inputShapes) {
    Shape[] queryAndKey = Inputs.queryAndKey(inputShapes, keyPaddingMask);
    Shape query = queryAndKey[0];
    long keyLength = queryAndKey[1].get(1);
    long outSize = outputProjection ? embeddingSize : heads * getHeadSize();
    Shape output = new Shape(query.get(0), query.get(1), outSize);
    switch (attentionWeights) {
      case AVERAGED:
        return new Shape[] {output, new Shape(query.get(0), query.get(1), keyLength)};
      case PER_HEAD:
        return new Shape[] {output, new Shape(query.get(0), heads, query.get(1), keyLength)};
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
        "MultiHeadAttentionBlock(E=%d, H=%d, G=%d, D=%d, bias=%b, causal=%b)",
        embeddingSize, heads, kvHeads, getHeadSize(), bias, causal);
  }

  /**
   * Builds a {@link MultiHeadAttentionBlock}: {@code setX} for required settings, {@code optX} for
   * optional ones, all validated in {@link #build()}.
   */
  public static final class Builder {
    private long embeddingSize;
    private int heads;
    private int kvHeads;
    private long keySize;
    private long valueSize;
    private boolean bias = true;
    private boolean outputProjection = true;
    private boolean causal;
    private AttentionWeights attentionWeights = AttentionWeights.NONE;
    private boolean keyPaddingMask;

    private Builder() {}

    /** Sets the embedding size E (required). */
    public Builder setEmbeddingSize(long embeddingSize) {
      this.embeddingSize = embeddingSize;
      return this;
    }

    /** Sets the number of query heads H (required); E must be a multiple of H. */
    public Builder setHeads(int heads) {
      this.heads = heads;
      return this;
    }

    /** Sets the number of key/value heads G for grouped-query attention (default H). */
    public Builder optKvHeads(int kvHeads) {
      this.kvHeads = kvHeads;
      return this;
    }

    /** Sets the feature size of the key input (default E), like PyTorch's {@code kdim}. */
    public Builder optKeySize(long keySize) {
      this.keySize = keySize;
      return this;
    }

    /** Sets the feature size of the value input (default E), like PyTorch's {@code vdim}. */
    public Builder optValueSize(long valueSize) {
      this.valueSize = valueSize;
      return this;
    }

    /** Sets whether the projections carry biases (default true, as in PyTorch). */
    public Builder optBias(boolean bias) {
      this.bias = bias;
      return this;
    }

    /** Sets whether the heads are merged through {@code out_proj} (default true). */
    public Builder optOutputProjection(boolean outputProjection) {
      this.outputProjection = outputProjection;
      return this;
    }

    /** Sets causal masking: query i sees only keys j ≤ i (default false). */
    public Builder optCausal(boolean causal) {
      this.causal = causal;
      return this;
    }

    /**
     * Sets which attention weights follow the output (default {@link AttentionWeights#NONE}: the
     * output alone, through the fast path): averaged over heads (B, S, T) or per head (B, H, S, T).
     */
    public Builder optAttentionWeights(AttentionWeights attentionWeights) {
      this.attentionWeights = attentionWeights;
      return this;
    }

    /**
     * Sets whether the last input is a key-padding mask (B, T) (default false): boolean true marks
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
     * @throws IllegalArgumentException when a size is not positive, E is not a multiple of H, H is
     *     not a multiple of G, or the weights setting is null
     */
    public MultiHeadAttentionBlock build() {
      if (embeddingSize <= 0) {
        throw new IllegalArgumentException(
            "embedding size must be set and > 0, got " + embeddingSize);
      }
      if (heads <= 0) {
        throw new IllegalArgumentException("heads must be set and > 0, got " + heads);
      }
      if (embeddingSize % heads != 0) {
        throw new IllegalArgumentException(
            "embedding size " + embeddingSize + " is not a multiple of heads " + heads);
      }
      if (kvHeads < 0 || (kvHeads > 0 && heads % kvHeads != 0)) {
        throw new IllegalArgumentException(
            "heads " + heads + " must be a multiple of kv heads " + kvHeads);
      }
      if (keySize < 0 || valueSize < 0) {
        throw new IllegalArgumentException(
            "key and value sizes must be > 0, got " + keySize + " and " + valueSize);
      }
      if (attentionWeights == null) {
        throw new IllegalArgumentException(
            "attention weights must be NONE, AVERAGED or PER_HEAD, got null");
      }
      return new MultiHeadAttentionBlock(this);
    }
  }
}
