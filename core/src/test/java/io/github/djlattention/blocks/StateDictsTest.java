package io.github.djlattention.blocks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import io.github.djlattention.testing.TestTensors;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Names, shapes and heads that {@link StateDicts} accepts, infers and rejects. */
class StateDictsTest {

  private static Map<String, Shape> shapes(Object... namesAndShapes) {
    Map<String, Shape> shapes = new LinkedHashMap<>();
    for (int i = 0; i < namesAndShapes.length; i += 2) {
      shapes.put((String) namesAndShapes[i], (Shape) namesAndShapes[i + 1]);
    }
    return shapes;
  }

  private static String rejection(Map<String, Shape> shapes, int heads) {
    return assertThrows(IllegalArgumentException.class, () -> StateDicts.inspect(shapes, heads))
        .getMessage();
  }

  @Test
  void infersPackedTorchLayout() {
    Map<String, Shape> packed =
        shapes(
            "in_proj_weight", new Shape(48, 16),
            "in_proj_bias", new Shape(48),
            "out_proj.weight", new Shape(16, 16),
            "out_proj.bias", new Shape(16));
    assertEquals(StateDicts.Scheme.TORCH_PACKED, StateDicts.scheme(packed.keySet()));
    assertEquals(
        new BlockLayout(false, 16, 16, 16, 4, 4, 4, true, true), StateDicts.inspect(packed, 4));
  }

  @Test
  void infersGroupedHeadsFromBlockNames() {
    Map<String, Shape> grouped =
        shapes(
            "q_proj.weight", new Shape(12, 12),
            "k_proj.weight", new Shape(6, 5),
            "v_proj.weight", new Shape(6, 7),
            "out_proj.weight", new Shape(12, 12));
    assertEquals(StateDicts.Scheme.BLOCK, StateDicts.scheme(grouped.keySet()));
    BlockLayout layout = StateDicts.inspect(grouped, 4);
    assertEquals(new BlockLayout(false, 12, 5, 7, 4, 2, 3, false, true), layout);
    assertEquals(grouped, layout.parameterShapes(), "the layout's parameters are the dict's");
  }

  @Test
  void seedModuleIsSingleHead() {
    Map<String, Shape> seed =
        shapes(
            "W_q.weight",
            new Shape(4, 8),
            "W_k.weight",
            new Shape(4, 8),
            "W_v.weight",
            new Shape(4, 8));
    assertTrue(StateDicts.inspect(seed, 0).selfAttention());
    assertTrue(rejection(seed, 2).contains("one head"));
  }

  @Test
  void rejectsUnknownNamesNamingThem() {
    String message =
        rejection(
            shapes(
                "in_proj_weight", new Shape(24, 8),
                "out_proj.weight", new Shape(8, 8),
                "bias_k", new Shape(1, 1, 8)),
            2);
    assertTrue(message.contains("unknown") && message.contains("bias_k"), message);
  }

  @Test
  void rejectsMissingNamesNamingThem() {
    String message = rejection(shapes("in_proj_weight", new Shape(24, 8)), 2);
    assertTrue(message.contains("missing") && message.contains("out_proj.weight"), message);
    String bias =
        rejection(
            shapes(
                "W_q.weight", new Shape(4, 8),
                "W_k.weight", new Shape(4, 8),
                "W_v.weight", new Shape(4, 8),
                "W_q.bias", new Shape(4)),
            0);
    assertTrue(bias.contains("W_k.bias") && bias.contains("W_v.bias"), bias);
  }

  @Test
  void rejectsInconsistentShapesNamingThem() {
    String message =
        rejection(
            shapes(
                "in_proj_weight", new Shape(24, 8),
                "out_proj.weight", new Shape(8, 6)),
            2);
    assertTrue(message.contains("out_proj.weight") && message.contains("(8, 6)"), message);
    String packed =
        rejection(
            shapes("in_proj_weight", new Shape(20, 8), "out_proj.weight", new Shape(8, 8)), 2);
    assertTrue(packed.contains("in_proj_weight") && packed.contains("(24, 8)"), packed);
  }

  @Test
  void requiresHeadsForMultiHeadNamesAndChecksThem() {
    Map<String, Shape> torch =
        shapes("in_proj_weight", new Shape(24, 8), "out_proj.weight", new Shape(8, 8));
    assertTrue(rejection(torch, 0).contains("heads must be given"));
    assertTrue(rejection(torch, 3).contains("not a multiple of heads 3"));
    assertTrue(rejection(shapes(), 1).contains("cannot tell the module"));
  }

  @Test
  void loadSplitsThePackedProjection() {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> dict = new LinkedHashMap<>();
      dict.put("in_proj_weight", manager.arange(0f, 48f).reshape(12, 4));
      dict.put("in_proj_bias", manager.arange(100f, 112f));
      dict.put("out_proj.weight", manager.ones(new Shape(4, 4)));
      dict.put("out_proj.bias", manager.zeros(new Shape(4)));
      MultiHeadAttentionBlock block = (MultiHeadAttentionBlock) StateDicts.load(dict, 2);
      assertEquals(
          dict.get("in_proj_weight").get("4:8"), BlockParameters.get(block, "k_proj.weight"));
      assertEquals(dict.get("in_proj_bias").get("8:"), BlockParameters.get(block, "v_proj.bias"));
      assertEquals(AttentionWeights.NONE, block.getAttentionWeights());
    }
  }

  @Test
  void loadsIntoTheCallersBlockKeepingItsSettingsAndLeavingTheArraysAlone() {
    try (NDManager manager = TestTensors.manager();
        NDManager caller = TestTensors.manager()) {
      Map<String, NDArray> dict = new LinkedHashMap<>();
      dict.put("in_proj_weight", caller.randomUniform(-1, 1, new Shape(24, 8)));
      dict.put("in_proj_bias", caller.randomUniform(-1, 1, new Shape(24)));
      dict.put("out_proj.weight", caller.randomUniform(-1, 1, new Shape(8, 8)));
      dict.put("out_proj.bias", caller.randomUniform(-1, 1, new Shape(8)));
      Map<String, double[]> before = new LinkedHashMap<>();
      dict.forEach((name, array) -> before.put(name, TestTensors.doubles(array)));

      MultiHeadAttentionBlock mine =
          MultiHeadAttentionBlock.builder()
              .setEmbeddingSize(8)
              .setHeads(2)
              .optCausal(true)
              .optAttentionWeights(AttentionWeights.PER_HEAD)
              .build();
      mine.initialize(manager, DataType.FLOAT64, new Shape(1, 3, 8));
      StateDicts.load(mine, dict);
      AbstractBlock fresh = StateDicts.load(manager, dict, 2, true, AttentionWeights.PER_HEAD);

      NDArray x = manager.randomUniform(-1, 1, new Shape(2, 3, 8));
      NDList a =
          mine.forward(
              new ParameterStore(manager, false),
              new NDList(x.toType(DataType.FLOAT64, false)),
              false);
      NDList b = fresh.forward(new ParameterStore(manager, false), new NDList(x), false);
      assertEquals(DataType.FLOAT64, a.get(0).getDataType(), "the block keeps its float64");
      assertEquals(new Shape(2, 2, 3, 3), a.get(1).getShape(), "and its per-head weights");
      TestTensors.assertClose(
          "caller's block vs new block",
          TestTensors.doubles(b.get(0)),
          TestTensors.doubles(a.get(0)),
          1e-5,
          1e-5);
      dict.forEach(
          (name, array) -> {
            assertSame(caller, array.getManager(), name + " stays the caller's");
            assertArrayEquals(before.get(name), TestTensors.doubles(array), name + " unchanged");
          });
    }
  }

  @Test
  void loadIntoABlockNeedsItInitializedAndTheSameStructure() {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> dict = new LinkedHashMap<>();
      dict.put("in_proj_weight", manager.ones(new Shape(24, 8)));
      dict.put("out_proj.weight", manager.ones(new Shape(8, 8)));
      MultiHeadAttentionBlock biased =
          MultiHeadAttentionBlock.builder().setEmbeddingSize(8).setHeads(2).build();
      assertThrows(IllegalStateException.class, () -> StateDicts.load(biased, dict));
      biased.initialize(manager, DataType.FLOAT32, new Shape(1, 3, 8));
      String message =
          assertThrows(IllegalArgumentException.class, () -> StateDicts.load(biased, dict))
              .getMessage();
      assertTrue(
          message.contains("the block's q_proj.bias (8) is not in the checkpoint")
              && message.contains("no biases"),
          message);
      SelfAttentionBlock seed = SelfAttentionBlock.builder().setEmbeddingSize(8).build();
      seed.initialize(manager, DataType.FLOAT32, new Shape(1, 3, 8));
      String kind =
          assertThrows(IllegalArgumentException.class, () -> StateDicts.load(seed, dict))
              .getMessage();
      assertTrue(kind.contains("the block has no q_proj.weight"), kind);
    }
  }
}
