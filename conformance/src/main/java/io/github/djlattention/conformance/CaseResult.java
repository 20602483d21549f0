package io.github.djlattention.conformance;

import java.util.List;

/**
 * The outcome of one case.
 *
 * @param name the case name
 * @param group the case group
 * @param dataType the case's main element type
 * @param project the project's result
 * @param others the other implementations' results
 * @param verdict the three-way verdict
 * @param heatmaps attention-weight maps (each implementation's first slice and differences),
 *     possibly empty
 * @param notRun implementations that declined the case, with their reasons
 */
public record CaseResult(
    String name,
    String group,
    String dataType,
    ImplementationResult project,
    List<ImplementationResult> others,
    Verdict verdict,
    List<Heatmap> heatmaps,
    java.util.Map<String, String> notRun) {

  /**
   * Copies the lists.
   *
   * @throws IllegalArgumentException if an argument is null
   */
  public CaseResult {
    if (name == null || group == null || dataType == null || verdict == null) {
      throw new IllegalArgumentException("case result fields must not be null");
    }
    others = List.copyOf(others);
    heatmaps = List.copyOf(heatmaps);
    notRun = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(notRun));
  }

  /**
   * The project's result followed by the others'.
   *
   * @return all implementation results
   */
  public List<ImplementationResult> all() {
    return java.util.stream.Stream.concat(
            java.util.stream.Stream.ofNullable(project), others.stream())
        .toList();
  }
}
