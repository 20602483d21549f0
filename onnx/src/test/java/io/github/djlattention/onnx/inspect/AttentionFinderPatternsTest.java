package io.github.djlattention.onnx.inspect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.onnx.proto.OnnxMl.ModelProto;
import io.github.djlattention.testing.TestTensors;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The graph analysis on the ways exporters write attention out, and on fused operators. */
class AttentionFinderPatternsTest {

  @Test
  void bertStyleMulScaleAndAdditivePaddingMask() {
    try (NDManager m = TestTensors.manager()) {
      List<AttentionSite> sites = AttentionFinder.find(PatternGraphs.bertStyle(m, 0.5f));
      assertEquals(1, sites.size());
      AttentionSite s = sites.get(0);
      assertEquals(AttentionSite.Form.WRITTEN_OUT, s.form());
      assertEquals(4, s.heads());
      assertEquals(4, s.kvHeads());
      assertEquals(4, s.headSize());
      assertEquals(0.5, s.scale(), 0);
      assertEquals("Mul by 0.500000 on the scores (= 1/sqrt(4))", s.scaleDescription());
      SiteMask.Additive mask = assertInstanceOf(SiteMask.Additive.class, s.masks().get(0));
      assertEquals("attention_mask -> Unsqueeze -> Cast -> Sub -> Mul", mask.source());
      assertTrue(s.selfAttention());
      assertEquals("x", s.input());
      assertEquals("o.weight", s.outputProjection().weight());
    }
  }

  @Test
  void gptStylePackedProjectionScaledQAndKAndCausalWhere() {
    try (NDManager m = TestTensors.manager()) {
      AttentionSite s = AttentionFinder.find(PatternGraphs.gptStyle(m)).get(0);
      assertEquals(
          List.of("query", "key"),
          s.scaleSteps().stream().map(AttentionSite.ScaleStep::on).toList());
      assertEquals(1 / Math.sqrt(4), s.scale(), 1e-7);
      assertTrue(s.causal());
      SiteMask.Select mask = assertInstanceOf(SiteMask.Select.class, s.masks().get(0));
      assertTrue(mask.keepWhere());
      assertTrue(mask.causal());
      long[][] columns = {{0, 16}, {16, 32}, {32, 48}};
      List<Projection> projections =
          List.of(s.queryProjection(), s.keyProjection(), s.valueProjection());
      for (int i = 0; i < 3; i++) {
        Projection.FloatWeights f =
            assertInstanceOf(Projection.FloatWeights.class, projections.get(i));
        assertEquals("c_attn.weight", f.weight());
        assertEquals("c_attn.bias", f.bias());
        assertEquals(columns[i][0], f.columnStart());
        assertEquals(columns[i][1], f.columnEnd());
      }
      assertEquals(4, s.heads());
      assertTrue(s.selfAttention());
    }
  }

  @Test
  void softcapWithDivScaleOnGivenHeads() {
    AttentionSite s = AttentionFinder.find(PatternGraphs.softcapped()).get(0);
    assertEquals(30.0, s.softcap(), 0);
    assertEquals(0.5, s.scale(), 0);
    assertEquals("q", s.query());
    assertEquals("k_t", s.key());
    assertEquals("v", s.value());
    assertNull(s.heads(), "no head split in the graph: the run tells");
    assertNull(s.queryProjection());
    assertEquals(List.of(), s.masks());
  }

  @Test
  void fusedOperatorsOfOnnxRuntime() {
    try (NDManager m = TestTensors.manager()) {
      ModelProto model = PatternGraphs.fused(m);
      List<AttentionSite> sites = AttentionFinder.find(model);
      assertEquals(
          List.of(
              AttentionSite.Form.MS_ATTENTION,
              AttentionSite.Form.MS_MULTI_HEAD_ATTENTION,
              AttentionSite.Form.MS_GROUP_QUERY_ATTENTION),
          sites.stream().map(AttentionSite::form).toList());
      AttentionSite attention = sites.get(0);
      assertEquals(4, attention.heads());
      assertEquals(4, attention.headSize());
      assertTrue(attention.causal(), "unidirectional=1");
      assertEquals("x", attention.input());
      assertEquals(32, attention.valueProjection().columnStart());
      assertEquals("attn.weight", attention.keyProjection().weight());

      AttentionSite mha = sites.get(1);
      assertEquals(4, mha.heads());
      assertEquals("key_padding_mask", ((SiteMask.OperatorInput) mha.masks().get(0)).role());
      assertEquals("key_padding_mask", mha.masks().get(0).source());
      assertEquals("mha0.weight", mha.queryProjection().weight());

      AttentionSite gqa = sites.get(2);
      assertEquals(2, gqa.heads());
      assertEquals(1, gqa.kvHeads());
      assertEquals(8, gqa.headSize());
      assertTrue(gqa.causal());
      assertEquals("seqlens_k", ((SiteMask.OperatorInput) gqa.masks().get(0)).role());
      assertEquals(8, gqa.keyProjection().columnEnd());
    }
  }
}
