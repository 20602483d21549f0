package io.github.djlattention.blocks;

import ai.djl.nn.Block;

/**
 * What the project's two attention blocks have in common: the settings that are not parameters.
 * Accessors follow DJL's style ({@code getX()}, {@code isX()}); the builders take {@code setX} for
 * required settings and {@code optX} for optional ones.
 */
public sealed interface AttentionBlock extends Block
    permits SelfAttentionBlock, MultiHeadAttentionBlock {

  /** Returns the block's structure: kind, sizes, heads, projections, and so its parameters. */
  BlockLayout getLayout();

  /**
   * Returns which attention weights follow the output ({@link AttentionWeights#NONE} unless the
   * builder asked for them).
   */
  AttentionWeights getAttentionWeights();

  /** Returns whether query i sees only keys j ≤ i. */
  boolean isCausal();

  /** Returns whether the projections carry biases. */
  boolean isIncludeBias();

  /**
   * Returns whether the block's last input is a key-padding mask (B, T), as built with {@code
   * optKeyPaddingMask(true)}.
   */
  boolean isIncludeKeyPaddingMask();
}
