package io.github.djlattention.blocks;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoopTranslator;
import io.github.djlattention.reference.ReferenceAttention;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SelfAttentionBlockTest {

  @ParameterizedTest(name = "E={0} D={1} bias={2} causal={3}")
  @CsvSource({"8,4,false,false", "8,6,true,false", "5,5,false,true", "16,8,true,true"})
  void predictorMatchesTheSeedStepsInFloat64(int e, int d, boolean bias, boolean causal)
      throws Exception {
    SelfAttentionBlock block =
        SelfAttentionBlock.builder()
            .setEmbeddingSize(e)
            .optHeadSize(d)
            .optBias(bias)
            .optCausal(causal)
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .build();
    int batch = 2;
    int length = 5;
    try (Model model = Model.newInstance("seed", "PyTorch");
        NDManager data = NDManager.newBaseManager("PyTorch")) {
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(batch, length, e));
      MultiHeadAttentionBlockTest.randomizeBiases(block, e * 31L + d);
      NDArray x = data.randomUniform(-1, 1, new Shape(batch, length, e));
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        NDList out = predictor.predict(new NDList(x));
        assertEquals(new Shape(batch, length, d), out.get(0).getShape());
        assertEquals(new Shape(batch, length, length), out.get(1).getShape());

        double[] xs = doubles(x);
        int rows = batch * length;
        // V = X·W_vᵀ, and likewise Q and K
        double[] q = project(block, "W_q", xs, rows, e, d);
        double[] k = project(block, "W_k", xs, rows, e, d);
        double[] v = project(block, "W_v", xs, rows, e, d);
        ReferenceAttention.Result expected =
            ReferenceAttention.attention(
                BlockReference.splitHeads(q, batch, length, 1, d),
                BlockReference.splitHeads(k, batch, length, 1, d),
                BlockReference.splitHeads(v, batch, length, 1, d),
                new ReferenceAttention.Options(null, causal, null, null));
        assertClose("output", expected.output().data(), doubles(out.get(0)), 1e-5, 1e-5);
        assertClose("weights", expected.weights().data(), doubles(out.get(1)), 1e-5, 1e-5);
      }
    }
  }

  @Test
  void savesAndLoadsInDjlFormat(@TempDir Path dir) throws Exception {
    Shape shape = new Shape(1, 3, 4);
    double[] before;
    try (Model model = Model.newInstance("seed", "PyTorch");
        NDManager data = NDManager.newBaseManager("PyTorch")) {
      SelfAttentionBlock block = SelfAttentionBlock.builder().setEmbeddingSize(4).build();
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, shape);
      try (Predictor<NDList, NDList> p = model.newPredictor(new NoopTranslator())) {
        before = doubles(p.predict(new NDList(data.ones(shape))).get(0));
      }
      model.save(dir, "seed");
    }
    try (Model model = Model.newInstance("seed", "PyTorch");
        NDManager data = NDManager.newBaseManager("PyTorch")) {
      model.setBlock(SelfAttentionBlock.builder().setEmbeddingSize(4).build());
      model.load(dir, "seed");
      try (Predictor<NDList, NDList> p = model.newPredictor(new NoopTranslator())) {
        assertClose(
            "reloaded", before, doubles(p.predict(new NDList(data.ones(shape))).get(0)), 0, 0);
      }
    }
  }

  @Test
  void rejectsAMissingEmbeddingSize() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> SelfAttentionBlock.builder().build());
    assertTrue(e.getMessage().contains("embedding size"), e.getMessage());
  }

  private static double[] project(
      SelfAttentionBlock block, String name, double[] x, int rows, int e, int d) {
    return BlockReference.linear(
        x,
        rows,
        BlockReference.param(block, name + ".weight"),
        BlockReference.optParam(block, name + ".bias"),
        e,
        d);
  }
}
