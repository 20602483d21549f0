package io.github.djlattention.blocks;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
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
}
