package io.github.djlattention.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.ort.OrtDevice;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
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
 * Runs the {@code onnx-attention} suite: the project must agree with the ONNX reference on every
 * case, so {@code mvn test} fails when conformance fails; ONNX Runtime's deviations must be exactly
 * the recorded findings.
 */
class OnnxAttentionSuiteTest {

  private static final Path DEVIATIONS =
      Path.of("conformance/src/test/resources/conformance/onnxruntime-1.26-deviations.txt");

  private static NDManager manager;
  private static SuiteResult result;

  @BeforeAll
  static void runSuite() {
    manager = NDManager.newBaseManager(Device.cpu());
    OnnxAttentionSuite suite =
        OnnxAttentionSuite.load(
            OnnxAttentionCases.DEFAULT_DIRECTORY,
            new DjlAttentionImplementation(Device.cpu()),
            List.of(DjlAttentionImplementation.fastPath(Device.cpu())),
            List.of(new OrtAttentionImplementation(OrtDevice.CPU, 1)));
    result = new ConformanceRunner(manager).run(suite);
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  @Test
  void runsAllEightySevenOperatorCases() {
    assertEquals(87, result.total());
    assertEquals(0, result.skipped());
  }

  @Test
  void fastPathAgreesOnEveryCaseItImplements() {
    String fast = DjlAttentionImplementation.FAST_NAME;
    // 87 less the cases with settings the fast path does not implement: a KV cache of past
    // arrays, scores output, a softmax precision other than the compute type (valid key counts
    // and sliding windows are on it: the decode kernel reads them)
    assertEquals(58, result.ran(fast));
    assertEquals(result.ran(fast), result.agreeing(fast));
  }

  @TestFactory
  Stream<DynamicTest> projectAgreesWithTheOnnxReference() {
    return result.cases().stream()
        .map(
            c ->
                DynamicTest.dynamicTest(
                    c.name(),
                    () ->
                        assertTrue(
                            c.project().agrees(),
                            () -> c.name() + ": " + c.project().explanation())));
  }

  @Test
  void onnxRuntimeDeviatesExactlyOnTheRecordedFindings() throws IOException {
    Map<String, String> recorded = new TreeMap<>();
    for (String line : Files.readAllLines(DEVIATIONS, StandardCharsets.UTF_8)) {
      if (!line.isBlank() && !line.startsWith("#")) {
        String[] parts = line.split("\\|", 2);
        recorded.put(parts[0].trim(), parts[1].trim());
      }
    }
    TreeSet<String> observed =
        result.cases().stream()
            .filter(c -> c.verdict().kind() == Verdict.Kind.OTHER_DEVIATES)
            .map(CaseResult::name)
            .collect(Collectors.toCollection(TreeSet::new));
    assertEquals(recorded.keySet(), observed);
    assertEquals(60, result.agreeing(OrtAttentionImplementation.NAME));
  }

  @Test
  void deviationsOfOnnxRuntimeAreFindingsNotFailures() {
    assertEquals(result.total(), result.passed());
    assertEquals(0, result.failed());
    result.cases().stream()
        .filter(c -> !c.verdict().deviating().isEmpty())
        .forEach(
            c -> {
              assertEquals(List.of(OrtAttentionImplementation.NAME), c.verdict().deviating());
              assertTrue(c.verdict().projectPasses());
            });
  }

  @Test
  void everyCaseHasTheProjectsAttentionWeightsForHeatmaps() {
    for (CaseResult c : result.cases()) {
      assertTrue(
          c.heatmaps().stream().anyMatch(h -> h.title().equals(DjlAttentionImplementation.NAME)),
          c.name());
    }
  }
}
