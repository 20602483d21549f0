package io.github.djlattention.blocks;

import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The structure of an attention block: its kind, sizes, heads and which projections it has, which
 * together fix its parameters' names and shapes. A state dict describes one ({@link
 * StateDicts#inspect}), a built block has one ({@link AttentionBlock#getLayout()}), and the ONNX
 * exporter writes a graph from one; settings that are not parameters (causal, the weights output,
 * the key-padding mask) belong to the block.
 *
 * <p>Legend: E embedding (the query's features), Ek and Ev the key's and value's features, H query
 * heads, G key/value heads, D head size.
 *
 * <p>A {@link SelfAttentionBlock} is one head (H = G = 1, Ek = Ev = E) of any size D, without an
 * output projection, its parameters {@code W_q}, {@code W_k}, {@code W_v}; a {@link
 * MultiHeadAttentionBlock} has D = E / H and the parameters {@code q_proj}, {@code k_proj}, {@code
 * v_proj} and, if it has one, {@code out_proj}.
 *
 * @param selfAttention whether this is a {@link SelfAttentionBlock}, with the single input {@code
 *     x}
 * @param embeddingSize E
 * @param keySize Ek
 * @param valueSize Ev
 * @param heads H
 * @param kvHeads G
 * @param headSize D
 * @param bias whether every projection has a bias
 * @param outputProjection whether {@code out_proj} follows the heads
 */
public record BlockLayout(
    boolean selfAttention,
    long embeddingSize,
    long keySize,
    long valueSize,
    int heads,
    int kvHeads,
    long headSize,
    boolean bias,
    boolean outputProjection) {

  /** The output projection's parameter prefix. */
  public static final String OUTPUT_PROJECTION = "out_proj";

  /**
   * Validates the layout.
   *
   * @throws IllegalArgumentException when a size is not positive, G does not divide H, or the sizes
   *     do not fit the kind
   */
  public BlockLayout {
    if (embeddingSize <= 0 || keySize <= 0 || valueSize <= 0 || headSize <= 0) {
      throw new IllegalArgumentException(
          String.format(
              "sizes must be > 0, got E=%d, Ek=%d, Ev=%d, D=%d",
              embeddingSize, keySize, valueSize, headSize));
    }
    if (heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0) {
      throw new IllegalArgumentException(
          "heads " + heads + " must be a positive multiple of kv heads " + kvHeads);
    }
    if (selfAttention
        && (heads != 1
            || kvHeads != 1
            || keySize != embeddingSize
            || valueSize != embeddingSize
            || outputProjection)) {
      throw new IllegalArgumentException(
          String.format(
              "a SelfAttentionBlock has one head, Ek = Ev = E and no output projection; got H=%d,"
                  + " G=%d, E=%d, Ek=%d, Ev=%d, out_proj=%b",
              heads, kvHeads, embeddingSize, keySize, valueSize, outputProjection));
    }
    if (!selfAttention && heads * headSize != embeddingSize) {
      throw new IllegalArgumentException(
          "a MultiHeadAttentionBlock has D = E / H; got E="
              + embeddingSize
              + ", H="
              + heads
              + ", D="
              + headSize);
    }
  }

  /**
   * Returns the layout of a block.
   *
   * @param block a {@link SelfAttentionBlock} or a {@link MultiHeadAttentionBlock}
   * @return its layout
   * @throws IllegalArgumentException for any other block
   */
  public static BlockLayout of(Block block) {
    if (block instanceof AttentionBlock attention) {
      return attention.getLayout();
    }
    throw new IllegalArgumentException(
        (block == null ? "null" : block.getClass().getName())
            + " is not an attention block: expected a MultiHeadAttentionBlock or a"
            + " SelfAttentionBlock");
  }

  /** Returns the block's simple class name: {@code SelfAttentionBlock} or {@code MultiHead...}. */
  public String kind() {
    return selfAttention ? "SelfAttentionBlock" : "MultiHeadAttentionBlock";
  }

  /** Returns the query projection's parameter prefix: {@code W_q} or {@code q_proj}. */
  public String queryProjection() {
    return selfAttention ? "W_q" : "q_proj";
  }

  /** Returns the key projection's parameter prefix: {@code W_k} or {@code k_proj}. */
  public String keyProjection() {
    return selfAttention ? "W_k" : "k_proj";
  }

  /** Returns the value projection's parameter prefix: {@code W_v} or {@code v_proj}. */
  public String valueProjection() {
    return selfAttention ? "W_v" : "v_proj";
  }

  /** Returns the size of the output's last axis: E with an output projection, else H·D. */
  public long outputSize() {
    return outputProjection ? embeddingSize : heads * headSize;
  }

  /**
   * Returns the block's parameters, by name, with their shapes, in the order the block registers
   * them: each projection's weight (out, in), then its bias (out).
   *
   * @return the shapes by parameter name
   */
  public Map<String, Shape> parameterShapes() {
    Map<String, Shape> shapes = new LinkedHashMap<>();
    add(shapes, queryProjection(), heads * headSize, embeddingSize);
    add(shapes, keyProjection(), kvHeads * headSize, keySize);
    add(shapes, valueProjection(), kvHeads * headSize, valueSize);
    if (outputProjection) {
      add(shapes, OUTPUT_PROJECTION, embeddingSize, heads * headSize);
    }
    return shapes;
  }

  private void add(Map<String, Shape> shapes, String prefix, long out, long in) {
    shapes.put(prefix + ".weight", new Shape(out, in));
    if (bias) {
      shapes.put(prefix + ".bias", new Shape(out));
    }
  }

  /**
   * Builds a block of this layout, without a key-padding mask input (for one, use the block's
   * builder). The block is not initialized.
   *
   * @param causal whether query i sees only keys j ≤ i
   * @param weights which attention weights follow the output
   * @return a {@link SelfAttentionBlock} or a {@link MultiHeadAttentionBlock}
   */
  public AttentionBlock newBlock(boolean causal, AttentionWeights weights) {
    if (selfAttention) {
      return SelfAttentionBlock.builder()
          .setEmbeddingSize(embeddingSize)
          .optHeadSize(headSize)
          .optBias(bias)
          .optCausal(causal)
          .optAttentionWeights(weights)
          .build();
    }
    return MultiHeadAttentionBlock.builder()
        .setEmbeddingSize(embeddingSize)
        .setHeads(heads)
        .optKvHeads(kvHeads)
        .optKeySize(keySize)
        .optValueSize(valueSize)
        .optBias(bias)
        .optOutputProjection(outputProjection)
        .optCausal(causal)
        .optAttentionWeights(weights)
        .build();
  }

  @Override
  public String toString() {
    return String.format(
        "%s(E=%d, Ek=%d, Ev=%d, H=%d, G=%d, D=%d, bias=%b, out_proj=%b)",
        kind(),
        embeddingSize,
        keySize,
        valueSize,
        heads,
        kvHeads,
        headSize,
        bias,
        outputProjection);
  }
}
