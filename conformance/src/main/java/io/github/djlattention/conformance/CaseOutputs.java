package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * What one implementation (or the oracle) produced for one case.
 *
 * @param outputs named outputs, compared with the oracle's by name
 * @param weights the attention weights (probabilities after softmax), shown as a heatmap; empty
 *     when the implementation cannot expose them
 */
public record CaseOutputs(Map<String, NDArray> outputs, Optional<NDArray> weights) {

  /**
   * Copies the map so later changes by the caller do not leak in.
   *
   * @throws IllegalArgumentException if an argument is null
   */
  public CaseOutputs {
    if (outputs == null || weights == null) {
      throw new IllegalArgumentException("outputs and weights must not be null");
    }
    outputs = new LinkedHashMap<>(outputs);
  }

  /**
   * Outputs without attention weights.
   *
   * @param outputs named outputs
   * @return the case outputs
   */
  public static CaseOutputs of(Map<String, NDArray> outputs) {
    return new CaseOutputs(outputs, Optional.empty());
  }
}
