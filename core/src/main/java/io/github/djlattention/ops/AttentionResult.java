package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;

/**
 * The output of {@link Attention#attention}: the weighted sum of the values and, when requested,
 * the attention weights, the KV cache after appending, and an intermediate of the computation.
 *
 * <p>All arrays belong to the manager of the query passed to {@code attention}.
 *
 * @param output the attention output, shaped like the query with the value head size: (S, Dv), (B,
 *     S, Dv) or (B, H, S, Dv)
 * @param weights the softmax weights, shaped like the scores: (S, T), (B, S, T) or (B, H, S, T);
 *     {@code null} when {@link AttentionOptions#returnWeights()} is false
 * @param presentKey the past keys followed by the new keys, (…, P + T', D); {@code null} without a
 *     KV cache
 * @param presentValue the past values followed by the new values, (…, P + T', Dv); {@code null}
 *     without a KV cache
 * @param scores the intermediate chosen by {@link AttentionOptions#scoresOutput()}, shaped like the
 *     weights; {@code null} when none was chosen
 */
public record AttentionResult(
    NDArray output, NDArray weights, NDArray presentKey, NDArray presentValue, NDArray scores) {

  /**
   * A result without KV cache and scores.
   *
   * @param output the attention output
   * @param weights the weights, or {@code null}
   */
  public AttentionResult(NDArray output, NDArray weights) {
    this(output, weights, null, null, null);
  }

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

  /**
   * Returns the KV cache's keys after appending the new keys.
   *
   * @return the present keys
   * @throws IllegalStateException when no KV cache was given
   */
  @Override
  public NDArray presentKey() {
    if (presentKey == null) {
      throw new IllegalStateException("no KV cache: build the options with optKvCache(...)");
    }
    return presentKey;
  }

  /**
   * Returns the KV cache's values after appending the new values.
   *
   * @return the present values
   * @throws IllegalStateException when no KV cache was given
   */
  @Override
  public NDArray presentValue() {
    if (presentValue == null) {
      throw new IllegalStateException("no KV cache: build the options with optKvCache(...)");
    }
    return presentValue;
  }

  /**
   * Returns the intermediate chosen with {@link AttentionOptions.Builder#optScoresOutput}.
   *
   * @return the scores
   * @throws IllegalStateException when none was chosen
   */
  @Override
  public NDArray scores() {
    if (scores == null) {
      throw new IllegalStateException(
          "no scores output: build the options with optScoresOutput(...)");
    }
    return scores;
  }
}
