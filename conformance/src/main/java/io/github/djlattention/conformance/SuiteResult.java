package io.github.djlattention.conformance;

import java.util.List;

/**
 * The outcome of one suite.
 *
 * @param name the suite's name
 * @param oracle the oracle's name
 * @param projects the project implementations' names, the main one first
 * @param others the other implementations' names
 * @param cases one result per case, in suite order
 */
public record SuiteResult(
    String name,
    String oracle,
    List<String> projects,
    List<String> others,
    List<CaseResult> cases) {

  /**
   * Copies the lists.
   *
   * @throws IllegalArgumentException if an argument is null or there is no project implementation
   */
  public SuiteResult {
    if (name == null || oracle == null || projects == null || projects.isEmpty()) {
      throw new IllegalArgumentException("suite result fields must not be null or empty");
    }
    projects = List.copyOf(projects);
    others = List.copyOf(others);
    cases = List.copyOf(cases);
  }

  /**
   * The main project implementation's name.
   *
   * @return the first of {@link #projects}
   */
  public String project() {
    return projects.get(0);
  }

  /**
   * Every implementation's name, the project's first.
   *
   * @return project and other implementation names
   */
  public List<String> implementations() {
    return java.util.stream.Stream.concat(projects.stream(), others.stream()).toList();
  }

  /**
   * Cases that one implementation ran (it was applicable and the case was selected).
   *
   * @param implementation an implementation's name
   * @return the count
   */
  public int ran(String implementation) {
    return (int)
        cases.stream()
            .flatMap(c -> c.all().stream())
            .filter(r -> r.implementation().equals(implementation))
            .count();
  }

  /**
   * Cases the project passes.
   *
   * @return the count
   */
  public int passed() {
    return (int) cases.stream().filter(c -> c.verdict().projectPasses()).count();
  }

  /**
   * Cases that were skipped.
   *
   * @return the count
   */
  public int skipped() {
    return (int) cases.stream().filter(c -> c.verdict().kind() == Verdict.Kind.SKIPPED).count();
  }

  /**
   * Cases the project fails.
   *
   * @return the count
   */
  public int failed() {
    return total() - passed() - skipped();
  }

  /**
   * All cases.
   *
   * @return the count
   */
  public int total() {
    return cases.size();
  }

  /**
   * Cases on which one implementation agrees with the oracle.
   *
   * @param implementation an implementation's name
   * @return the count
   */
  public int agreeing(String implementation) {
    return (int)
        cases.stream()
            .flatMap(c -> c.all().stream())
            .filter(r -> r.implementation().equals(implementation) && r.agrees())
            .count();
  }
}
