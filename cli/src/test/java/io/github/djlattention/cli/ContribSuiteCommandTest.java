package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code conformance --suite contrib}: the com.microsoft operators' suite from the command line.
 */
class ContribSuiteCommandTest {

  @Test
  void runsTheContribSuiteWithItsFindings(@TempDir Path dir) throws Exception {
    Path json = dir.resolve("contrib.json");
    Path html = dir.resolve("contrib.html");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code =
        Main.run(
            new String[] {
              "conformance",
              "--suite",
              "contrib",
              "--threads",
              "1",
              "--json",
              json.toString(),
              "--html",
              html.toString()
            },
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    String stdout = out.toString(StandardCharsets.UTF_8);
    assertEquals(0, code, err.toString(StandardCharsets.UTF_8));
    assertTrue(
        stdout.contains("suite contrib (oracle: float64-reference, project: djl, djl-fast)"),
        stdout);
    assertTrue(stdout.contains("FINDING  gqa_window_2: onnxruntime disagrees"), stdout);
    assertTrue(stdout.contains("-> PASS"), stdout);
    JsonNode suite = new ObjectMapper().readTree(json.toFile()).get("suites").get(0);
    assertEquals("contrib", suite.get("name").asText());
    int total = suite.get("total").asInt();
    assertEquals(total, suite.get("passed").asInt());
    assertEquals(total, suite.get("agreement").get("djl").asInt());
    assertEquals(total, suite.get("agreement").get("djl-fast").asInt());
    assertTrue(suite.get("agreement").get("onnxruntime").asInt() < total);
    String page = Files.readString(html);
    assertTrue(page.contains("gqa_window_2") && page.contains("<svg"), "heatmaps expected");
  }
}
