package io.github.djlattention.blocks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import io.github.djlattention.testing.TestTensors;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The one description of a block's structure, as blocks, state dicts and the exporter read it. */
class BlockLayoutTest {

  /** The names and shapes of an initialized block's parameters, in registration order. */
  private static Map<String, Shape> parameters(AttentionBlock block) {
    Map<String, Shape> shapes = new LinkedHashMap<>();
    for (Parameter parameter : block.getParameters().values()) {
      shapes.put(parameter.getName(), parameter.getArray().getShape());
    }
    return shapes;
  }

  @ParameterizedTest(name = "E={0} H={1} G={2} Ek={3} Ev={4} bias={5} out_proj={6}")
  @CsvSource({
    "12, 4, 2, 12, 12, true, true",
    "12, 6, 3, 5, 7, false, true",
    "8, 2, 2, 8, 8, true, false",
    "4, 1, 1, 3, 9, false, false"
  })
  void multiHeadLayoutDescribesTheBlocksParameters(
      int e, int h, int g, int ek, int ev, boolean bias, boolean out) {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(e)
            .setHeads(h)
            .optKvHeads(g)
            .optKeySize(ek)
            .optValueSize(ev)
            .optBias(bias)
            .optOutputProjection(out)
            .build();
    BlockLayout layout = BlockLayout.of(block);
    assertEquals(new BlockLayout(false, e, ek, ev, h, g, e / h, bias, out), layout);
    assertEquals("MultiHeadAttentionBlock", layout.kind());
    assertEquals(e, layout.outputSize(), "H·D = E with or without out_proj");
    try (NDManager manager = TestTensors.manager()) {
      block.initialize(
          manager, DataType.FLOAT32, new Shape(1, 2, e), new Shape(1, 3, ek), new Shape(1, 3, ev));
      assertEquals(parameters(block), layout.parameterShapes());
    }
    AttentionBlock rebuilt = layout.newBlock(true, AttentionWeights.PER_HEAD);
    assertEquals(layout, rebuilt.getLayout());
    assertTrue(rebuilt.isCausal());
    assertEquals(AttentionWeights.PER_HEAD, rebuilt.getAttentionWeights());
  }

  @Test
  void selfAttentionLayoutIsOneHeadWithoutOutputProjection() {
    SelfAttentionBlock block =
        SelfAttentionBlock.builder().setEmbeddingSize(8).optHeadSize(5).optBias(true).build();
    BlockLayout layout = block.getLayout();
    assertEquals(new BlockLayout(true, 8, 8, 8, 1, 1, 5, true, false), layout);
    assertEquals("W_q", layout.queryProjection());
    assertEquals(5, layout.outputSize());
    try (NDManager manager = TestTensors.manager()) {
      block.initialize(manager, DataType.FLOAT32, new Shape(1, 2, 8));
      assertEquals(parameters(block), layout.parameterShapes());
    }
    assertEquals(
        SelfAttentionBlock.class, layout.newBlock(false, AttentionWeights.NONE).getClass());
  }

  @Test
  void refusesLayoutsNoBlockHasWithTheirValues() {
    String grouped =
        assertThrows(
                IllegalArgumentException.class,
                () -> new BlockLayout(false, 12, 12, 12, 4, 3, 3, true, true))
            .getMessage();
    assertTrue(grouped.contains("heads 4") && grouped.contains("kv heads 3"), grouped);
    String self =
        assertThrows(
                IllegalArgumentException.class,
                () -> new BlockLayout(true, 8, 8, 8, 2, 1, 4, false, false))
            .getMessage();
    assertTrue(self.contains("one head") && self.contains("H=2"), self);
    String headSize =
        assertThrows(
                IllegalArgumentException.class,
                () -> new BlockLayout(false, 12, 12, 12, 4, 4, 4, false, true))
            .getMessage();
    assertTrue(headSize.contains("D = E / H") && headSize.contains("D=4"), headSize);
    String other =
        assertThrows(
                IllegalArgumentException.class,
                () -> BlockLayout.of(Linear.builder().setUnits(2).build()))
            .getMessage();
    assertTrue(other.contains("Linear") && other.contains("not an attention block"), other);
  }
}
