package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;

/**
 * The output of {@link Attention#attention}: the weighted sum of the values and, when requested,
 * the attention weights.
 *
 * <p>Both arrays belong to the manager of the query passed to {@code attention}.
 *
 * @param output the attention output, shaped like the query with the value head size: (S, Dv), (B,
 *     S, Dv) or (B, H, S, Dv)
 * @param weights the softmax weights, shaped like the scores: (S, T), (B, S, T) or (B, H, S, T);
 *     {@code null} when {@link AttentionOptions#returnWeights()} is false
 */
public record AttentionResult(NDArray output, NDArray weights) {

  /**
   * Returns the attention weights.
   *
   * @return the weights
   * @throws IllegalStateException when the weights were not requested
   */
  @Override
  public NDArray weights() {
    if (weights == null) {
      throw new IllegalStateException(
          "attention weights were not computed: build the options with optReturnWeights(true)");
    }
    return weights;
  }

  /** Returns whether the weights were computed. */
  public boolean hasWeights() {
    return weights != null;
  }
}
