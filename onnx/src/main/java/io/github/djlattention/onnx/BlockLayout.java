package io.github.djlattention.onnx;

import ai.djl.nn.Block;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.blocks.SelfAttentionBlock;

/**
 * What the exporter needs to know about a block, for either kind: a {@link SelfAttentionBlock} is
 * one head (H = G = 1) over a single input {@code x}, without an output projection.
 *
 * @param kind the block's simple class name, written to the model's metadata
 * @param selfAttention whether the graph has the single input {@code x}
 * @param querySize E, the query's features
 * @param keySize the key's features
 * @param valueSize the value's features
 * @param heads H
 * @param kvHeads G
 * @param headSize D
 * @param bias whether the projections carry biases
 * @param outputProjection whether {@code out_proj} follows the heads
 * @param causal whether query i sees only keys j ≤ i
 * @param weights which attention weights the block returns
 * @param query the query projection's parameter prefix
 * @param key the key projection's parameter prefix
 * @param value the value projection's parameter prefix
 */
record BlockLayout(
    String kind,
    boolean selfAttention,
    long querySize,
    long keySize,
    long valueSize,
    int heads,
    int kvHeads,
    long headSize,
    boolean bias,
    boolean outputProjection,
    boolean causal,
    AttentionWeights weights,
    String query,
    String key,
    String value) {

  /** The output projection's parameter prefix. */
  static final String OUT = "out_proj";

  /** The size of the last output axis. */
  long outputSize() {
    return outputProjection ? querySize : heads * headSize;
  }

  /**
   * Describes a block.
   *
   * @throws IllegalArgumentException for blocks other than the two attention blocks
   */
  static BlockLayout of(Block block) {
    if (block instanceof MultiHeadAttentionBlock) {
      MultiHeadAttentionBlock mha = (MultiHeadAttentionBlock) block;
      return new BlockLayout(
          "MultiHeadAttentionBlock",
          false,
          mha.getEmbeddingSize(),
          mha.getKeySize(),
          mha.getValueSize(),
          mha.getHeads(),
          mha.getKvHeads(),
          mha.getHeadSize(),
          mha.isIncludeBias(),
          mha.isIncludeOutputProjection(),
          mha.isCausal(),
          mha.getAttentionWeights(),
          "q_proj",
          "k_proj",
          "v_proj");
    }
    if (block instanceof SelfAttentionBlock) {
      SelfAttentionBlock self = (SelfAttentionBlock) block;
      return new BlockLayout(
          "SelfAttentionBlock",
          true,
          self.getEmbeddingSize(),
          self.getEmbeddingSize(),
          self.getEmbeddingSize(),
          1,
          1,
          self.getHeadSize(),
          self.isIncludeBias(),
          false,
          self.isCausal(),
          self.getAttentionWeights(),
          "W_q",
          "W_k",
          "W_v");
    }
    throw new IllegalArgumentException(
        "cannot export "
            + (block == null ? "null" : block.getClass().getName())
            + ": only MultiHeadAttentionBlock and SelfAttentionBlock are supported");
  }
}
