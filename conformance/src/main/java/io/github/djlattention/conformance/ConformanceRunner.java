package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

/** Runs a suite: every implementation on every case, compared output by output with the oracle. */
public final class ConformanceRunner {

  private final NDManager manager;
  private final ProgressListener progress;
  private final Predicate<String> caseFilter;

  /**
   * Creates a runner.
   *
   * @param manager parent manager; each case runs in its own sub-manager, closed afterwards
   * @param progress told after each case
   * @param caseFilter selects cases by name; others are skipped
   */
  public ConformanceRunner(
      NDManager manager, ProgressListener progress, Predicate<String> caseFilter) {
    this.manager = manager;
    this.progress = progress;
    this.caseFilter = caseFilter;
  }

  /**
   * Creates a runner over all cases without progress output.
   *
   * @param manager parent manager
   */
  public ConformanceRunner(NDManager manager) {
    this(manager, ProgressListener.NONE, name -> true);
  }

  /**
   * Runs one suite.
   *
   * @param suite the suite
   * @param <C> its case type
   * @return the results
   */
  public <C extends ConformanceCase> SuiteResult run(ConformanceSuite<C> suite) {
    List<C> cases = suite.cases();
    List<CaseResult> results = new ArrayList<>();
    for (C testCase : cases) {
      CaseResult result =
          caseFilter.test(testCase.name())
              ? runCase(suite, testCase)
              : new CaseResult(
                  testCase.name(),
                  testCase.group(),
                  testCase.dataType(),
                  null,
                  List.of(),
                  Verdict.skipped("not selected"),
                  List.of(),
                  Map.of());
      results.add(result);
      progress.caseFinished(suite.name(), results.size(), cases.size(), result);
    }
    return new SuiteResult(
        suite.name(),
        suite.oracleName(),
        projects(suite).stream().map(Implementation::name).toList(),
        suite.others().stream().map(Implementation::name).toList(),
        results);
  }

  private static <C extends ConformanceCase> List<Implementation<C>> projects(
      ConformanceSuite<C> suite) {
    List<Implementation<C>> projects = new ArrayList<>();
    projects.add(suite.project());
    projects.addAll(suite.alsoProject());
    return projects;
  }

  private <C extends ConformanceCase> CaseResult runCase(ConformanceSuite<C> suite, C testCase) {
    try (NDManager caseManager = manager.newSubManager()) {
      CaseOutputs expected = testCase.expected(caseManager);
      List<Heatmap> heatmaps = new ArrayList<>();
      expected.weights().ifPresent(w -> heatmaps.add(Heatmap.firstSlice(suite.oracleName(), w)));
      Map<String, String> notRun = new LinkedHashMap<>();
      List<ImplementationResult> projects =
          runAll(projects(suite), testCase, expected, caseManager, heatmaps, notRun);
      List<ImplementationResult> others =
          runAll(suite.others(), testCase, expected, caseManager, heatmaps, notRun);
      addDifferences(projects, heatmaps);
      List<ImplementationResult> rest = new ArrayList<>();
      if (projects.size() > 1) {
        rest.addAll(projects.subList(1, projects.size()));
      }
      rest.addAll(others);
      return new CaseResult(
          testCase.name(),
          testCase.group(),
          testCase.dataType(),
          projects.isEmpty() ? null : projects.get(0),
          rest,
          Verdict.of(suite.oracleName(), projects, others),
          heatmaps,
          notRun);
    }
  }

  /** Runs each implementation that applies to the case; records why the others do not. */
  private static <C extends ConformanceCase> List<ImplementationResult> runAll(
      List<Implementation<C>> implementations,
      C testCase,
      CaseOutputs expected,
      NDManager caseManager,
      List<Heatmap> heatmaps,
      Map<String, String> notRun) {
    List<ImplementationResult> results = new ArrayList<>();
    for (Implementation<C> implementation : implementations) {
      Optional<String> reason = implementation.notApplicable(testCase);
      if (reason.isPresent()) {
        notRun.put(implementation.name(), reason.get());
      } else {
        results.add(runOne(implementation, testCase, expected, caseManager, heatmaps));
      }
    }
    return results;
  }

  private static <C extends ConformanceCase> ImplementationResult runOne(
      Implementation<C> implementation,
      C testCase,
      CaseOutputs expected,
      NDManager caseManager,
      List<Heatmap> heatmaps) {
    CaseOutputs actual;
    try {
      actual = implementation.run(testCase, caseManager);
    } catch (RuntimeException e) {
      String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      return new ImplementationResult(
          implementation.name(),
          expected.outputs().entrySet().stream()
              .map(entry -> Comparison.missing(entry.getKey(), entry.getValue(), "not computed"))
              .toList(),
          Optional.of(firstLine(message)));
    }
    List<Comparison> comparisons = new ArrayList<>();
    for (Map.Entry<String, NDArray> entry : expected.outputs().entrySet()) {
      NDArray produced = actual.outputs().get(entry.getKey());
      comparisons.add(
          produced == null
              ? Comparison.missing(entry.getKey(), entry.getValue(), "output not produced")
              : Comparison.compare(
                  entry.getKey(),
                  entry.getValue(),
                  produced,
                  testCase.tolerance(entry.getKey(), entry.getValue())));
    }
    actual.weights().ifPresent(w -> heatmaps.add(Heatmap.firstSlice(implementation.name(), w)));
    return new ImplementationResult(implementation.name(), comparisons, Optional.empty());
  }

  /**
   * Adds "project - other" maps, from the first project implementation that exposed its weights,
   * for each other map of the same size.
   */
  private static void addDifferences(List<ImplementationResult> projects, List<Heatmap> heatmaps) {
    Optional<Heatmap> projectMap =
        projects.stream()
            .flatMap(p -> heatmaps.stream().filter(h -> h.title().equals(p.implementation())))
            .findFirst();
    if (projectMap.isEmpty()) {
      return;
    }
    String project = projectMap.get().title();
    List<Heatmap> differences = new ArrayList<>();
    for (Heatmap map : heatmaps) {
      if (!map.title().equals(project)
          && map.rows() == projectMap.get().rows()
          && map.columns() == projectMap.get().columns()) {
        differences.add(projectMap.get().minus(project + " - " + map.title(), map));
      }
    }
    heatmaps.addAll(differences);
  }

  private static String firstLine(String message) {
    int newline = message.indexOf('\n');
    return newline < 0 ? message : message.substring(0, newline);
  }
}
