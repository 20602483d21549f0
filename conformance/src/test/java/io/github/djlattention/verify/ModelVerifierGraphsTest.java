package io.github.djlattention.verify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.ModelProto;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.onnx.ExportOptions;
import io.github.djlattention.onnx.OnnxExporter;
import io.github.djlattention.onnx.inspect.PatternGraphs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * verify-model on graphs written the ways exporters write attention (the project's own opset 17 and
 * 23 exports, BERT- and GPT-style written-out graphs, a softcap) and on ONNX Runtime's fused
 * operators: every site is recomputed and agrees.
 */
class ModelVerifierGraphsTest {

  @TempDir Path directory;

  private ModelReport verify(ModelProto model, Map<String, NDArray> inputs, NDManager manager)
      throws Exception {
    Path file = directory.resolve("model.onnx");
    Files.write(file, model.toByteArray());
    return ModelVerifier.builder()
        .build()
        .verify(file, new ModelInputs(inputs, "test inputs", List.of()), manager);
  }

  private static NDArray uniform(NDManager manager, int seed, long... shape) {
    manager.getEngine().setRandomSeed(seed);
    return manager.randomUniform(-1, 1, new Shape(shape), DataType.FLOAT32);
  }

  private static void assertAgrees(ModelReport report, int sites) {
    assertEquals(sites, report.sites().size());
    for (SiteResult site : report.sites()) {
      assertTrue(site.verdict().agrees(), site.verdict().summary());
    }
    assertTrue(report.allAgree());
  }

  @ParameterizedTest(name = "opset {0}, H={1}, G={2}, causal={3}, mask={4}")
  @CsvSource({
    "17, 4, 4, false, none",
    "17, 4, 2, false, float",
    "17, 4, 2, true, bool",
    "23, 4, 4, false, none",
    "23, 4, 2, false, float",
    "23, 4, 2, true, bool",
    "23, 2, 1, true, none"
  })
  void theProjectsOwnExportsAgree(int opset, int heads, int kvHeads, boolean causal, String mask)
      throws Exception {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      MultiHeadAttentionBlock block =
          MultiHeadAttentionBlock.builder()
              .setEmbeddingSize(16)
              .setHeads(heads)
              .optKvHeads(kvHeads)
              .optCausal(causal)
              .build();
      manager.getEngine().setRandomSeed(3);
      Shape shape = new Shape(2, 5, 16);
      block.initialize(manager, DataType.FLOAT32, shape, shape, shape);
      ExportOptions.Builder options = ExportOptions.builder().optOpset(opset);
      Map<String, NDArray> inputs = new LinkedHashMap<>();
      inputs.put("query", uniform(manager, 1, 2, 5, 16));
      inputs.put("key", uniform(manager, 2, 2, 5, 16));
      inputs.put("value", uniform(manager, 3, 2, 5, 16));
      if (!mask.equals("none")) {
        options.optMask(ExportOptions.MaskType.parse(mask), 3);
        // key 0 always visible: no fully masked row
        boolean[] keep = new boolean[2 * 5 * 5];
        for (int i = 0; i < keep.length; i++) {
          keep[i] = i % 5 == 0 || (i * 7) % 3 != 0;
        }
        NDArray bool = manager.create(keep, new Shape(2, 5, 5));
        inputs.put(
            "attn_mask",
            mask.equals("bool")
                ? bool
                : bool.toType(DataType.FLOAT32, false).sub(1).mul(1e4f)); // 0 or -10000
      }
      ModelProto model = OnnxExporter.toModel(block, options.build());
      ModelReport report = verify(model, inputs, manager);
      assertAgrees(report, 1);
      SiteResult site = report.sites().get(0);
      // The written-out form exposes its softmax, the operator form only its output.
      assertEquals(
          opset == 17,
          site.checks().stream()
              .anyMatch(
                  c -> c.output().equals("weights") && c.implementation().equals("onnxruntime")));
      assertTrue(
          site.checks().stream().anyMatch(c -> c.implementation().equals("djl-block")) || causal,
          site.sublayer());
    }
  }

  @Test
  void bertStyleWithPaddingAgrees() throws Exception {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      Map<String, NDArray> inputs = new LinkedHashMap<>();
      inputs.put("x", uniform(manager, 5, 3, 6, 16));
      inputs.put(
          "attention_mask",
          manager.create(
              new long[][] {{1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}, {1, 1, 1, 1, 1, 0}}));
      ModelReport report = verify(PatternGraphs.bertStyle(manager, 0.5f), inputs, manager);
      assertAgrees(report, 1);
      assertTrue(
          report
              .sites()
              .get(0)
              .sublayer()
              .startsWith("the block with the graph's Q, K, V and output"));
    }
  }

  @Test
  void aScaleOtherThanTheBlocksIsFoldedIntoItsQueryProjection() throws Exception {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      Map<String, NDArray> inputs = new LinkedHashMap<>();
      inputs.put("x", uniform(manager, 5, 2, 4, 16));
      inputs.put("attention_mask", manager.create(new long[][] {{1, 1, 1, 1}, {1, 1, 0, 0}}));
      ModelReport report = verify(PatternGraphs.bertStyle(manager, 0.3f), inputs, manager);
      assertAgrees(report, 1);
      SiteResult site = report.sites().get(0);
      assertEquals(0.3, site.scale(), 1e-7);
      assertTrue(
          site.sublayer().endsWith("the scale folded into the query projection"), site.sublayer());
    }
  }

  @Test
  void gptStylePackedAndCausalAgrees() throws Exception {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      ModelReport report =
          verify(
              PatternGraphs.gptStyle(manager), Map.of("x", uniform(manager, 6, 2, 7, 16)), manager);
      assertAgrees(report, 1);
    }
  }

  @Test
  void softcapAgrees() throws Exception {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      Map<String, NDArray> inputs = new LinkedHashMap<>();
      inputs.put("q", uniform(manager, 7, 2, 4, 5, 4).mul(30));
      inputs.put("k", uniform(manager, 8, 2, 4, 5, 4).mul(30));
      inputs.put("v", uniform(manager, 9, 2, 4, 5, 4));
      ModelReport report = verify(PatternGraphs.softcapped(), inputs, manager);
      assertAgrees(report, 1);
      assertTrue(report.sites().get(0).sublayer().startsWith("not checked"));
    }
  }

  @Test
  void onnxRuntimesFusedOperatorsAgree() throws Exception {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      Map<String, NDArray> inputs = new LinkedHashMap<>();
      inputs.put("x", uniform(manager, 10, 2, 5, 16));
      inputs.put(
          "key_padding_mask", manager.create(new int[][] {{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}}));
      inputs.put("seqlens_k", manager.create(new int[] {4, 4}));
      inputs.put("total_sequence_length", manager.create(5));
      ModelReport report = verify(PatternGraphs.fused(manager), inputs, manager);
      assertAgrees(report, 3);
    }
  }
}
