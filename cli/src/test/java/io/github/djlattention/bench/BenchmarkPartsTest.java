package io.github.djlattention.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.bench.BenchmarkReport.Bfloat16Result;
import io.github.djlattention.bench.BenchmarkReport.Ceilings;
import io.github.djlattention.bench.BenchmarkReport.DecodeResult;
import io.github.djlattention.bench.BenchmarkReport.Environment;
import io.github.djlattention.bench.BenchmarkReport.GenerationResult;
import io.github.djlattention.bench.BenchmarkReport.LongSequenceResult;
import io.github.djlattention.bench.BenchmarkReport.ReadCeiling;
import io.github.djlattention.bench.BenchmarkReport.ShapeResult;
import io.github.djlattention.bench.BenchmarkReport.SmallCallResult;
import io.github.djlattention.onnx.OnnxConstants;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.KvCache;
import io.github.djlattention.testing.TestTensors;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The benchmark's parts that can be checked without timing anything. */
class BenchmarkPartsTest {

  @Test
  void theStrongestOrtKernelIsTheFasterOneAndTheFirstOnATie() {
    StrongestOrt second = StrongestOrt.of("Attention-23", 2.0, "MultiHeadAttention", 1.5);
    assertEquals(new StrongestOrt("MultiHeadAttention", 1.5), second);
    assertEquals(0.5, second.ratio(0.75), 0.0);
    assertEquals(
        "GroupQueryAttention",
        StrongestOrt.of("GroupQueryAttention", 1.0, "Attention-23", 3.0).name());
    assertEquals(
        "Attention-23", StrongestOrt.of("Attention-23", 1.0, "MultiHeadAttention", 1.0).name());
  }

  @Test
  void ortFusedAttentionComputesWhatTheProjectComputes() {
    long[] shape = {2, 3, 17, 8}; // (B, H, S, D)
    float[][] data = new float[3][2 * 3 * 17 * 8];
    Random random = new Random(7);
    for (float[] tensor : data) {
      for (int n = 0; n < tensor.length; n++) {
        tensor[n] = random.nextFloat() * 2 - 1;
      }
    }
    try (NDManager manager = TestTensors.manager();
        OrtFusedAttention ort = new OrtFusedAttention(shape, data[0], data[1], data[2], 2)) {
      NDArray q = manager.create(data[0], new Shape(shape));
      NDArray k = manager.create(data[1], new Shape(shape));
      NDArray v = manager.create(data[2], new Shape(shape));
      AttentionOptions noWeights = AttentionOptions.builder().optReturnWeights(false).build();
      float[] expected = Attention.attention(q, k, v, noWeights).output().toFloatArray();
      float[] actual = ort.run();
      assertEquals(expected.length, actual.length);
      for (int n = 0; n < expected.length; n++) {
        assertEquals(expected[n], actual[n], 1e-5, "element " + n);
      }
    }
  }

  @Test
  void ortMultiHeadAttentionComputesWhatTheProjectComputes() {
    long[] shape = {2, 3, 17, 8}; // (B, H, S, D)
    float[][] data = new float[3][2 * 3 * 17 * 8];
    Random random = new Random(11);
    for (float[] tensor : data) {
      for (int n = 0; n < tensor.length; n++) {
        tensor[n] = random.nextFloat() * 2 - 1;
      }
    }
    try (NDManager manager = TestTensors.manager();
        OrtMultiHeadAttention ort =
            new OrtMultiHeadAttention(shape, data[0], data[1], data[2], 2)) {
      NDArray q = manager.create(data[0], new Shape(shape));
      NDArray k = manager.create(data[1], new Shape(shape));
      NDArray v = manager.create(data[2], new Shape(shape));
      AttentionOptions noWeights = AttentionOptions.builder().optReturnWeights(false).build();
      float[] expected = Attention.attention(q, k, v, noWeights).output().toFloatArray();
      float[] actual = ort.run();
      for (int n = 0; n < expected.length; n++) {
        assertEquals(expected[n], actual[n], 1e-5, "element " + n);
      }
    }
  }

  @Test
  void ortGroupQueryAttentionDecodesWhatTheKvCacheDecodes() {
    long heads = 4;
    long kvHeads = 2;
    long keys = 37;
    long dim = 8;
    Random random = new Random(5);
    float[] query = floats(random, heads * dim);
    float[] newKey = floats(random, kvHeads * dim);
    float[] newValue = floats(random, kvHeads * dim);
    float[] pastKey = floats(random, kvHeads * keys * dim);
    float[] pastValue = floats(random, kvHeads * keys * dim);
    try (NDManager manager = TestTensors.manager();
        OrtGroupQueryAttention ort =
            new OrtGroupQueryAttention(
                heads, kvHeads, keys, dim, query, newKey, newValue, pastKey, pastValue, 2);
        KvCache cache =
            KvCache.builder()
                .setManager(manager)
                .setLayers(1)
                .setBatchSize(1)
                .setKvHeads(kvHeads)
                .setHeadSize(dim)
                .setCapacity(keys)
                .build()) {
      NDIndex past = new NDIndex(":, :, :{}", keys - 1);
      Shape cacheShape = new Shape(1, kvHeads, keys, dim);
      cache.layer(0).keys().set(past, manager.create(pastKey, cacheShape).get(past));
      cache.layer(0).values().set(past, manager.create(pastValue, cacheShape).get(past));
      cache.layer(0).setLengths(keys - 1);
      AttentionOptions options =
          AttentionOptions.builder()
              .optCache(cache.layer(0))
              .optCausal(true)
              .optReturnWeights(false)
              .build();
      float[] expected =
          Attention.attention(
                  manager.create(query, new Shape(1, heads, 1, dim)),
                  manager.create(newKey, new Shape(1, kvHeads, 1, dim)),
                  manager.create(newValue, new Shape(1, kvHeads, 1, dim)),
                  options)
              .output()
              .toFloatArray();
      for (int call = 0; call < 2; call++) { // the same step twice: the buffer is shared
        float[] actual = ort.run();
        for (int n = 0; n < expected.length; n++) {
          assertEquals(expected[n], actual[n], 1e-5, "call " + call + " element " + n);
        }
      }
    }
  }

  private static float[] floats(Random random, long size) {
    float[] data = new float[(int) size];
    for (int n = 0; n < data.length; n++) {
      data[n] = random.nextFloat() * 2 - 1;
    }
    return data;
  }

  @Test
  void smallCallSeriesComparesBlocksOnTheSameWeights() {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      SmallCallBenchmark.Blocks blocks = SmallCallBenchmark.blocks(manager, 16);
      double same = blocks.difference();
      assertTrue(same <= 1e-5, "the same weights give the same output: " + same);
      // a different weight in DJL's block shows: the comparison can fail
      NDArray weight = blocks.djl().getValueProjection().getParameters().get("weight").getArray();
      weight.set(weight.mul(2).toFloatArray());
      double changed = blocks.difference();
      assertTrue(changed > 1e-3, "a changed value projection must differ: " + changed);
    }
  }

  @Test
  void ortGroupQueryPrefillComputesCausalAttention() {
    long heads = 4;
    long kvHeads = 2;
    long tokens = 16;
    long dim = 8;
    Random random = new Random(6);
    float[] q = floats(random, heads * tokens * dim); // (1, H, S, D)
    float[] k = floats(random, kvHeads * tokens * dim); // (1, G, S, D)
    float[] v = floats(random, kvHeads * tokens * dim);
    try (NDManager manager = NDManager.newBaseManager("PyTorch");
        OrtGroupQueryPrefill gqa =
            new OrtGroupQueryPrefill(
                heads,
                kvHeads,
                tokens,
                dim,
                LlmPrefillBenchmark.tokensFirst(q, heads, dim),
                LlmPrefillBenchmark.tokensFirst(k, kvHeads, dim),
                LlmPrefillBenchmark.tokensFirst(v, kvHeads, dim),
                1);
        OrtFusedAttention standard =
            new OrtFusedAttention(
                new long[] {1, heads, tokens, dim},
                new long[] {1, kvHeads, tokens, dim},
                true,
                q,
                k,
                v,
                1)) {
      AttentionOptions causal =
          AttentionOptions.builder().optCausal(true).optReturnWeights(false).build();
      float[] expected =
          Attention.attention(
                  manager.create(q, new Shape(1, heads, tokens, dim)),
                  manager.create(k, new Shape(1, kvHeads, tokens, dim)),
                  manager.create(v, new Shape(1, kvHeads, tokens, dim)),
                  causal)
              .output()
              .toFloatArray();
      float[] fromGqa = gqa.run();
      float[] reordered = LlmPrefillBenchmark.tokensFirst(expected, heads, dim);
      for (int n = 0; n < expected.length; n++) {
        assertEquals(reordered[n], fromGqa[n], 1e-5, "GQA element " + n);
      }
      float[] fromStandard = standard.run();
      for (int n = 0; n < expected.length; n++) {
        assertEquals(expected[n], fromStandard[n], 1e-5, "Attention-23 element " + n);
      }
    }
  }

  @Test
  void ortMatMulComputesTheProduct() {
    Random random = new Random(4);
    float[] a = floats(random, 64);
    float[] b = floats(random, 64);
    double expected = 0;
    for (int k = 0; k < 8; k++) {
      expected += (double) a[k] * b[k * 8]; // Y[0][0] = row 0 of A . column 0 of B
    }
    try (OrtMatMul product = new OrtMatMul(8, a, b, 1)) {
      assertEquals(expected, product.runFirst(), 1e-5);
    }
    var model = OrtMatMul.model(8);
    assertEquals(1, model.getGraph().getNodeCount());
    assertEquals("MatMul", model.getGraph().getNode(0).getOpType());
  }

  @Test
  void theOrtModelIsOneOpset23AttentionNode() {
    var model = OrtFusedAttention.model(new long[] {1, 8, 128, 64});
    assertEquals(OnnxConstants.ATTENTION_IR_VERSION, model.getIrVersion());
    assertEquals(OnnxConstants.ATTENTION_OPSET, model.getOpsetImport(0).getVersion());
    assertEquals(1, model.getGraph().getNodeCount());
    assertEquals("Attention", model.getGraph().getNode(0).getOpType());
  }

  @Test
  void jsonCarriesTheFieldNamesOfTheIssue(@TempDir Path dir) throws Exception {
    BenchmarkReport report =
        new BenchmarkReport(
            List.of(
                new ShapeResult(
                    1,
                    8,
                    128,
                    64,
                    0.5,
                    0.4,
                    1.25,
                    33.5,
                    300,
                    11.2,
                    1e-7,
                    0.9,
                    2e-8,
                    0.45,
                    "Attention-23",
                    0.4,
                    1.25,
                    232,
                    14.4,
                    18.1,
                    0.16)),
            300,
            new Bfloat16Result(
                4096,
                150,
                70,
                2.1,
                2e-8,
                2e-4,
                4e-3,
                "native AVX512_BF16 kernel",
                null,
                null,
                null,
                null,
                70.0,
                2.1,
                2e-4,
                4e-3,
                140,
                1.07,
                2e-4,
                4e-3,
                11),
            new LongSequenceResult(16384, 8, 64, 3.0, 300, 7e-9, 4),
            new Environment("native AVX-512 kernel", 2, 2, 2, 0.5, 0.7, true, 60),
            List.of(
                new DecodeResult(
                    1,
                    32,
                    8,
                    1,
                    1024,
                    128,
                    0.2,
                    0.19,
                    0.3,
                    0.6,
                    0.7,
                    null,
                    "GroupQueryAttention",
                    0.6,
                    0.33,
                    8L << 20,
                    40,
                    50,
                    80,
                    45,
                    89,
                    48,
                    83,
                    1e-7)),
            new Ceilings(300, 232, List.of(new ReadCeiling(8L << 20, 0.17, 50))),
            new GenerationResult(
                32, 8, 128, 4096, 512, 60, 50, 1.2, 3e-7, 2e-7, 8.5, 10.2, 0.2, 3, 160L << 20),
            List.of(new SmallCallResult(1, 16, 512, 8, 0.5, 0.55, 0.91, 0.4, 0.05, 0.05, 1e-7)),
            List.of(),
            new BenchmarkReport.LlmPrefillResult(
                32, 8, 2048, 128, 100, 270, 300, "GroupQueryAttention", 270, 0.37, 2e-7));
    Path file = dir.resolve("bench.json");
    Files.writeString(file, "old");
    report.writeJson(file);
    JsonNode json = new ObjectMapper().readTree(file.toFile());
    JsonNode row = json.get("results").get(0);
    for (String field :
        List.of(
            "seq",
            "heads",
            "head_dim",
            "batch",
            "project_ms",
            "ort_ms",
            "ratio",
            "project_gflops",
            "ceiling_gflops")) {
      assertTrue(row.has(field), "results[0] lacks " + field + ": " + row);
    }
    assertEquals(128, row.get("seq").asLong());
    assertEquals("Attention-23", row.get("strongest_ort").asText());
    assertEquals(1.25, row.get("ratio_vs_strongest").asDouble());
    assertEquals(14.4, row.get("percent_of_fma_peak").asDouble());
    assertEquals(0.16, row.get("lowest_ratio_at_fma_peak").asDouble());
    assertEquals(232.0, json.get("ceilings").get("fma_peak_gflops").asDouble(), "the FMA peak");
    JsonNode decode = json.get("decode").get(0);
    for (String field :
        List.of("keys", "project_ms", "gqa_ms", "strongest_ort", "ratio_vs_strongest")) {
      assertTrue(decode.has(field), "decode[0] lacks " + field + ": " + decode);
    }
    assertEquals(83.0, decode.get("percent_of_same_rounds_read").asDouble(), decode::toString);
    assertEquals(
        50.0, json.get("ceilings").get("reads").get(0).get("gbps").asDouble(), "read ceiling");
    JsonNode small = json.get("small_calls").get(0);
    for (String field :
        List.of("seq", "project_ms", "djl_ms", "ratio", "projections_ms", "attention_ms")) {
      assertTrue(small.has(field), "small_calls[0] lacks " + field + ": " + small);
    }
    assertEquals(0.05, small.get("rest_ms").asDouble(), "the breakdown's rest");
    JsonNode llm = json.get("llm_prefill");
    assertEquals("GroupQueryAttention", llm.get("strongest_ort").asText());
    assertEquals(0.37, llm.get("ratio_vs_strongest").asDouble());
    assertEquals("native AVX-512 kernel", json.get("environment").get("kernel").asText());
    assertEquals(16384, json.get("long_sequence").get("seq").asLong());
    JsonNode bfloat16 = json.get("bfloat16");
    for (String field :
        List.of(
            "seq",
            "float32_ms",
            "bfloat16_ms",
            "speedup",
            "bfloat16_max_abs_err",
            "bfloat16_max_rel_err",
            "kernel",
            "native_ms",
            "libtorch_ms")) {
      assertTrue(bfloat16.has(field), "bfloat16 lacks " + field + ": " + bfloat16);
    }
    assertEquals(300.0, json.get("long_sequence").get("peak_rss_mb").asDouble());
    JsonNode generation = json.get("generation");
    assertEquals(512, generation.get("tokens").asLong(), generation::toString);
    assertEquals(1.2, generation.get("ratio").asDouble(), generation::toString);
    try (var files = Files.list(dir)) {
      assertEquals(1, files.count(), "no temporary file is left behind");
    }
  }

  @Test
  void longSequenceProbeRunsInAChildJvmAndReportsItsPeakRss() {
    assumeTrue(Files.exists(Path.of("/proc/self/status")), "needs Linux /proc");
    StringWriter log = new StringWriter();
    LongSequenceResult result =
        new AttentionBenchmark(true, new PrintWriter(log)).longSequence(512);
    assertEquals(512, result.seq());
    assertTrue(result.peakRssMb() > 10, "peak RSS " + result.peakRssMb() + " MiB");
    assertTrue(result.maxAbsDiffVsReference() < 1e-5, log.toString());
    assertEquals(4, result.checkedRows());
  }

  @Test
  void peakRssOfThisProcessIsReadFromProc() {
    assumeTrue(Files.exists(Path.of("/proc/self/status")), "needs Linux /proc");
    long kb = AttentionBenchmark.peakRssKb(ProcessHandle.current().pid());
    assertTrue(kb > 1024, "VmHWM " + kb + " kB");
  }
}
