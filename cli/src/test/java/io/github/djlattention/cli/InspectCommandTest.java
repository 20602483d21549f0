package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code inspect} on the real MiniLM model: the table, the details, the JSON, the errors. */
class InspectCommandTest {

  static final Path FLOAT = Path.of("target/models/all-minilm-l6-v2/all-minilm-l6-v2.onnx");
  static final Path QUANTIZED = Path.of("target/models/all-minilm-l6-v2-q/all-minilm-l6-v2-q.onnx");

  @TempDir Path directory;

  @Test
  void listsTheSixSitesAsATableWithTheirTensorsAndAsJson() throws Exception {
    Path json = directory.resolve("sites.json");
    CliRun run = CliRun.of("inspect", QUANTIZED.toString(), "--json", json.toString());
    assertEquals(0, run.exitCode(), run.toString());
    assertTrue(run.out().contains("6 attention site(s)"), run.out());
    for (int layer = 0; layer < 6; layer++) {
      assertTrue(
          run.out()
              .contains(
                  layer
                      + "  /encoder/layer."
                      + layer
                      + "/attention/self  written-out     12   12    32  0.176777  no"),
          run.out());
    }
    assertTrue(run.out().contains("MatMulInteger (q k v out)"), run.out());
    assertTrue(
        run.out().contains("mask      /Mul_output_0  (added) from attention_mask -> Unsqueeze"),
        run.out());
    assertEquals("", run.err());
    JsonNode root = new ObjectMapper().readTree(Files.readString(json));
    assertEquals(6, root.get("sites").size());
    JsonNode site = root.get("sites").get(3);
    assertEquals("/encoder/layer.3/attention/self", site.get("layer").asText());
    assertEquals(32, site.get("headSize").asInt());
    JsonNode query = site.get("projections").get("query");
    assertEquals("384x384", query.get("weightShape").asText());
    assertEquals("int8", query.get("weightType").asText());
    assertEquals("384", query.get("weightScaleShape").asText());
  }

  @Test
  void summaryPrintsTheTableOnly() {
    CliRun run = CliRun.of("inspect", FLOAT.toString(), "--summary");
    assertEquals(0, run.exitCode(), run.toString());
    assertTrue(run.out().contains("float (q k v out)"), run.out());
    assertTrue(!run.out().contains("q proj"), run.out());
  }

  @Test
  void badInputIsOneLineAndExitTwo() throws Exception {
    CliRun missing = CliRun.of("inspect", directory.resolve("none.onnx").toString());
    assertEquals(2, missing.exitCode());
    assertEquals(1, missing.errLines().size(), missing.err());
    assertTrue(missing.err().startsWith("djl-attention inspect: model "), missing.err());
    assertTrue(missing.err().contains("does not exist"), missing.err());
    Path text = directory.resolve("text.onnx");
    Files.writeString(text, "not a model");
    CliRun garbage = CliRun.of("inspect", text.toString());
    assertEquals(2, garbage.exitCode());
    assertTrue(garbage.err().contains("is not an ONNX model"), garbage.err());
    CliRun sameFile = CliRun.of("inspect", FLOAT.toString(), "--json", FLOAT.toString());
    assertEquals(2, sameFile.exitCode(), sameFile.toString());
  }
}
