package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.FastAttention.Kernel;
import io.github.djlattention.ops.FastAttention.Precision;
import io.github.djlattention.testing.TestTensors;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Sequence-first inputs ({@link AttentionOptions.Builder#optSequenceFirst}) on the paths that the
 * differential test does not cover: the chain's weights and scores, past keys and values, the
 * in-place KV cache, the messages for inputs that are not 4-D, and the caller's arrays left as they
 * were. Each result must be the heads-first call's, in the sequence-first layout. ({@code
 * KernelDifferentialTest} runs every kernel on sequence-first copies of its random cases.)
 *
 * <p>Legend: B batch, H query heads, G key/value heads, S query length, T key length, D head size.
 */
class SequenceFirstTest {

  private static final int B = 2;
  private static final int H = 4;
  private static final int G = 2;
  private static final int S = 5;
  private static final int T = 7;
  private static final int D = 8;

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  private static NDArray random(NDManager m, Random random, long... shape) {
    int size = (int) new Shape(shape).size();
    return TestTensors.create(m, TestTensors.uniform(random, size), DataType.FLOAT32, shape);
  }

  /** (B, H, S, D) to (B, S, H, D) and back, as a contiguous copy. */
  private static NDArray swapped(NDManager m, NDArray array) {
    NDArray copy = array.transpose(0, 2, 1, 3).duplicate();
    copy.attach(m);
    return copy;
  }

  @Test
  void theChainReturnsTheHeadsFirstWeightsAndScores() {
    try (NDManager m = manager.newSubManager()) {
      Random random = new Random(1);
      NDArray q = random(m, random, B, H, S, D);
      NDArray k = random(m, random, B, G, T, D);
      NDArray v = random(m, random, B, G, T, D);
      NDArray mask = random(m, random, S, T).gt(-0.6f);
      AttentionOptions heads =
          AttentionOptions.builder()
              .optMask(mask)
              .optSoftcap(2.5)
              .optScoresOutput(ScoresOutput.MASKED)
              .build();
      AttentionResult expected = Attention.attention(q, k, v, heads);
      AttentionOptions first = heads.toBuilder().optSequenceFirst(true).build();
      AttentionResult actual =
          Attention.attention(swapped(m, q), swapped(m, k), swapped(m, v), first);
      assertEquals(new Shape(B, S, H, D), actual.output().getShape());
      assertClose(
          "output", doubles(swapped(m, expected.output())), doubles(actual.output()), 1e-6, 0);
      assertEquals(new Shape(B, H, S, T), actual.weights().getShape());
      assertClose("weights", doubles(expected.weights()), doubles(actual.weights()), 1e-6, 0);
      assertClose("scores", doubles(expected.scores()), doubles(actual.scores()), 1e-6, 0);
      assertSame(m, actual.output().getManager(), "the result belongs to the query's manager");
    }
  }

  @Test
  void pastKeysAndValuesAreSequenceFirstToo() {
    try (NDManager m = manager.newSubManager()) {
      Random random = new Random(2);
      NDArray q = random(m, random, B, H, S, D);
      NDArray k = random(m, random, B, G, S, D);
      NDArray v = random(m, random, B, G, S, D);
      NDArray pastK = random(m, random, B, G, T, D);
      NDArray pastV = random(m, random, B, G, T, D);
      AttentionOptions heads =
          AttentionOptions.builder().optCausal(true).optKvCache(pastK, pastV).build();
      AttentionResult expected = Attention.attention(q, k, v, heads);
      AttentionOptions first =
          heads.toBuilder()
              .optKvCache(swapped(m, pastK), swapped(m, pastV))
              .optSequenceFirst(true)
              .build();
      AttentionResult actual =
          Attention.attention(swapped(m, q), swapped(m, k), swapped(m, v), first);
      assertClose(
          "output", doubles(swapped(m, expected.output())), doubles(actual.output()), 1e-6, 0);
      assertEquals(new Shape(B, T + S, G, D), actual.presentKey().getShape());
      assertClose(
          "present key",
          doubles(swapped(m, expected.presentKey())),
          doubles(actual.presentKey()),
          0,
          0);
      assertClose(
          "present value",
          doubles(swapped(m, expected.presentValue())),
          doubles(actual.presentValue()),
          0,
          0);
    }
  }

  @Test
  void theInPlaceCacheTakesSequenceFirstSteps() {
    for (boolean stepByStep : new boolean[] {false, true}) {
      try (NDManager m = manager.newSubManager();
          KvCache heads = cache(m);
          KvCache first = cache(m)) {
        Random random = new Random(3);
        for (int step = 0; step < 4; step++) {
          long s = step == 0 ? S : 1; // a prefill, then single tokens
          NDArray q = random(m, random, B, H, s, D);
          NDArray k = random(m, random, B, G, s, D);
          NDArray v = random(m, random, B, G, s, D);
          AttentionOptions options =
              AttentionOptions.builder().optCausal(true).optReturnWeights(false).build();
          AttentionOptions cached = options.toBuilder().optCache(heads.layer(0)).build();
          AttentionOptions cachedFirst =
              options.toBuilder().optCache(first.layer(0)).optSequenceFirst(true).build();
          NDArray expected =
              stepByStep
                  ? Attention.attentionStepByStep(q, k, v, cached).output()
                  : Attention.attention(q, k, v, cached).output();
          NDArray qs = swapped(m, q);
          NDArray ks = swapped(m, k);
          NDArray vs = swapped(m, v);
          NDArray actual =
              stepByStep
                  ? Attention.attentionStepByStep(qs, ks, vs, cachedFirst).output()
                  : Attention.attention(qs, ks, vs, cachedFirst).output();
          assertEquals(new Shape(B, s, H, D), actual.getShape());
          assertClose("step " + step, doubles(swapped(m, expected)), doubles(actual), 1e-6, 0);
        }
        assertClose(
            "the cached keys",
            doubles(heads.layer(0).keys()),
            doubles(first.layer(0).keys()),
            0,
            0);
      }
    }
  }

  private static KvCache cache(NDManager m) {
    return KvCache.builder()
        .setManager(m)
        .setLayers(1)
        .setBatchSize(B)
        .setKvHeads(G)
        .setHeadSize(D)
        .setCapacity(16)
        .build();
  }

  @Test
  void inputsThatAreNotFourDimensionalAreRefusedByName() {
    try (NDManager m = manager.newSubManager()) {
      Random random = new Random(4);
      NDArray q = random(m, random, B, S, D);
      NDArray k = random(m, random, B, T, D);
      AttentionOptions first = AttentionOptions.builder().optSequenceFirst(true).build();
      for (AttentionOptions options :
          new AttentionOptions[] {first, first.toBuilder().optReturnWeights(false).build()}) {
        IllegalArgumentException e =
            assertThrows(
                IllegalArgumentException.class, () -> Attention.attention(q, k, k, options));
        assertTrue(
            e.getMessage().contains("sequence-first attention takes 4-D query (B, S, H, D)"),
            e.getMessage());
      }
      NDArray q4 = random(m, random, B, S, H, D);
      NDArray k4 = random(m, random, B, T, 3, D); // 3 key heads do not divide 4 query heads
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Attention.attention(
                      q4, k4, k4, first.toBuilder().optReturnWeights(false).build()));
      assertTrue(e.getMessage().contains("query heads (4)"), e.getMessage());
    }
  }

  @Test
  void emptyQueriesOrKeysGiveAnEmptyOrZeroOutputInTheLayout() {
    try (NDManager m = manager.newSubManager()) {
      Random random = new Random(6);
      AttentionOptions first =
          AttentionOptions.builder().optSequenceFirst(true).optReturnWeights(false).build();
      NDArray noQueries = random(m, random, B, 0, H, D);
      NDArray k = random(m, random, B, T, G, D);
      assertEquals(
          new Shape(B, 0, H, D), Attention.attention(noQueries, k, k, first).output().getShape());
      NDArray q = random(m, random, B, S, H, D);
      NDArray noKeys = random(m, random, B, 0, G, D);
      NDArray out = Attention.attention(q, noKeys, noKeys, first).output();
      assertEquals(new Shape(B, S, H, D), out.getShape());
      assertClose("no keys", new double[B * S * H * D], doubles(out), 0, 0);
    }
  }

  @Test
  void theCallersArraysStayTheCallers() {
    try (NDManager m = manager.newSubManager()) {
      Random random = new Random(5);
      NDArray q = random(m, random, B, S, H, D);
      NDArray k = random(m, random, B, T, G, D);
      NDArray v = random(m, random, B, T, G, D);
      double[] before = doubles(q);
      AttentionOptions first =
          AttentionOptions.builder().optSequenceFirst(true).optReturnWeights(false).build();
      for (Kernel kernel : Kernel.values()) {
        if (kernel == Kernel.AUTO
            || FastAttention.refusal(q, k, v, first, Precision.INPUT, kernel) != null) {
          continue;
        }
        NDArray out = FastAttention.output(q, k, v, first, Precision.INPUT, kernel);
        assertSame(m, out.getManager(), kernel + ": the result belongs to the query's manager");
        out.close();
      }
      Attention.attention(q, k, v, first.toBuilder().optReturnWeights(true).build())
          .output()
          .close();
      for (NDArray input : new NDArray[] {q, k, v}) {
        assertFalse(input.isReleased(), "a caller's array was closed");
        assertSame(m, input.getManager(), "a caller's array changed hands");
      }
      assertClose("the query's values", before, doubles(q), 0, 0);
    }
  }
}
