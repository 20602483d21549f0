package io.github.djlattention.verify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.conformance.ProgressListener;
import io.github.djlattention.conformance.SuiteResult;
import io.github.djlattention.ort.OrtDevice;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The console table, the JSON and the HTML of one verification, and the models suite. */
class ReportsTest {

  private static ModelReport report;

  @BeforeAll
  static void verify() {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      report = MiniLm.verify(MiniLm.QUANTIZED, VerifySettings.defaults().withMapBatch(2), manager);
    }
  }

  @Test
  void consoleTableHasARowPerSiteAndTheTotal() {
    StringWriter text = new StringWriter();
    VerifyConsole.print(report, VerifySettings.defaults(), new PrintWriter(text, true));
    String out = text.toString();
    for (int layer = 0; layer < 6; layer++) {
      assertTrue(out.contains("/encoder/layer." + layer + "/attention/self  agree"), out);
    }
    assertTrue(out.contains("6 of 6 sites agree, 0 deviate, 0 not verified -> PASS"), out);
  }

  @Test
  void jsonHasEveryCheckAndEveryHead() throws Exception {
    JsonNode root =
        new ObjectMapper().readTree(VerifyJson.render(report, VerifySettings.defaults(), null));
    assertTrue(root.get("allAgree").asBoolean());
    assertEquals(6, root.get("sites").size());
    JsonNode site = root.get("sites").get(0);
    assertEquals("ALL_AGREE", site.get("verdict").asText());
    assertEquals(7, site.get("checks").size());
    JsonNode check = site.get("checks").get(1);
    assertEquals("onnxruntime", check.get("implementation").asText());
    assertEquals("weights", check.get("output").asText());
    assertEquals(12, check.get("heads").size());
    for (String field :
        new String[] {
          "maxAbs", "maxRel", "p50", "p90", "p99", "cosine", "worstIndex", "mismatched"
        }) {
      assertTrue(check.has(field), field);
    }
    assertEquals(12, site.get("site").get("heads").asInt());
    assertEquals(
        "DynamicQuantizeLinear + MatMulInteger + Add",
        site.get("site").get("projections").get("query").get("kind").asText());
  }

  @Test
  void htmlDrawsEveryHeadOfEveryLayerAndNeedsNothingElse() {
    String html = VerifyHtml.render(report, VerifySettings.defaults(), MiniLm.TEXTS_FOR_REPORT);
    Matcher images =
        Pattern.compile("<img alt=\"([^\"]+)\"[^>]*src=\"data:image/png;base64,").matcher(html);
    int maps = 0;
    int differences = 0;
    while (images.find()) {
      if (images.group(1).contains("−")) {
        differences++;
      } else {
        maps++;
      }
    }
    assertEquals(6 * 12, maps, "one attention map per head and layer");
    assertEquals(6 * 12 * 2, differences, "onnxruntime − ref and djl − ref per head");
    assertTrue(html.contains("batch element 2"), "--map-batch");
    assertFalse(html.contains("<script"));
    assertFalse(html.contains("http://") || html.contains("https://"));
    assertTrue(html.contains(">PASS</span>"));
  }

  @Test
  void theModelsSuiteHasACasePerSiteAndHonoursTheFilter() {
    ModelsSuite suite =
        ModelsSuite.load(
            ModelsSuite.DEFAULT_DIRECTORY,
            OrtDevice.CPU,
            2,
            ai.djl.Device.cpu(),
            VerifySettings.defaults());
    SuiteResult result =
        suite.run(
            ProgressListener.NONE,
            name -> name.startsWith(MiniLm.QUANTIZED + " /encoder/layer.1/"));
    assertEquals(12, result.total());
    assertEquals(11, result.skipped());
    assertEquals(1, result.passed());
    assertEquals(0, result.failed());
    assertEquals("float64-reference", result.oracle());
    assertEquals(java.util.List.of("djl", "djl-fast", "djl-block"), result.projects());
  }
}
