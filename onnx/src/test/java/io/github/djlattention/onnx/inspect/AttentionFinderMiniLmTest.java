package io.github.djlattention.onnx.inspect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The graph analysis on the real all-MiniLM-L6-v2 (float and dynamically quantized) that the build
 * unpacks from Maven Central: 6 written-out sites, 12 heads of 32, scale 1/√32, an additive mask
 * from {@code attention_mask}, float or MatMulInteger projections.
 */
class AttentionFinderMiniLmTest {

  private static ModelGraph floatGraph;
  private static ModelGraph quantizedGraph;

  @BeforeAll
  static void read() {
    floatGraph = new ModelGraph(AttentionFinder.read(MiniLmFiles.require(MiniLmFiles.FLOAT)));
    quantizedGraph =
        new ModelGraph(AttentionFinder.read(MiniLmFiles.require(MiniLmFiles.QUANTIZED)));
  }

  @Test
  void floatModelHasSixWrittenOutSitesWithFloatProjections() {
    List<AttentionSite> sites = AttentionFinder.find(floatGraph);
    assertEquals(6, sites.size());
    for (int layer = 0; layer < 6; layer++) {
      AttentionSite site = sites.get(layer);
      checkCore(site, layer);
      for (Projection p :
          List.of(site.queryProjection(), site.keyProjection(), site.valueProjection())) {
        Projection.FloatWeights f = assertInstanceOf(Projection.FloatWeights.class, p);
        assertFalse(f.transposed());
        assertEquals(384, f.columnEnd() - f.columnStart());
        assertTrue(f.weight().startsWith("onnx::MatMul_"), f.weight());
        assertTrue(f.bias().startsWith("encoder.layer." + layer + ".attention.self."), f.bias());
      }
      Projection.FloatWeights out =
          assertInstanceOf(Projection.FloatWeights.class, site.outputProjection());
      assertEquals("encoder.layer." + layer + ".attention.output.dense.bias", out.bias());
      assertEquals(site.merged(), out.input());
      assertEquals(
          "/encoder/layer." + layer + "/attention/output/dense/Add_output_0",
          site.sublayerOutput());
      assertTrue(site.selfAttention());
    }
    assertEquals("/embeddings/LayerNorm/Add_1_output_0", sites.get(0).input());
    assertEquals("/encoder/layer.0/output/LayerNorm/Add_1_output_0", sites.get(1).input());
  }

  @Test
  void quantizedModelHasTheSameSitesWithMatMulIntegerProjections() {
    List<AttentionSite> sites = AttentionFinder.find(quantizedGraph);
    assertEquals(6, sites.size());
    for (int layer = 0; layer < 6; layer++) {
      AttentionSite site = sites.get(layer);
      checkCore(site, layer);
      for (Projection p :
          List.of(
              site.queryProjection(),
              site.keyProjection(),
              site.valueProjection(),
              site.outputProjection())) {
        Projection.DynamicQuantized q = assertInstanceOf(Projection.DynamicQuantized.class, p);
        assertTrue(q.weight().endsWith("_quantized"), q.weight());
        assertTrue(q.weightScale().endsWith("_scale"), q.weightScale());
        assertNotNull(q.weightZeroPoint());
        assertEquals(q.input() + "_quantized", q.quantizedInput());
        assertEquals(q.input() + "_scale", q.inputScale());
        assertEquals(384, q.columnEnd());
        // per-column scales
        assertEquals(1, ConstantValues.dims(quantizedGraph.constant(q.weightScale()).get()).length);
      }
      assertEquals(site.merged(), site.outputProjection().input());
    }
  }

  private static void checkCore(AttentionSite site, int layer) {
    String prefix = "/encoder/layer." + layer + "/attention/self";
    assertEquals(layer, site.index());
    assertEquals(prefix, site.layer());
    assertEquals(AttentionSite.Form.WRITTEN_OUT, site.form());
    assertEquals(12, site.heads());
    assertEquals(12, site.kvHeads());
    assertEquals(32, site.headSize());
    assertEquals(1 / Math.sqrt(32), site.scale(), 1e-7);
    assertEquals(1, site.scaleSteps().size());
    assertTrue(site.scaleSteps().get(0).divide());
    assertEquals(5.656854152679443, site.scaleSteps().get(0).constant(), 0);
    assertEquals(prefix + "/Transpose_1_output_0", site.query());
    assertEquals(prefix + "/Transpose_2_output_0", site.key());
    assertEquals(prefix + "/Transpose_output_0", site.value());
    assertEquals(prefix + "/Softmax_output_0", site.weights());
    assertEquals(prefix + "/MatMul_1_output_0", site.output());
    assertEquals(prefix + "/Reshape_3_output_0", site.merged());
    assertFalse(site.causal());
    assertEquals(1, site.masks().size());
    SiteMask.Additive mask = assertInstanceOf(SiteMask.Additive.class, site.masks().get(0));
    assertEquals("/Mul_output_0", mask.tensor());
    assertEquals("attention_mask -> Unsqueeze -> Cast -> Sub -> Mul", mask.source());
    assertEquals(
        List.of("MatMul", "Div", "Add", "Softmax", "MatMul_1"),
        site.nodes().stream().map(n -> n.substring(n.lastIndexOf('/') + 1)).toList());
  }

  @Test
  void readRefusesWhatIsNotAModel() throws Exception {
    java.nio.file.Path file = java.nio.file.Files.createTempFile("not-a-model", ".onnx");
    try {
      java.nio.file.Files.writeString(file, "hello");
      IllegalArgumentException e =
          org.junit.jupiter.api.Assertions.assertThrows(
              IllegalArgumentException.class, () -> AttentionFinder.read(file));
      assertTrue(e.getMessage().contains("is not an ONNX model"), e.getMessage());
      ModelProto empty = ModelProto.getDefaultInstance();
      org.junit.jupiter.api.Assertions.assertThrows(
          IllegalArgumentException.class, () -> new ModelGraph(empty));
    } finally {
      java.nio.file.Files.deleteIfExists(file);
    }
  }
}
