package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

class ConformanceCommandTest {

  private record Run(int code, String out, String err) {}

  private static Run run(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code =
        Main.run(
            args,
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Run(
        code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void writesJsonAndHtmlAndExitsZero(@TempDir Path dir) throws Exception {
    Path json = dir.resolve("out/report.json");
    Path html = dir.resolve("out/report.html");
    Run run =
        run(
            "conformance",
            "--case",
            "test_attention_4d_causal",
            "--case",
            "fullymasked",
            "--json",
            json.toString(),
            "--html",
            html.toString());
    assertEquals(0, run.code(), run.err());
    assertTrue(run.out().contains("suite onnx-attention"), run.out());
    assertTrue(run.out().contains("-> PASS"), run.out());
    assertTrue(run.err().contains("[onnx-attention 87/87]"), run.err());
    JsonNode root = new ObjectMapper().readTree(json.toFile());
    JsonNode suite = root.get("suites").get(0);
    assertEquals("onnx-attention", suite.get("name").asText());
    assertEquals(87, suite.get("total").asInt());
    assertEquals(0, suite.get("failed").asInt());
    assertEquals(
        87,
        suite.get("passed").asInt() + suite.get("skipped").asInt() + suite.get("failed").asInt());
    assertTrue(suite.get("passed").asInt() >= 3);
    assertEquals(87, suite.get("cases").size());
    String page = Files.readString(html);
    assertTrue(page.startsWith("<!DOCTYPE html>"));
    assertTrue(page.contains("<svg"), "heatmaps expected");
    assertFalse(
        page.contains("http://") && page.contains("<script"), "page must be self-contained");
    try (var files = Files.list(json.getParent())) {
      assertEquals(2, files.count(), "no temporary files left behind");
    }
  }

  @Test
  void unknownSuiteIsOneLineAndExitTwo() {
    Run run = run("conformance", "--suite", "nope", "--quiet");
    assertEquals(2, run.code());
    assertEquals(
        "djl-attention conformance: unknown suite 'nope'; known suites: [onnx-attention,"
            + " generated, pytorch, contrib, models]",
        run.err().strip());
  }

  @Test
  void badOptionIsExitTwo() {
    Run run = run("conformance", "--threads", "many");
    assertEquals(2, run.code());
    assertTrue(run.err().startsWith("djl-attention conformance: "), run.err());
  }

  @Test
  void missingCaseDirectoryIsExitTwo(@TempDir Path dir) {
    Run run = run("conformance", "--cases", dir.resolve("absent").toString(), "--quiet");
    assertEquals(2, run.code());
    assertTrue(
        run.err().strip().startsWith("djl-attention conformance: no ONNX Attention cases at"),
        run.err());
  }

  @Test
  void generatedAndPytorchSuitesWriteOneJsonEntryEach(@TempDir Path dir) throws Exception {
    Path json = dir.resolve("report.json");
    Run run =
        run("conformance", "--suite", "generated", "--suite", "pytorch", "--json", json.toString());
    assertEquals(0, run.code(), run.err());
    assertTrue(run.out().contains("suite generated (oracle: float64-reference"), run.out());
    assertTrue(run.out().contains("suite pytorch (oracle: pytorch"), run.out());
    assertTrue(run.out().contains("-> PASS"), run.out());
    JsonNode suites = new ObjectMapper().readTree(json.toFile()).get("suites");
    assertEquals(2, suites.size());
    assertEquals("generated", suites.get(0).get("name").asText());
    assertEquals("pytorch", suites.get(1).get("name").asText());
    for (JsonNode suite : suites) {
      int total = suite.get("total").asInt();
      assertEquals(total, suite.get("cases").size());
      assertEquals(total, suite.get("passed").asInt());
      assertEquals(0, suite.get("failed").asInt());
      assertEquals(0, suite.get("skipped").asInt());
    }
    JsonNode seed = suites.get(0).get("cases").get(1);
    assertEquals("seed_3x4_default_scale", seed.get("name").asText());
    JsonNode djl = seed.get("implementations").get("djl");
    assertTrue(djl.get("agrees").asBoolean());
    assertEquals(2, djl.get("worstIndex").size(), "(S, T) weights or (S, Dv) output");
    assertTrue(djl.get("maxAbsError").asDouble() < 1e-6);
    assertTrue(djl.has("maxRelError"));
    assertEquals("[\"djl\",\"djl-block\"]", suites.get(0).get("projectImplementations").toString());
  }

  @Test
  void missingGeneratedMatrixIsExitTwoBeforeAnySuiteRuns(@TempDir Path dir) {
    Run run =
        run("conformance", "--generated-cases", dir.resolve("absent.json").toString(), "--quiet");
    assertEquals(2, run.code());
    assertTrue(
        run.err().strip().startsWith("djl-attention conformance: no generated cases at"),
        run.err());
    assertEquals("", run.out());
  }
}
