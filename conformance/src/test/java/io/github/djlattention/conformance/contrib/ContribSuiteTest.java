package io.github.djlattention.conformance.contrib;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.compare.Tolerances;
import io.github.djlattention.conformance.CaseResult;
import io.github.djlattention.conformance.ConformanceRunner;
import io.github.djlattention.conformance.ImplementationResult;
import io.github.djlattention.conformance.SuiteResult;
import io.github.djlattention.conformance.Verdict;
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
 * Runs the {@code contrib} suite: the project's adapters (with and without weights) must agree with
 * the float64 reference on every case, and ONNX Runtime must deviate on exactly the recorded
 * findings.
 */
class ContribSuiteTest {

  static final Path DEVIATIONS =
      Path.of("conformance/src/test/resources/conformance/onnxruntime-1.26-contrib-deviations.txt");

  private static NDManager manager;
  private static SuiteResult result;

  @BeforeAll
  static void runSuite() {
    manager = NDManager.newBaseManager(Device.cpu());
    result =
        new ConformanceRunner(manager).run(ContribSuite.standard(Device.cpu(), OrtDevice.CPU, 1));
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
                      assertEquals(
                          Set.of(DjlContribImplementation.NAME, DjlContribImplementation.FAST_NAME),
                          c.all().stream()
                              .map(ImplementationResult::implementation)
                              .filter(n -> n.startsWith("djl"))
                              .collect(Collectors.toSet()),
                          c.name());
                    }));
  }

  @Test
  void runsEveryCaseOfEachOperator() {
    assertEquals(ContribCases.standard().size(), result.total());
    assertEquals(0, result.skipped());
    assertEquals(result.total(), result.passed());
    Map<String, Long> perOperator =
        ContribCases.standard().stream()
            .collect(Collectors.groupingBy(c -> c.node().opType(), Collectors.counting()));
    assertTrue(perOperator.get("MultiHeadAttention") >= 20, perOperator.toString());
    assertTrue(perOperator.get("GroupQueryAttention") >= 25, perOperator.toString());
    assertTrue(perOperator.get("Attention") >= 15, perOperator.toString());
  }

  @Test
  void coversTheOperatorsFeatures() {
    Set<String> inputs =
        ContribCases.standard().stream()
            .flatMap(c -> c.inputs().keySet().stream().map(i -> c.node().opType() + "." + i))
            .collect(Collectors.toSet());
    for (String input :
        List.of(
            "MultiHeadAttention.bias",
            "MultiHeadAttention.key_padding_mask",
            "MultiHeadAttention.attention_bias",
            "MultiHeadAttention.past_key",
            "MultiHeadAttention.past_sequence_length",
            "GroupQueryAttention.past_key",
            "GroupQueryAttention.cos_cache",
            "GroupQueryAttention.attention_bias",
            "Attention.mask_index",
            "Attention.past",
            "Attention.attention_bias",
            "Attention.past_sequence_length")) {
      assertTrue(inputs.contains(input), input);
    }
    Set<String> groups =
        ContribCases.standard().stream().map(ContribCase::group).collect(Collectors.toSet());
    for (String group :
        List.of(
            "mha layouts",
            "mha fully masked",
            "mha causal",
            "gqa window",
            "gqa rotary",
            "gqa bidirectional",
            "gqa softcap and bias",
            "attention masks",
            "attention cache")) {
      assertTrue(groups.contains(group), group);
    }
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
    TreeSet<String> deviating = new TreeSet<>();
    TreeSet<String> notRun = new TreeSet<>();
    for (CaseResult c : result.cases()) {
      if (!c.verdict().deviating().isEmpty()) {
        assertEquals(Verdict.Kind.OTHER_DEVIATES, c.verdict().kind(), c.name());
        assertEquals(List.of(OrtContribImplementation.NAME), c.verdict().deviating(), c.name());
        deviating.add(c.name());
      }
      String reason = c.notRun().get(OrtContribImplementation.NAME);
      if (reason != null) {
        assertEquals(OrtContribImplementation.CRASH_REASON, reason, c.name());
        notRun.add(c.name());
      }
    }
    TreeSet<String> recordedNotRun =
        recorded.entrySet().stream()
            .filter(e -> e.getValue().startsWith("not run"))
            .map(Map.Entry::getKey)
            .collect(Collectors.toCollection(TreeSet::new));
    TreeSet<String> recordedDeviating = new TreeSet<>(recorded.keySet());
    recordedDeviating.removeAll(recordedNotRun);
    assertEquals(recordedDeviating, deviating);
    assertEquals(recordedNotRun, notRun);
    // ONNX Runtime agrees on most of what it runs: the findings are about specific features
    int ran = result.ran(OrtContribImplementation.NAME);
    assertEquals(result.total() - notRun.size(), ran);
    assertEquals(ran - deviating.size(), result.agreeing(OrtContribImplementation.NAME));
  }

  @Test
  void fillValueRoundingIsTheOnlyWiderTolerance() {
    for (ContribCase c : ContribCases.standard()) {
      boolean fullyMaskedByDefaultFill = c.name().endsWith("fully_masked_default");
      assertEquals(
          fullyMaskedByDefaultFill ? ContribCases.FILL_ROUNDING : Tolerances.FLOAT32,
          c.tolerance(),
          c.name());
    }
    // the project stays well inside float32's tolerance elsewhere
    for (CaseResult c : result.cases()) {
      if (!c.name().endsWith("fully_masked_default")) {
        assertTrue(
            c.project().maxAbsError() < 1e-6, () -> c.name() + " " + c.project().maxAbsError());
      }
    }
  }

  @Test
  void heatmapsShowTheOracleAndTheProject() {
    CaseResult c = find("gqa_window_2");
    List<String> titles = c.heatmaps().stream().map(h -> h.title()).toList();
    assertTrue(titles.contains(ContribSuite.ORACLE), titles.toString());
    assertTrue(titles.contains(DjlContribImplementation.NAME), titles.toString());
    assertFalse(c.heatmaps().get(0).rows() == 0);
  }

  private static String explain(CaseResult c) {
    return c.verdict().summary()
        + c.all().stream()
            .filter(r -> !r.agrees())
            .map(r -> "; " + r.implementation() + ": " + r.explanation())
            .collect(Collectors.joining());
  }

  private static CaseResult find(String name) {
    return result.cases().stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
  }
}
