package io.github.djlattention.conformance;

import java.util.List;

/**
 * A suite whose name, oracle, cases and implementations are fixed when it is made: the plumbing the
 * project's suites share.
 *
 * @param <C> the case type
 */
abstract class ListedSuite<C extends ConformanceCase> implements ConformanceSuite<C> {

  private final String name;
  private final String oracleName;
  private final List<C> cases;
  private final Implementation<C> project;
  private final List<Implementation<C>> alsoProject;
  private final List<Implementation<C>> others;

  ListedSuite(
      String name,
      String oracleName,
      List<C> cases,
      Implementation<C> project,
      List<Implementation<C>> alsoProject,
      List<Implementation<C>> others) {
    this.name = name;
    this.oracleName = oracleName;
    this.cases = List.copyOf(cases);
    this.project = project;
    this.alsoProject = List.copyOf(alsoProject);
    this.others = List.copyOf(others);
  }

  @Override
  public final String name() {
    return name;
  }

  @Override
  public final String oracleName() {
    return oracleName;
  }

  @Override
  public final List<C> cases() {
    return cases;
  }

  @Override
  public final Implementation<C> project() {
    return project;
  }

  @Override
  public final List<Implementation<C>> alsoProject() {
    return alsoProject;
  }

  @Override
  public final List<Implementation<C>> others() {
    return others;
  }
}
