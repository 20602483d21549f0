package io.github.djlattention.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.bench.BenchmarkReport.Ceilings;
import io.github.djlattention.bench.BenchmarkReport.Environment;
import io.github.djlattention.bench.BenchmarkReport.GenerationResult;
import io.github.djlattention.onnx.OnnxConstants;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The generation loop's machinery at a tiny size (E = 64, H = 4, G = 2, 16 tokens): the project's
 * block with its cache and ONNX Runtime's GroupQueryAttention layer agree step by step, both agree
 * with one causal forward over the whole sequence, and the report carries the loop's fields.
 */
class GenerationBenchmarkTest {

  private static final long EMBEDDING = 64;
  private static final int HEADS = 4;
  private static final int KV_HEADS = 2;
  private static final int TOKENS = 16;

  private static GenerationBenchmark tiny(boolean quick, StringWriter log) {
    return new GenerationBenchmark(
        EMBEDDING, HEADS, KV_HEADS, TOKENS, quick, new PrintWriter(log, true));
  }

  @Test
  void bothSidesGenerateWhatOneCausalForwardComputes() {
    try (GenerationBenchmark.Loops loops = tiny(true, new StringWriter()).open(2)) {
      float[][] whole = loops.wholeSequence();
      int arraysBefore = loops.managedArrays();
      float[][] project = loops.project();
      assertEquals(arraysBefore, loops.managedArrays(), "a loop leaves no array behind");
      float[][] ort = loops.ort();
      assertEquals(TOKENS, project.length);
      assertEquals(TOKENS, ort.length);
      for (int step = 0; step < TOKENS; step++) {
        assertEquals(EMBEDDING, project[step].length, "step " + step);
        for (int n = 0; n < EMBEDDING; n++) {
          String where = "step " + step + " element " + n;
          // ORT reading its 16-long shared buffer beyond the step's prefix would break these
          assertEquals(whole[step][n], ort[step][n], 1e-5, where + ": ORT vs one causal forward");
          assertEquals(whole[step][n], project[step][n], 1e-5, where + ": project vs forward");
          assertEquals(project[step][n], ort[step][n], 1e-5, where + ": project vs ORT");
        }
      }
      GenerationBenchmark.Difference difference = GenerationBenchmark.compare(project, ort);
      assertTrue(difference.maxAbs() <= 1e-5, difference::toString);
      assertTrue(difference.maxRel() <= GenerationBenchmark.TOLERANCE, difference::toString);
      // a second loop of each starts from an empty cache: the same outputs again
      float[][] projectAgain = loops.project();
      float[][] ortAgain = loops.ort();
      for (int step = 0; step < TOKENS; step++) {
        assertArrayEquals(project[step], projectAgain[step], 1e-6f, "project step " + step);
        assertArrayEquals(ort[step], ortAgain[step], 1e-6f, "ORT step " + step);
      }
      loops.attentionAlone(); // the first call keeps the projected q, k and v
      int arraysKept = loops.managedArrays();
      loops.attentionAlone();
      assertEquals(arraysKept, loops.managedArrays(), "an attention loop leaves no array behind");
    }
  }

  @Test
  void aStepBeyondTheToleranceStopsTheSeriesNamingIt() {
    float[][] project = {{1, -2}, {0.5f, 4}, {3, 1}};
    float[][] close = {{1, -2}, {0.5f, 4.0001f}, {3, 1}};
    float[][] far = {{1, -2}, {0.5f, 4}, {3, 1.01f}};
    GenerationBenchmark.Difference ok = GenerationBenchmark.compare(project, close);
    assertEquals(4.0001f - 4, ok.maxAbs(), 1e-12);
    assertEquals((4.0001f - 4) / 4.0, ok.maxRel(), 1e-12);
    IllegalStateException failure =
        assertThrows(IllegalStateException.class, () -> GenerationBenchmark.compare(project, far));
    assertTrue(failure.getMessage().contains("generation step 2 of 3"), failure::getMessage);
    assertTrue(failure.getMessage().contains("1.000e-02"), failure::getMessage);
    float[][] nan = {{1, -2}, {Float.NaN, 4}, {3, 1}};
    failure =
        assertThrows(IllegalStateException.class, () -> GenerationBenchmark.compare(project, nan));
    assertTrue(failure.getMessage().contains("generation step 1 of 3"), failure::getMessage);
    assertThrows(
        IllegalStateException.class,
        () -> GenerationBenchmark.compare(project, new float[][] {{1, -2}}));
  }

  @Test
  void theQuickSeriesReportsTokensPerSecondAndTheJsonCarriesThem(@TempDir Path dir)
      throws Exception {
    StringWriter log = new StringWriter();
    GenerationResult result = tiny(true, log).run(2);
    assertEquals(HEADS, result.heads());
    assertEquals(KV_HEADS, result.kvHeads());
    assertEquals(EMBEDDING / HEADS, result.headDim());
    assertEquals(EMBEDDING, result.embedding());
    assertEquals(TOKENS, result.tokens());
    assertEquals(1, result.timedLoops());
    assertTrue(result.projectTokensPerS() > 0 && Double.isFinite(result.projectTokensPerS()));
    assertTrue(result.ortTokensPerS() > 0 && Double.isFinite(result.ortTokensPerS()));
    assertEquals(TOKENS / result.projectLoopS(), result.projectTokensPerS(), 1e-9);
    assertEquals(result.projectTokensPerS() / result.ortTokensPerS(), result.ratio(), 1e-12);
    assertTrue(result.maxAbsDiff() <= 1e-5, result::toString);
    assertTrue(result.maxRelDiff() <= GenerationBenchmark.TOLERANCE, result::toString);
    String printed = log.toString();
    assertTrue(printed.contains("project loop 1 of 1"), printed);
    assertTrue(printed.contains("ORT loop 1 of 1"), printed);
    assertTrue(printed.contains("higher is better for the project"), printed);

    BenchmarkReport report =
        new BenchmarkReport(
            List.of(),
            0,
            null,
            null,
            new Environment("kernel", 2, 2, 2, 0.5, 0.5, true, 1),
            List.of(),
            new Ceilings(0, 0, List.of()),
            result,
            List.of(),
            List.of(),
            null);
    Path file = dir.resolve("bench.json");
    report.writeJson(file);
    JsonNode generation = new ObjectMapper().readTree(file.toFile()).get("generation");
    for (String field :
        List.of(
            "heads",
            "kv_heads",
            "head_dim",
            "embedding",
            "tokens",
            "project_tokens_per_s",
            "ort_tokens_per_s",
            "ratio",
            "max_abs_diff")) {
      assertTrue(generation.has(field), "generation lacks " + field + ": " + generation);
    }
    assertEquals(KV_HEADS, generation.get("kv_heads").asInt());
    assertEquals(result.ortTokensPerS(), generation.get("ort_tokens_per_s").asDouble());
  }

  @Test
  void theFullSeriesTimesThreeInterleavedLoopsPerSide() {
    StringWriter log = new StringWriter();
    GenerationResult result = tiny(false, log).run(2);
    assertEquals(3, result.timedLoops());
    String printed = log.toString();
    for (int loop = 1; loop <= 3; loop++) {
      assertTrue(printed.contains("project loop " + loop + " of 3"), printed);
      assertTrue(printed.contains("ORT loop " + loop + " of 3"), printed);
    }
    // the side that goes first alternates: the project opens rounds 1 and 3, ORT round 2
    assertTrue(
        printed.indexOf("project loop 1 of 3") < printed.indexOf("ORT loop 1 of 3"), printed);
    assertTrue(
        printed.indexOf("ORT loop 2 of 3") < printed.indexOf("project loop 2 of 3"), printed);
    assertTrue(
        printed.indexOf("project loop 3 of 3") < printed.indexOf("ORT loop 3 of 3"), printed);
  }

  @Test
  void theOrtLayerIsMatMulsAroundGroupQueryAttentionWithTransposedWeights() {
    // E = 4, H = 2, G = 1, D = 2
    float[] w = new float[16]; // W_q and W_o (4, 4)
    for (int n = 0; n < w.length; n++) {
      w[n] = n;
    }
    float[] wk = {1, 2, 3, 4, 5, 6, 7, 8}; // W_k and W_v (G·D 2, E 4)
    OnnxMl.ModelProto model = OrtGenerationLayer.model(4, 2, 1, 8, w, wk, wk, w);
    assertEquals(OnnxConstants.ATTENTION_IR_VERSION, model.getIrVersion());
    OnnxMl.GraphProto graph = model.getGraph();
    assertEquals(
        List.of("MatMul", "MatMul", "MatMul", "GroupQueryAttention", "MatMul"),
        graph.getNodeList().stream().map(OnnxMl.NodeProto::getOpType).toList());
    OnnxMl.NodeProto gqa = graph.getNode(3);
    assertEquals(OrtModels.MICROSOFT, gqa.getDomain());
    assertEquals(2, gqa.getAttribute(0).getI(), "num_heads");
    assertEquals(1, gqa.getAttribute(1).getI(), "kv_num_heads");
    OnnxMl.TensorProto key = graph.getInitializer(1);
    assertEquals("w_k_t", key.getName());
    assertEquals(List.of(4L, 2L), key.getDimsList(), "W_kᵀ is (in, out)");
    ByteBuffer raw = key.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    float[] values = new float[8];
    raw.asFloatBuffer().get(values);
    assertArrayEquals(new float[] {1, 5, 2, 6, 3, 7, 4, 8}, values);
    assertThrows(
        IllegalArgumentException.class, () -> OrtGenerationLayer.transposed("w", wk, 2, 2));
  }

  @Test
  void sizesThatMakeNoLayerAreRefused() {
    IllegalArgumentException failure =
        assertThrows(
            IllegalArgumentException.class,
            () -> new GenerationBenchmark(64, 4, 3, 16, true, new PrintWriter(new StringWriter())));
    assertTrue(failure.getMessage().contains("H=4 G=3"), failure::getMessage);
  }
}
