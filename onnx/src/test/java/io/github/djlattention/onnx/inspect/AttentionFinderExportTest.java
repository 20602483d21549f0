package io.github.djlattention.onnx.inspect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.ModelProto;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.onnx.ExportOptions;
import io.github.djlattention.onnx.OnnxExporter;
import io.github.djlattention.testing.TestTensors;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The graph analysis on the project's own exports of a {@code MultiHeadAttentionBlock}: the opset
 * 17 decomposed form (grouped heads folded into the rows, Where masks, a causal pattern built from
 * Range and LessOrEqual) and the opset 23 form around the {@code Attention} operator.
 */
class AttentionFinderExportTest {

  private static ModelProto export(
      NDManager manager, int heads, int kvHeads, boolean causal, String mask, int opset) {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(16)
            .setHeads(heads)
            .optKvHeads(kvHeads)
            .optCausal(causal)
            .build();
    block.initialize(manager, DataType.FLOAT32, new Shape(1, 3, 16));
    ExportOptions.Builder options = ExportOptions.builder().optOpset(opset);
    if (!mask.equals("none")) {
      options.optMask(ExportOptions.MaskType.parse(mask), 3);
    }
    return OnnxExporter.toModel(block, options.build());
  }

  @ParameterizedTest(name = "opset {0}, H={1}, G={2}, causal={3}, mask={4}")
  @CsvSource({
    "17, 4, 4, false, none",
    "17, 4, 2, false, float",
    "17, 4, 2, true, bool",
    "17, 2, 1, true, none",
    "23, 4, 4, false, none",
    "23, 4, 2, false, float",
    "23, 4, 2, true, bool",
    "23, 2, 1, true, none"
  })
  void findsTheOneSiteOfAnExportedBlock(
      int opset, int heads, int kvHeads, boolean causal, String mask) {
    try (NDManager manager = TestTensors.manager()) {
      ModelProto model = export(manager, heads, kvHeads, causal, mask, opset);
      List<AttentionSite> sites = AttentionFinder.find(model);
      assertEquals(1, sites.size(), sites.toString());
      AttentionSite site = sites.get(0);
      assertEquals(
          opset == 17 ? AttentionSite.Form.WRITTEN_OUT : AttentionSite.Form.ONNX_ATTENTION,
          site.form());
      assertEquals(heads, site.heads());
      assertEquals(kvHeads, site.kvHeads());
      assertEquals(16 / heads, site.headSize());
      if (opset == 17) {
        assertEquals(1 / Math.sqrt(16.0 / heads), site.scale(), 1e-7);
        assertNotNull(site.weights());
      } else {
        assertEquals(1 / Math.sqrt(16.0 / heads), site.scale(), 1e-7);
      }
      assertEquals(causal, site.causal(), site.masks().toString());
      long userMasks = site.masks().stream().filter(m -> m.source().contains("attn_mask")).count();
      assertEquals(mask.equals("none") ? 0 : 1, userMasks, site.masks().toString());
      List<Projection> projections =
          List.of(site.queryProjection(), site.keyProjection(), site.valueProjection());
      List<String> inputs = List.of("query", "key", "value");
      for (int i = 0; i < 3; i++) {
        Projection.FloatWeights f =
            assertInstanceOf(Projection.FloatWeights.class, projections.get(i));
        assertTrue(f.transposed(), "the exporter stores W (out, in) and transposes it");
        assertEquals(inputs.get(i), f.input());
      }
      assertEquals("q_proj.weight", site.queryProjection().weight());
      assertEquals(16L / heads * kvHeads, site.keyProjection().columnEnd());
      assertEquals("out_proj.weight", site.outputProjection().weight());
      assertEquals("query", site.input());
      if (causal && opset == 17) {
        assertTrue(
            site.masks().stream()
                .anyMatch(
                    m ->
                        m.causal()
                            && m.source().startsWith("the shape of ")
                            && m.source().endsWith("LessOrEqual (causal)")),
            site.masks().toString());
      }
      assertNotNull(site.merged());
      assertEquals(site.merged(), site.outputProjection().input());
    }
  }

  @ParameterizedTest(name = "opset {0}")
  @CsvSource({"17", "23"})
  void findsNothingWithoutAttention(int opset) {
    // A classifier head: MatMul with a weight, Softmax; no Q·Kᵀ and no weighted sum.
    io.github.djlattention.onnx.OnnxGraphBuilder graph =
        new io.github.djlattention.onnx.OnnxGraphBuilder("classifier", opset);
    try (NDManager manager = TestTensors.manager()) {
      String x = graph.input("x", 1, "batch", 4L);
      String w = graph.initializer("w", manager.ones(new Shape(4, 3)));
      String logits = graph.node("MatMul", "logits", List.of(x, w));
      String p =
          graph.node(
              "Softmax",
              "p",
              List.of(logits),
              io.github.djlattention.onnx.OnnxGraphBuilder.attribute("axis", -1L));
      graph.output(p, 1, "batch", 3L);
      assertEquals(List.of(), AttentionFinder.find(graph.build(java.util.Map.of())));
    }
  }
}
