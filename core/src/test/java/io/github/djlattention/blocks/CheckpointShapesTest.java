package io.github.djlattention.blocks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpoint whose shapes do not fit the block is refused when it is loaded, naming the parameter
 * and both shapes, instead of loading silently and failing later in a reshape.
 */
class CheckpointShapesTest {

  private static MultiHeadAttentionBlock gqa(int kvHeads) {
    return MultiHeadAttentionBlock.builder()
        .setEmbeddingSize(16)
        .setHeads(4)
        .optKvHeads(kvHeads)
        .build();
  }

  /**
   * Regression: a kv-heads-2 model loaded into a kv-heads-4 block through DJL's {@code Model.load}
   * loaded silently, then the first forward failed with {@code shape '[1, 3, 4, 4]' is invalid for
   * input of size 24}.
   */
  @Test
  void djlLoadRefusesAKvHeadsTwoModelInAKvHeadsFourBlock(@TempDir Path dir) throws Exception {
    try (Model model = Model.newInstance("gqa", "PyTorch")) {
      MultiHeadAttentionBlock saved = gqa(2);
      model.setBlock(saved);
      saved.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 3, 16));
      model.save(dir, "gqa");
    }
    try (Model model = Model.newInstance("gqa", "PyTorch")) {
      model.setBlock(gqa(4));
      MalformedModelException e =
          assertThrows(MalformedModelException.class, () -> model.load(dir, "gqa"));
      String message = e.getMessage();
      assertTrue(
          message.contains("k_proj.weight")
              && message.contains("(8, 16)")
              && message.contains("(16, 16)"),
          message);
    }
  }

  @Test
  void djlLoadRefusesAnotherHeadSizeInTheSeedBlock(@TempDir Path dir) throws Exception {
    try (Model model = Model.newInstance("seed", "PyTorch")) {
      SelfAttentionBlock saved =
          SelfAttentionBlock.builder().setEmbeddingSize(8).optHeadSize(4).optBias(true).build();
      model.setBlock(saved);
      saved.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 3, 8));
      model.save(dir, "seed");
    }
    try (Model model = Model.newInstance("seed", "PyTorch")) {
      model.setBlock(
          SelfAttentionBlock.builder().setEmbeddingSize(8).optHeadSize(6).optBias(true).build());
      String message =
          assertThrows(MalformedModelException.class, () -> model.load(dir, "seed")).getMessage();
      assertTrue(
          message.contains("W_q.weight is (4, 8) in the file, the block needs (6, 8)")
              && message.contains("W_v.bias is (4) in the file, the block needs (6)"),
          message);
    }
  }

  /**
   * The same checkpoint as a PyTorch state dict, loaded with {@link StateDicts#load(AttentionBlock,
   * java.util.Map)} into an existing kv-heads-4 block: refused before any parameter is written.
   */
  @Test
  void stateDictsRefuseAKvHeadsTwoStateDictInAKvHeadsFourBlock() {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> stateDict = new LinkedHashMap<>();
      stateDict.put("q_proj.weight", manager.ones(new Shape(16, 16)));
      stateDict.put("q_proj.bias", manager.ones(new Shape(16)));
      stateDict.put("k_proj.weight", manager.ones(new Shape(8, 16)));
      stateDict.put("k_proj.bias", manager.ones(new Shape(8)));
      stateDict.put("v_proj.weight", manager.ones(new Shape(8, 16)));
      stateDict.put("v_proj.bias", manager.ones(new Shape(8)));
      stateDict.put("out_proj.weight", manager.ones(new Shape(16, 16)));
      stateDict.put("out_proj.bias", manager.ones(new Shape(16)));
      MultiHeadAttentionBlock block = gqa(4);
      block.initialize(manager, DataType.FLOAT32, new Shape(1, 3, 16));
      double[] before = TestTensors.doubles(BlockParameters.get(block, "q_proj.weight"));
      String message =
          assertThrows(IllegalArgumentException.class, () -> StateDicts.load(block, stateDict))
              .getMessage();
      assertTrue(
          message.contains("k_proj.weight")
              && message.contains("(8, 16)")
              && message.contains("(16, 16)")
              && message.contains("kv heads 2"),
          message);
      assertArrayEquals(
          before,
          TestTensors.doubles(BlockParameters.get(block, "q_proj.weight")),
          "nothing is written when the checkpoint does not fit");
    }
  }
}
