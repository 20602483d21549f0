package io.github.djlattention.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A deliberately broken attention must make the suite fail loudly. */
class BrokenImplementationTest {

  private static SuiteResult run(DjlAttentionImplementation.AttentionFunction broken) {
    try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      OnnxAttentionSuite suite =
          OnnxAttentionSuite.load(
              OnnxAttentionCases.DEFAULT_DIRECTORY,
              new DjlAttentionImplementation(Device.cpu(), broken),
              List.of());
      return new ConformanceRunner(manager).run(suite);
    }
  }

  private static SuiteResult runGenerated(DjlAttentionImplementation.AttentionFunction broken) {
    try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      GeneratedSuite suite =
          new GeneratedSuite(
              GeneratedCases.load(GeneratedCases.DEFAULT_FILE),
              new FunctionalImplementation(Device.cpu(), broken),
              List.of(),
              List.of());
      return new ConformanceRunner(manager).run(suite);
    }
  }

  private static final DjlAttentionImplementation.AttentionFunction DROP_SCALE =
      (q, k, v, options) ->
          Attention.attention(
              q, k, v, options.scale() != null ? options : options.toBuilder().optScale(1).build());

  private static final DjlAttentionImplementation.AttentionFunction IGNORE_MASK =
      (q, k, v, options) -> Attention.attention(q, k, v, options.toBuilder().optMask(null).build());

  private static List<String> failedCases(SuiteResult result) {
    return result.cases().stream()
        .filter(c -> !c.verdict().projectPasses())
        .map(CaseResult::name)
        .toList();
  }

  @Test
  void droppingTheScaleFailsTheGeneratedSuite() {
    SuiteResult result = runGenerated(DROP_SCALE);
    List<String> failed = failedCases(result);
    assertTrue(result.failed() > 25, "only " + result.failed() + " cases failed: " + failed);
    assertTrue(failed.contains("seed_3x4_default_scale"), failed.toString());
    assertTrue(failed.contains("f16_basic"), failed.toString());
    assertFalse(failed.contains("seed_3x4_scale1"), "scale 1 is unaffected: " + failed);
    CaseResult seed =
        result.cases().stream()
            .filter(c -> c.name().equals("seed_3x4_default_scale"))
            .findFirst()
            .orElseThrow();
    assertEquals(Verdict.Kind.PROJECT_DEVIATES, seed.verdict().kind());
    assertEquals(List.of(FunctionalImplementation.NAME), seed.verdict().deviating());
    String table = console(result);
    assertTrue(table.contains("-> FAIL"), table);
    assertTrue(
        table.contains("FAIL     seed_3x4_default_scale: djl disagrees with float64-reference"),
        table);
  }

  @Test
  void ignoringTheMaskFailsTheGeneratedMaskCases() {
    SuiteResult result = runGenerated(IGNORE_MASK);
    List<String> failed = failedCases(result);
    for (String name :
        List.of(
            "bool_mask_5",
            "bool_mask_2x2x3x5",
            "float_mask_3x5",
            "float_mask_2x1x5",
            "bool_mask_fully_masked_row",
            "f16_bool_mask")) {
      assertTrue(failed.contains(name), name + " should fail: " + failed);
    }
    assertFalse(failed.contains("batch2_h2_s4"), failed.toString());
    assertFalse(failed.contains("causal_s5_t5"), failed.toString());
    assertTrue(console(result).contains("-> FAIL"));
  }

  private static String console(SuiteResult result) {
    StringWriter text = new StringWriter();
    ConsoleReport.print(List.of(result), new PrintWriter(text));
    return text.toString();
  }

  @Test
  void droppingTheScaleFailsAlmostEveryCase() {
    // Scale 1 instead of 1/sqrt(D), unless the case sets its own scale.
    SuiteResult result =
        run(
            (q, k, v, options) ->
                Attention.attention(
                    q,
                    k,
                    v,
                    options.scale() != null ? options : options.toBuilder().optScale(1).build()));
    assertTrue(result.failed() > 60, "only " + result.failed() + " cases failed");
    CaseResult basic =
        result.cases().stream()
            .filter(c -> c.name().equals("test_attention_4d"))
            .findFirst()
            .orElseThrow();
    assertFalse(basic.verdict().projectPasses());
    assertEquals(Verdict.Kind.PROJECT_DEVIATES, basic.verdict().kind());
    assertTrue(basic.project().explanation().startsWith("Y: "), basic.project().explanation());
    String table = console(result);
    assertTrue(table.contains("-> FAIL"), table);
    assertTrue(
        table.contains("FAIL     test_attention_4d: djl disagrees with onnx-reference"), table);
  }

  @Test
  void ignoringTheMaskFailsTheMaskedCases() {
    SuiteResult result =
        run(
            (q, k, v, options) ->
                Attention.attention(q, k, v, options.toBuilder().optMask(null).build()));
    List<String> failed =
        result.cases().stream()
            .filter(c -> !c.verdict().projectPasses())
            .map(CaseResult::name)
            .toList();
    assertTrue(failed.contains("test_attention_4d_attn_mask"), failed.toString());
    assertTrue(
        failed.contains("test_attention_23_boolmask_fullymasked_row_nan_robustness"),
        failed.toString());
    assertFalse(failed.contains("test_attention_4d"), failed.toString());
    assertTrue(console(result).contains("-> FAIL"));
  }

  @Test
  void anImplementationThatThrowsIsRecordedAsAFailure() {
    SuiteResult result =
        run(
            (q, k, v, options) -> {
              throw new IllegalStateException("boom");
            });
    assertEquals(result.total(), result.failed());
    assertEquals("error: boom", result.cases().get(0).project().explanation());
  }

  @Test
  void optionsAreRebuiltWithoutLosingTheOnnxFeatures() {
    AttentionOptions options = AttentionOptions.builder().optWindow(2, 0).optCausal(true).build();
    AttentionOptions copy = options.toBuilder().build();
    assertEquals(2, copy.leftWindow());
    assertEquals(0, copy.rightWindow());
    assertTrue(copy.causal());
  }
}
