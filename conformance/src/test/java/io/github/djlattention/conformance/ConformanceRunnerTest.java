package io.github.djlattention.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The runner with several project implementations, implementations that do not apply, and the
 * console table's error column.
 */
class ConformanceRunnerTest {

  /** One case whose oracle says {@code y = [1, 2, 3]}. */
  private record Case(String name) implements ConformanceCase {
    @Override
    public String group() {
      return "g";
    }

    @Override
    public String dataType() {
      return "float32";
    }

    @Override
    public CaseOutputs expected(NDManager manager) {
      return CaseOutputs.of(Map.of("y", manager.create(new float[] {1, 2, 3})));
    }
  }

  /** Returns fixed values, throws, or declines the case. */
  private record Fixed(String name, float[] values, String notApplicable)
      implements Implementation<Case> {
    @Override
    public CaseOutputs run(Case testCase, NDManager manager) {
      if (values == null) {
        throw new IllegalStateException("boom");
      }
      return CaseOutputs.of(Map.of("y", manager.create(values)));
    }

    @Override
    public Optional<String> notApplicable(Case testCase) {
      return Optional.ofNullable(notApplicable);
    }
  }

  private static final Fixed GOOD = new Fixed("good", new float[] {1, 2, 3}, null);
  private static final Fixed OFF = new Fixed("off", new float[] {1, 2, 3.5f}, null);
  private static final Fixed THROWS = new Fixed("throws", null, null);
  private static final Fixed ABSENT = new Fixed("absent", new float[] {9, 9, 9}, "cannot");

  private record Suite(
      Implementation<Case> project,
      List<Implementation<Case>> alsoProject,
      List<Implementation<Case>> others)
      implements ConformanceSuite<Case> {
    @Override
    public String name() {
      return "fake";
    }

    @Override
    public String oracleName() {
      return "oracle";
    }

    @Override
    public List<Case> cases() {
      return List.of(new Case("c1"));
    }
  }

  private static SuiteResult run(Suite suite) {
    try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      return new ConformanceRunner(manager).run(suite);
    }
  }

  @Test
  void anImplementationThatDoesNotApplyIsLeftOut() {
    SuiteResult result = run(new Suite(GOOD, List.of(ABSENT), List.of(OFF, THROWS)));
    CaseResult c = result.cases().get(0);
    assertEquals(
        List.of("good", "off", "throws"),
        c.all().stream().map(ImplementationResult::implementation).toList());
    assertEquals(Verdict.Kind.OTHER_DEVIATES, c.verdict().kind());
    assertEquals(List.of("off", "throws"), c.verdict().deviating());
    assertEquals(0, result.ran("absent"));
    assertEquals(Map.of("absent", "cannot"), c.notRun());
    assertEquals(List.of("good", "absent"), result.projects());
  }

  @Test
  void everyProjectImplementationMustAgree() {
    SuiteResult projectOff = run(new Suite(GOOD, List.of(OFF), List.of()));
    assertEquals(Verdict.Kind.PROJECT_DEVIATES, projectOff.cases().get(0).verdict().kind());
    assertEquals(1, projectOff.failed());
    assertEquals("off disagrees with oracle", projectOff.cases().get(0).verdict().summary());
    SuiteResult several = run(new Suite(GOOD, List.of(OFF), List.of(THROWS)));
    assertEquals(Verdict.Kind.SEVERAL_DEVIATE, several.cases().get(0).verdict().kind());
    SuiteResult none = run(new Suite(ABSENT, List.of(), List.of(GOOD)));
    assertEquals(Verdict.Kind.SKIPPED, none.cases().get(0).verdict().kind());
  }

  @Test
  void consoleShowsTheRealWorstErrorAndDashesForErrorsAndCasesNotRun() {
    SuiteResult result = run(new Suite(GOOD, List.of(ABSENT), List.of(OFF, THROWS)));
    StringWriter text = new StringWriter();
    ConsoleReport.print(List.of(result), new PrintWriter(text));
    String all =
        text.toString().lines().filter(l -> l.startsWith("  all ")).findFirst().orElseThrow();
    List<String> cells = List.of(all.trim().split("\\s{2,}"));
    // group, cases, then ok-count and max abs per implementation: good, absent, off, throws
    assertEquals(
        List.of("all", "1", "1/1 ok", "0.0e+00", "-", "-", "0/1 ok", "5.0e-01", "0/1 ok", "-"),
        cells,
        all);
    assertFalse(text.toString().contains("-> FAIL"));
    assertTrue(text.toString().contains("FINDING  c1: off, throws disagree with oracle"));
  }
}
