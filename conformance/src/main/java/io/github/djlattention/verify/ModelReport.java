package io.github.djlattention.verify;

import java.util.List;

/**
 * The outcome of {@link ModelVerifier#verify}: one result per attention site.
 *
 * @param model the model file
 * @param producer the model's producer and opsets, e.g. {@code pytorch 2.0.1, IR 6, opset 11}
 * @param inputs how the inputs were made, with their shapes and types
 * @param runtime ONNX Runtime's version and device
 * @param tapEffect the largest difference between the model's own outputs in the tapped run and in
 *     a run of the unmodified model (0 when exposing the tensors changed nothing)
 * @param sites the sites, in graph order
 * @param seconds the wall time of the whole verification
 * @param cases the folders of the backend-test cases written for sites ({@code --write-case})
 */
public record ModelReport(
    String model,
    String producer,
    String inputs,
    String runtime,
    double tapEffect,
    List<SiteResult> sites,
    double seconds,
    List<String> cases) {

  /** Copies the lists. */
  public ModelReport {
    sites = List.copyOf(sites);
    cases = List.copyOf(cases);
  }

  /**
   * Whether every site agrees (and at least one was recomputed).
   *
   * @return true when no site deviates or was left unverified
   */
  public boolean allAgree() {
    return !sites.isEmpty() && sites.stream().allMatch(s -> s.verdict().agrees());
  }

  /**
   * The sites on which someone deviates from the reference.
   *
   * @return those sites
   */
  public List<SiteResult> deviating() {
    return sites.stream()
        .filter(s -> !s.verdict().agrees() && s.verdict().kind() != SiteVerdict.Kind.NOT_VERIFIED)
        .toList();
  }
}
