package io.github.djlattention.onnx.inspect;

/**
 * How a written-out attention masks its scores, or what mask a fused operator takes. {@link
 * #source} says where the mask comes from, e.g. {@code attention_mask -> Unsqueeze -> Cast -> Sub
 * -> Mul}.
 */
public sealed interface SiteMask {

  /**
   * The tensor that carries the mask.
   *
   * @return its name
   */
  String tensor();

  /**
   * Where the mask comes from: the graph inputs it is computed from and the operators on the way,
   * or {@code constant}.
   *
   * @return a readable line
   */
  String source();

  /**
   * Whether the mask hides later keys from earlier queries (it is built from a lower-triangular
   * constant, {@code Trilu}, or positions compared through {@code Range}).
   *
   * @return true for a causal mask
   */
  boolean causal();

  /**
   * A float mask added to the scores: {@code scores + tensor}.
   *
   * @param tensor the added tensor, broadcast against (B, H, S, T)
   * @param source where it comes from
   * @param causal whether it is causal
   */
  record Additive(String tensor, String source, boolean causal) implements SiteMask {}

  /**
   * A select: {@code Where(condition, scores, fill)} when {@code keepWhere} is true, else {@code
   * Where(condition, fill, scores)}; the fill is usually −∞ or the float minimum.
   *
   * @param tensor the condition, broadcast against (B, H, S, T)
   * @param fill the tensor that replaces hidden scores
   * @param keepWhere whether the scores are kept where the condition is true
   * @param source where the condition comes from
   * @param causal whether it is causal
   */
  record Select(String tensor, String fill, boolean keepWhere, String source, boolean causal)
      implements SiteMask {}

  /**
   * A mask input of a fused operator, in that operator's own format (a boolean or additive {@code
   * attn_mask}, a {@code key_padding_mask}, a {@code mask_index}, an {@code attention_bias}, {@code
   * seqlens_k}).
   *
   * @param tensor the input
   * @param role the operator's name for the input, e.g. {@code key_padding_mask}
   * @param source where it comes from
   * @param causal whether it is causal
   */
  record OperatorInput(String tensor, String role, String source, boolean causal)
      implements SiteMask {}
}
