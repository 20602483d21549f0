package io.github.djlattention.blocks;

/**
 * Which attention weights a block returns as its second output, after the attention output.
 *
 * <p>Legend: B batch, H query heads, S query length, T key/value length.
 *
 * <p>Asking for weights has a cost: the softmax weights must then be materialized, so the block
 * takes the step-by-step chain instead of the fused kernels, which hold no (B, H, S, T) array. Both
 * blocks therefore return none unless asked.
 */
public enum AttentionWeights {
  /** No second output (the default): the block takes the fast path. */
  NONE,
  /**
   * The weights averaged over the heads, (B, S, T), as {@code torch.nn.MultiheadAttention} returns
   * them with {@code need_weights=True}; for the single-head {@link SelfAttentionBlock}, its
   * weights (B, S, S).
   */
  AVERAGED,
  /**
   * The weights of every head, (B, H, S, T), as {@code torch.nn.MultiheadAttention} returns them
   * with {@code average_attn_weights=False}; (B, 1, S, S) for the {@link SelfAttentionBlock}.
   */
  PER_HEAD
}
