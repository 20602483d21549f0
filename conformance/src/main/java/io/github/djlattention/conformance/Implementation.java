package io.github.djlattention.conformance;

import ai.djl.ndarray.NDManager;

/**
 * Something that computes a case's outputs, such as the project's DJL attention or ONNX Runtime.
 *
 * @param <C> the case type it understands
 */
public interface Implementation<C extends ConformanceCase> {

  /**
   * A short name used in reports, e.g. {@code djl}.
   *
   * @return the name
   */
  String name();

  /**
   * Computes every output the case expects.
   *
   * @param testCase the case
   * @param manager owns the returned arrays
   * @return the outputs by name
   * @throws RuntimeException when the implementation cannot run the case; the runner records the
   *     message as that implementation's error
   */
  CaseOutputs run(C testCase, NDManager manager);

  /**
   * Why this implementation cannot express a case, e.g. a softcap the exported graph has no
   * attribute for; the runner then leaves it out of that case (shown as not run, neither agreeing
   * nor disagreeing).
   *
   * @param testCase the case
   * @return the reason, empty when the implementation runs the case
   */
  default java.util.Optional<String> notApplicable(C testCase) {
    return java.util.Optional.empty();
  }
}
