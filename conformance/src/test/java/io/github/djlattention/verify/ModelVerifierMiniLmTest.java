package io.github.djlattention.verify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import io.github.djlattention.compare.ElementComparison;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * verify-model on all-MiniLM-L6-v2, float and quantized, with a padded batch of four texts: every
 * site agrees, ONNX Runtime and the project alike, within the default tolerances, and exposing the
 * tensors changes nothing.
 */
class ModelVerifierMiniLmTest {

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {MiniLm.FLOAT, MiniLm.QUANTIZED})
  void everySiteAgreesWithTheReference(String name) {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      ModelReport report = MiniLm.verify(name, VerifySettings.defaults(), manager);
      assertTrue(report.allAgree(), () -> summaries(report));
      assertEquals(6, report.sites().size());
      assertEquals(0.0, report.tapEffect(), "exposing the tensors must not change the outputs");
      assertTrue(report.inputs().contains("padding positions"), report.inputs());
      for (SiteResult site : report.sites()) {
        List<String> checked =
            site.checks().stream().map(c -> c.implementation() + " " + c.output()).toList();
        String sublayer = name.equals(MiniLm.FLOAT) ? "sublayer" : "merged";
        assertEquals(
            List.of(
                "onnxruntime output",
                "onnxruntime weights",
                "djl output",
                "djl weights",
                "djl-fast output",
                "onnxruntime " + sublayer,
                "djl-block " + sublayer),
            checked);
        for (SiteResult.Check check : site.checks()) {
          assertNull(check.error());
          ElementComparison whole = check.whole();
          assertTrue(
              whole.statistics().maxAbsError() < 1e-5,
              check + " " + whole.statistics().maxAbsError());
          assertTrue(
              whole.statistics().cosineSimilarity() > 0.9999999,
              check + " " + whole.statistics().cosineSimilarity());
          assertEquals(check.output().equals("sublayer") ? 0 : 12, check.perHead().size());
        }
        assertEquals(1 / Math.sqrt(32), site.scale(), 1e-7);
        assertTrue(site.shapes().contains("query (4, 12, "), site.shapes());
        assertEquals(12, site.maps().reference().size());
        assertEquals(12, site.maps().onnxRuntime().size());
      }
    }
  }

  private static String summaries(ModelReport report) {
    StringBuilder text = new StringBuilder();
    report.sites().forEach(s -> text.append(s.verdict().summary()).append('\n'));
    return text.toString();
  }
}
