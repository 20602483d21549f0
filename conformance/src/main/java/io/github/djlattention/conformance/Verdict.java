package io.github.djlattention.conformance;

import java.util.List;

/**
 * The three-way verdict for one case: oracle, project, and the other implementations.
 *
 * @param kind the outcome
 * @param deviating names of the implementations that disagree with the oracle
 * @param summary one readable line, e.g. {@code onnxruntime disagrees with onnx-reference}
 */
public record Verdict(Kind kind, List<String> deviating, String summary) {

  /** The possible outcomes. */
  public enum Kind {
    /** Every implementation agrees with the oracle. */
    ALL_AGREE,
    /** The project agrees with the oracle; at least one other implementation does not. */
    OTHER_DEVIATES,
    /** A project implementation disagrees with the oracle; every other implementation agrees. */
    PROJECT_DEVIATES,
    /** A project implementation and at least one other disagree with the oracle. */
    SEVERAL_DEVIATE,
    /** The case was not run. */
    SKIPPED
  }

  /**
   * Copies the name list.
   *
   * @throws IllegalArgumentException if an argument is null
   */
  public Verdict {
    if (kind == null || deviating == null || summary == null) {
      throw new IllegalArgumentException("verdict fields must not be null");
    }
    deviating = List.copyOf(deviating);
  }

  /**
   * Whether the project passes this case (the other implementations do not matter).
   *
   * @return true for {@link Kind#ALL_AGREE} and {@link Kind#OTHER_DEVIATES}
   */
  public boolean projectPasses() {
    return kind == Kind.ALL_AGREE || kind == Kind.OTHER_DEVIATES;
  }

  /**
   * Decides the verdict from the implementations' results.
   *
   * @param oracle the oracle's name
   * @param project the project's result
   * @param others the other implementations' results
   * @return the verdict
   */
  public static Verdict of(
      String oracle, ImplementationResult project, List<ImplementationResult> others) {
    return of(oracle, List.of(project), others);
  }

  /**
   * Decides the verdict when several implementations belong to the project (e.g. the functional API
   * and the block): the project passes only when all of them agree with the oracle.
   *
   * @param oracle the oracle's name
   * @param projects the project implementations' results; empty makes the case skipped
   * @param others the other implementations' results
   * @return the verdict
   */
  public static Verdict of(
      String oracle, List<ImplementationResult> projects, List<ImplementationResult> others) {
    if (projects.isEmpty()) {
      return skipped("no project implementation runs this case");
    }
    List<String> deviating =
        java.util.stream.Stream.concat(projects.stream(), others.stream())
            .filter(r -> !r.agrees())
            .map(ImplementationResult::implementation)
            .toList();
    boolean projectAgrees = projects.stream().allMatch(ImplementationResult::agrees);
    boolean othersAgree = others.stream().allMatch(ImplementationResult::agrees);
    Kind kind;
    if (deviating.isEmpty()) {
      kind = Kind.ALL_AGREE;
    } else if (projectAgrees) {
      kind = Kind.OTHER_DEVIATES;
    } else if (othersAgree) {
      kind = Kind.PROJECT_DEVIATES;
    } else {
      kind = Kind.SEVERAL_DEVIATE;
    }
    String summary =
        deviating.isEmpty()
            ? "all agree with " + oracle
            : String.join(", ", deviating)
                + (deviating.size() == 1 ? " disagrees" : " disagree")
                + " with "
                + oracle;
    return new Verdict(kind, deviating, summary);
  }

  /**
   * The verdict of a case that was not run.
   *
   * @param reason why
   * @return a skipped verdict
   */
  public static Verdict skipped(String reason) {
    return new Verdict(Kind.SKIPPED, List.of(), "skipped: " + reason);
  }
}
