package io.github.djlattention.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.compare.Tolerances;
import io.github.djlattention.ort.OrtDevice;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Runs the {@code generated} suite: the functional API and the block must agree with the float64
 * reference on every case they run, so {@code mvn test} fails when they do not.
 */
class GeneratedSuiteTest {

  private static final String BLOCK = BlockImplementation.NAME;
  private static final String OPSET17 = ExportedOnnxImplementation.name(17);
  private static final String OPSET23 = ExportedOnnxImplementation.name(23);

  private static final Path DEVIATIONS =
      Path.of(
          "conformance/src/test/resources/conformance/onnxruntime-1.26-generated-deviations.txt");

  private static NDManager manager;
  private static List<GeneratedCase> cases;
  private static SuiteResult result;

  @BeforeAll
  static void runSuite() {
    manager = NDManager.newBaseManager(Device.cpu());
    GeneratedSuite suite =
        GeneratedSuite.standard(GeneratedCases.DEFAULT_FILE, Device.cpu(), OrtDevice.CPU, 1);
    cases = suite.cases();
    result = new ConformanceRunner(manager).run(suite);
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  @TestFactory
  Stream<DynamicTest> projectAgreesWithTheFloat64Reference() {
    return result.cases().stream()
        .map(
            c ->
                DynamicTest.dynamicTest(
                    c.name(),
                    () -> {
                      assertTrue(c.verdict().projectPasses(), () -> c.name() + ": " + explain(c));
                      assertFalse(c.all().isEmpty());
                    }));
  }

  private static String explain(CaseResult c) {
    return c.verdict().summary()
        + c.all().stream()
            .filter(r -> !r.agrees())
            .map(r -> "; " + r.implementation() + ": " + r.explanation())
            .collect(Collectors.joining());
  }

  @Test
  void runsEveryCaseOfTheMatrix() {
    assertEquals(cases.size(), result.total());
    assertTrue(result.total() >= 40 && result.total() <= 80, "cases: " + result.total());
    assertEquals(0, result.skipped());
    assertEquals(result.total(), result.passed());
  }

  @Test
  void everyImplementationRunsTheCasesItCanExpress() {
    for (GeneratedCase c : cases) {
      CaseResult r = find(c.name());
      Set<String> ran =
          r.all().stream().map(ImplementationResult::implementation).collect(Collectors.toSet());
      boolean functional = c instanceof FunctionalCase;
      assertEquals(functional, ran.contains(FunctionalImplementation.NAME), c.name());
      boolean block = c.blockUnsupported().isEmpty();
      assertEquals(block, ran.contains(BLOCK), c.name());
      boolean exported = block && c.dataType().equals("float32");
      assertEquals(exported, ran.contains(OPSET17), c.name());
      assertEquals(exported, ran.contains(OPSET23), c.name());
      boolean operator = functional && !c.dataType().equals("float64");
      assertEquals(operator, ran.contains(OnnxOperatorImplementation.NAME), c.name());
    }
    // Each path covers a good share of the matrix.
    assertTrue(result.ran(FunctionalImplementation.NAME) >= 40);
    assertTrue(result.ran(BLOCK) >= 45);
    assertTrue(result.ran(OPSET23) >= 40);
  }

  @Test
  void coversTheSeedExampleDtypesMasksAndBlocks() {
    Set<String> groups = cases.stream().map(GeneratedCase::group).collect(Collectors.toSet());
    for (String group :
        List.of(
            "seed 3x4",
            "batch",
            "heads",
            "gqa",
            "cross-attention",
            "bool mask",
            "float mask",
            "causal",
            "scale",
            "softcap",
            "float64",
            "float16",
            "mha block",
            "self block")) {
      assertTrue(groups.contains(group), group);
    }
    Set<String> types = cases.stream().map(GeneratedCase::dataType).collect(Collectors.toSet());
    assertEquals(Set.of("float16", "float32", "float64"), types);
  }

  @Test
  void exportedGraphsAgreeAndTheBareOperatorDeviatesExactlyOnTheRecordedFindings()
      throws IOException {
    assertEquals(result.ran(OPSET17), result.agreeing(OPSET17));
    assertEquals(result.ran(OPSET23), result.agreeing(OPSET23));
    Map<String, String> recorded = new TreeMap<>();
    for (String line : Files.readAllLines(DEVIATIONS, StandardCharsets.UTF_8)) {
      if (!line.isBlank() && !line.startsWith("#")) {
        String[] parts = line.split("\\|", 2);
        recorded.put(parts[0].trim(), parts[1].trim());
      }
    }
    TreeSet<String> observed = new TreeSet<>();
    for (CaseResult c : result.cases()) {
      if (!c.verdict().deviating().isEmpty()) {
        assertEquals(Verdict.Kind.OTHER_DEVIATES, c.verdict().kind(), c.name());
        assertEquals(List.of(OnnxOperatorImplementation.NAME), c.verdict().deviating(), c.name());
        observed.add(c.name());
      }
    }
    assertEquals(recorded.keySet(), observed);
    assertTrue(result.ran(OnnxOperatorImplementation.NAME) >= 40);
  }

  @Test
  void casesTheBlocksCannotExpressSayWhy() {
    CaseResult softcap = find("softcap_2");
    assertEquals("the blocks have no softcap", softcap.notRun().get(BLOCK));
    assertEquals("the blocks have no softcap", softcap.notRun().get(OPSET23));
    assertTrue(find("f64_basic").notRun().get(OPSET17).contains("float32"));
  }

  @Test
  void toleranceFollowsTheCaseTypeNotTheFloat64Oracle() {
    CaseResult f16 = find("f16_basic");
    assertEquals(Tolerances.FLOAT16, f16.project().comparisons().get(0).tolerance());
    CaseResult f32 = find("batch2_h2_s4");
    assertEquals(Tolerances.FLOAT32, f32.project().comparisons().get(0).tolerance());
  }

  private static CaseResult find(String name) {
    return result.cases().stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
  }
}
