package io.github.djlattention.blocks;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import io.github.djlattention.testing.TestTensors;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Bad and extreme inputs through a DJL {@link Predictor}: every refusal is an {@link
 * IllegalArgumentException} (wrapped by DJL in a {@link TranslateException}) naming what is wrong;
 * empty axes give empty or defined results; NaN and ∞ propagate.
 */
class BlockRobustnessTest {

  private Model model;
  private Predictor<NDList, NDList> predictor;
  private NDManager data;

  @BeforeEach
  void open() {
    data = TestTensors.manager();
  }

  @AfterEach
  void close() {
    if (predictor != null) {
      predictor.close();
    }
    if (model != null) {
      model.close();
    }
    data.close();
  }

  /** Initializes {@code block} for (1, 3, E) inputs and opens a predictor on it. */
  private void use(Block block, long embedding) {
    model = Model.newInstance("robustness", "PyTorch");
    model.setBlock(block);
    block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 3, embedding));
    predictor = model.newPredictor(new NoopTranslator());
  }

  private static MultiHeadAttentionBlock multiHead() {
    return MultiHeadAttentionBlock.builder()
        .setEmbeddingSize(8)
        .setHeads(4)
        .optKvHeads(2)
        .optAttentionWeights(AttentionWeights.AVERAGED)
        .build();
  }

  private NDList predict(NDArray... inputs) {
    try {
      return predictor.predict(new NDList(inputs));
    } catch (TranslateException e) {
      throw new IllegalStateException(e);
    }
  }

  private NDArray zeros(long... shape) {
    return data.zeros(new Shape(shape));
  }

  /** Asserts that the call fails with an IllegalArgumentException somewhere in its causes. */
  private static String refused(Executable call, String... parts) {
    Throwable thrown = assertThrows(Exception.class, call);
    Throwable cause = thrown;
    while (cause != null && !(cause instanceof IllegalArgumentException)) {
      cause = cause.getCause();
    }
    if (cause == null) {
      fail("expected an IllegalArgumentException, got " + thrown, thrown);
    }
    for (String part : parts) {
      assertTrue(
          cause.getMessage().contains(part), "'" + cause.getMessage() + "' should name " + part);
    }
    return cause.getMessage();
  }

  @Test
  void emptySequencesGiveEmptyResults() {
    use(multiHead(), 8);
    NDList self = predict(zeros(2, 0, 8));
    assertEquals(new Shape(2, 0, 8), self.get(0).getShape());
    assertEquals(new Shape(2, 0, 0), self.get(1).getShape());
    NDList noBatch = predict(zeros(0, 3, 8));
    assertEquals(new Shape(0, 3, 8), noBatch.get(0).getShape());
    assertEquals(new Shape(0, 3, 3), noBatch.get(1).getShape());
  }

  @Test
  void noKeysGiveTheOutputProjectionOfZero() {
    // T = 0: every query row is fully masked, the attention output is 0 and the block's output is
    // out_proj(0) = out_proj.bias.
    MultiHeadAttentionBlock block = multiHead();
    use(block, 8);
    MultiHeadAttentionBlockTest.randomizeBiases(block, 3);
    NDList out = predict(zeros(2, 3, 8), zeros(2, 0, 8), zeros(2, 0, 8));
    assertEquals(new Shape(2, 3, 8), out.get(0).getShape());
    assertEquals(new Shape(2, 3, 0), out.get(1).getShape());
    double[] bias = doubles(BlockParameters.get(block, "out_proj.bias"));
    double[] expected = new double[2 * 3 * 8];
    for (int n = 0; n < expected.length; n++) {
      expected[n] = bias[n % 8];
    }
    assertClose("T = 0 output", expected, doubles(out.get(0)), 1e-6, 0);
  }

  @Test
  void selfAttentionBlockHandlesAnEmptySequence() {
    use(
        SelfAttentionBlock.builder()
            .setEmbeddingSize(8)
            .optHeadSize(4)
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .build(),
        8);
    NDList out = predict(zeros(2, 0, 8));
    assertEquals(new Shape(2, 0, 4), out.get(0).getShape());
    assertEquals(new Shape(2, 0, 0), out.get(1).getShape());
  }

  @ParameterizedTest
  @EnumSource(
      value = DataType.class,
      names = {"FLOAT64", "FLOAT16", "INT32", "INT64", "INT8", "UINT8", "BOOLEAN"})
  void inputsOfAnotherTypeThanTheParametersAreNamed(DataType type) {
    use(multiHead(), 8);
    refused(() -> predict(data.zeros(new Shape(1, 3, 8), type)), "float32", type.toString());
  }

  @Test
  void selfAttentionBlockNamesTheInputType() {
    use(SelfAttentionBlock.builder().setEmbeddingSize(8).build(), 8);
    refused(
        () -> predict(data.zeros(new Shape(1, 3, 8), DataType.FLOAT64)), "W_q.weight", "float64");
  }

  @Test
  void masksThatDoNotBroadcastAreNamed() {
    use(multiHead(), 8);
    NDArray x = zeros(2, 3, 8);
    refused(() -> predict(x, data.ones(new Shape(4, 3), DataType.BOOLEAN)), "mask (4, 3)");
    refused(
        () -> predict(x, data.ones(new Shape(3, 3, 3), DataType.BOOLEAN)), "does not broadcast");
    refused(
        () -> predict(x, data.ones(new Shape(1, 2, 2, 3, 3), DataType.BOOLEAN)), "more dimensions");
    refused(() -> predict(x, data.zeros(new Shape(3, 3), DataType.INT32)), "int32");
  }

  @Test
  void wrongInputCountsAndRanksAreNamed() {
    use(multiHead(), 8);
    NDArray x = zeros(1, 3, 8);
    refused(() -> predict(x, x, x, x, x), "5 inputs");
    refused(() -> predict(zeros(3, 8)), "(3, 8)");
    refused(() -> predict(x, zeros(1, 4, 8), zeros(1, 5, 8)), "(1, 4, 8)", "(1, 5, 8)");
    refused(() -> predict(x, zeros(2, 4, 8), zeros(2, 4, 8)), "batch");
  }

  @Test
  void selfAttentionBlockRefusesCrossAttentionInputs() {
    use(SelfAttentionBlock.builder().setEmbeddingSize(8).build(), 8);
    NDArray x = zeros(1, 3, 8);
    refused(() -> predict(x, x, x), "3 inputs");
  }

  @Test
  void scoresTooLargeToAllocateAreRefusedBeforeTheAttention() {
    // x is 1.3 MB; its scores (1, 4, 40000, 40000) would be 25.6 GB of float32.
    use(multiHead(), 8);
    refused(() -> predict(zeros(1, 40_000, 8)), "(1, 4, 40000, 40000)", "limit");
  }

  @ParameterizedTest
  @EnumSource(
      value = AttentionWeights.class,
      names = {"NONE", "AVERAGED"})
  void nanOrInfinityInOneTokenPoisonsItsSequenceOnly(AttentionWeights weights) {
    // Causal self-attention with a NaN (or +∞) in token p of sequence 0: queries i ≥ p read it
    // through their scores, queries i < p through 0·NaN (or 0·∞) in the weighted sum of V, as IEEE
    // arithmetic and the float64 reference do. The other sequence of the batch stays finite.
    SelfAttentionBlock block =
        SelfAttentionBlock.builder()
            .setEmbeddingSize(8)
            .optHeadSize(4)
            .optCausal(true)
            .optAttentionWeights(weights) // the fast path, and the chain that gives weights
            .build();
    use(block, 8);
    int length = 6;
    for (float poison : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
      float[] x = new float[2 * length * 8];
      Random random = new Random(11);
      for (int n = 0; n < x.length; n++) {
        x[n] = random.nextFloat() - 0.5f;
      }
      x[2 * 8 + 3] = poison;
      NDList out = predict(data.create(x, new Shape(2, length, 8)));
      NDArray output = out.get(0);
      assertEquals(
          length * 4L,
          output.get("0").isNaN().sum().getLong(),
          poison + ": every output of sequence 0 is NaN");
      NDArray other = output.get("1");
      assertEquals(
          0L,
          other.isNaN().logicalOr(other.isInfinite()).sum().getLong(),
          poison + ": sequence 1 stays finite");
    }
  }
}
