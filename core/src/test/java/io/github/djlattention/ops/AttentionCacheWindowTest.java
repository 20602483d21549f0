package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.testing.TestTensors;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The ONNX-derived options of {@link Attention#attention}: KV cache, valid key counts, sliding
 * window, softmax precision and scores output, checked against the float64 {@link
 * ReferenceAttention} on seeded random cases and by properties such as "a cached decode step equals
 * the last row of full causal attention".
 */
class AttentionCacheWindowTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  /** One seeded random decoding case in float64. */
  record DecodeCase(
      long seed,
      int batch,
      int heads,
      int kvHeads,
      int queryLength,
      int newKeys,
      int past,
      int headSize,
      boolean causal,
      int left,
      int right,
      long[] validKeys) {

    static DecodeCase generate(long seed) {
      Random r = new Random(seed);
      int kvHeads = 1 + r.nextInt(2);
      int past = r.nextBoolean() ? 0 : 1 + r.nextInt(5);
      int newKeys = 1 + r.nextInt(5);
      int batch = 1 + r.nextInt(3);
      long[] valid = null;
      if (past == 0 && r.nextBoolean()) {
        valid = new long[batch];
        for (int b = 0; b < batch; b++) {
          valid[b] = r.nextInt(newKeys + 1);
        }
      }
      return new DecodeCase(
          seed,
          batch,
          kvHeads * (1 + r.nextInt(2)),
          kvHeads,
          1 + r.nextInt(4),
          newKeys,
          past,
          1 + r.nextInt(6),
          r.nextBoolean(),
          r.nextInt(3) == 0 ? -1 : r.nextInt(4),
          r.nextInt(3) == 0 ? -1 : r.nextInt(4),
          valid);
    }

    @Override
    public String toString() {
      return String.format(
          "seed %d: B%d H%d G%d S%d T'%d P%d D%d causal=%b window=(%d,%d) valid=%s",
          seed,
          batch,
          heads,
          kvHeads,
          queryLength,
          newKeys,
          past,
          headSize,
          causal,
          left,
          right,
          java.util.Arrays.toString(validKeys));
    }
  }

  static Stream<DecodeCase> cases() {
    return IntStream.range(0, 120).mapToObj(DecodeCase::generate);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void agreesWithTheReference(DecodeCase c) {
    Random r = new Random(c.seed() * 31 + 7);
    int total = c.past() + c.newKeys();
    double[] q = TestTensors.uniform(r, c.batch() * c.heads() * c.queryLength() * c.headSize());
    double[] pastK = TestTensors.uniform(r, c.batch() * c.kvHeads() * c.past() * c.headSize());
    double[] pastV = TestTensors.uniform(r, c.batch() * c.kvHeads() * c.past() * c.headSize());
    double[] k = TestTensors.uniform(r, c.batch() * c.kvHeads() * c.newKeys() * c.headSize());
    double[] v = TestTensors.uniform(r, c.batch() * c.kvHeads() * c.newKeys() * c.headSize());
    try (NDManager m = manager.newSubManager()) {
      NDArray query = m.create(q, new Shape(c.batch(), c.heads(), c.queryLength(), c.headSize()));
      NDArray key = m.create(k, new Shape(c.batch(), c.kvHeads(), c.newKeys(), c.headSize()));
      NDArray value = m.create(v, new Shape(c.batch(), c.kvHeads(), c.newKeys(), c.headSize()));
      AttentionOptions.Builder options =
          AttentionOptions.builder().optCausal(c.causal()).optWindow(c.left(), c.right());
      if (c.past() > 0) {
        options.optKvCache(
            m.create(pastK, new Shape(c.batch(), c.kvHeads(), c.past(), c.headSize())),
            m.create(pastV, new Shape(c.batch(), c.kvHeads(), c.past(), c.headSize())));
      }
      if (c.validKeys() != null) {
        options.optNonPadKeyLengths(m.create(c.validKeys()));
      }
      AttentionResult result = Attention.attention(query, key, value, options.build());

      NDArray fullKey = c.past() > 0 ? result.presentKey() : key;
      NDArray fullValue = c.past() > 0 ? result.presentValue() : value;
      assertEquals(new Shape(c.batch(), c.kvHeads(), total, c.headSize()), fullKey.getShape());
      ReferenceAttention.Result expected =
          ReferenceAttention.attention(
              new ReferenceAttention.Tensor(
                  q, new int[] {c.batch(), c.heads(), c.queryLength(), c.headSize()}),
              new ReferenceAttention.Tensor(
                  doubles(fullKey), new int[] {c.batch(), c.kvHeads(), total, c.headSize()}),
              new ReferenceAttention.Tensor(
                  doubles(fullValue), new int[] {c.batch(), c.kvHeads(), total, c.headSize()}),
              new ReferenceAttention.Options(
                  null,
                  c.causal(),
                  null,
                  null,
                  c.past() > 0 ? c.past() : -1,
                  c.validKeys(),
                  c.left(),
                  c.right()));
      TestTensors.assertClose(
          c + " output", expected.output().data(), doubles(result.output()), 1e-12, 0);
      TestTensors.assertClose(
          c + " weights", expected.weights().data(), doubles(result.weights()), 1e-12, 0);
      if (c.past() > 0) {
        double[] present = doubles(result.presentKey());
        // the cache comes first, then the new keys, per (batch, head)
        assertEquals(pastK[0], present[0]);
        assertEquals(k[0], present[c.past() * c.headSize()]);
      }
    }
  }

  @Test
  void aCachedDecodeStepEqualsTheLastRowOfFullCausalAttention() {
    Random r = new Random(42);
    try (NDManager m = manager.newSubManager()) {
      NDArray q = m.create(TestTensors.uniform(r, 2 * 4 * 6 * 8), new Shape(2, 4, 6, 8));
      NDArray k = m.create(TestTensors.uniform(r, 2 * 2 * 6 * 8), new Shape(2, 2, 6, 8));
      NDArray v = m.create(TestTensors.uniform(r, 2 * 2 * 6 * 8), new Shape(2, 2, 6, 8));
      AttentionResult full =
          Attention.attention(q, k, v, AttentionOptions.builder().optCausal(true).build());
      NDIndex past = new NDIndex(":, :, :5");
      NDIndex last = new NDIndex(":, :, 5:");
      AttentionResult step =
          Attention.attention(
              q.get(last),
              k.get(last),
              v.get(last),
              AttentionOptions.builder()
                  .optCausal(true)
                  .optKvCache(k.get(past), v.get(past))
                  .build());
      assertArrayEquals(doubles(full.output().get(last)), doubles(step.output()), 1e-12);
      assertArrayEquals(doubles(k), doubles(step.presentKey()), 0);
    }
  }

  @Test
  void paddingKeysGetNoWeight() {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = m.ones(new Shape(2, 1, 3, 4));
      NDArray kv = m.ones(new Shape(2, 1, 5, 4));
      AttentionResult result =
          Attention.attention(
              q,
              kv,
              kv,
              AttentionOptions.builder().optNonPadKeyLengths(m.create(new long[] {2, 5})).build());
      double[] w = doubles(result.weights());
      assertArrayEquals(
          new double[] {0.5, 0.5, 0, 0, 0}, java.util.Arrays.copyOfRange(w, 0, 5), 1e-6);
      assertArrayEquals(
          new double[] {0.2, 0.2, 0.2, 0.2, 0.2}, java.util.Arrays.copyOfRange(w, 15, 20), 1e-6);
    }
  }

  @Test
  void slidingWindowLimitsEachRowToItsBand() {
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.ones(new Shape(5, 2)).toType(DataType.FLOAT64, false);
      AttentionResult result =
          Attention.attention(x, x, x, AttentionOptions.builder().optWindow(1, 2).build());
      double[] w = doubles(result.weights());
      for (int i = 0; i < 5; i++) {
        int visible = Math.min(4, i + 2) - Math.max(0, i - 1) + 1;
        for (int j = 0; j < 5; j++) {
          boolean inBand = j >= i - 1 && j <= i + 2;
          assertEquals(inBand ? 1.0 / visible : 0, w[i * 5 + j], 1e-12, "row " + i + " key " + j);
        }
      }
    }
  }

  @Test
  void scoresOutputsFollowTheOnnxModes() {
    Random r = new Random(7);
    try (NDManager m = manager.newSubManager()) {
      NDArray q = m.create(TestTensors.uniform(r, 3 * 4), new Shape(3, 4));
      NDArray k = m.create(TestTensors.uniform(r, 3 * 4), new Shape(3, 4));
      AttentionOptions.Builder base = AttentionOptions.builder().optCausal(true).optSoftcap(0.5);
      NDArray scaled = Attention.scaledDotProductScores(q, k);
      NDArray mode0 =
          Attention.attention(q, k, k, base.optScoresOutput(ScoresOutput.SCALED).build()).scores();
      assertArrayEquals(doubles(scaled), doubles(mode0), 1e-12);
      NDArray mode1 =
          Attention.attention(q, k, k, base.optScoresOutput(ScoresOutput.SOFTCAPPED).build())
              .scores();
      assertArrayEquals(doubles(scaled.div(0.5).tanh().mul(0.5)), doubles(mode1), 1e-12);
      double[] mode2 =
          doubles(
              Attention.attention(q, k, k, base.optScoresOutput(ScoresOutput.MASKED).build())
                  .scores());
      assertEquals(Double.NEGATIVE_INFINITY, mode2[1]);
      assertEquals(doubles(mode1)[0], mode2[0], 1e-12);
      AttentionResult mode3 =
          Attention.attention(q, k, k, base.optScoresOutput(ScoresOutput.SOFTMAX).build());
      assertArrayEquals(doubles(mode3.weights()), doubles(mode3.scores()), 0);
      assertEquals(ScoresOutput.MASKED, ScoresOutput.ofOnnxMode(2));
      assertThrows(IllegalArgumentException.class, () -> ScoresOutput.ofOnnxMode(4));
    }
  }

  @Test
  void softmaxPrecisionChangesOnlyTheSoftmaxType() {
    Random r = new Random(9);
    try (NDManager m = manager.newSubManager()) {
      NDArray q =
          m.create(TestTensors.uniform(r, 12), new Shape(3, 4)).toType(DataType.FLOAT32, false);
      AttentionResult plain = Attention.attention(q, q, q);
      AttentionResult wide =
          Attention.attention(
              q, q, q, AttentionOptions.builder().optSoftmaxPrecision(DataType.FLOAT64).build());
      AttentionResult narrow =
          Attention.attention(
              q, q, q, AttentionOptions.builder().optSoftmaxPrecision(DataType.FLOAT16).build());
      assertEquals(DataType.FLOAT32, wide.output().getDataType());
      assertArrayEquals(plain.weights().toFloatArray(), wide.weights().toFloatArray(), 1e-6f);
      assertArrayEquals(plain.weights().toFloatArray(), narrow.weights().toFloatArray(), 1e-3f);
    }
  }

  @Test
  void rejectsInconsistentSettings() {
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.ones(new Shape(1, 1, 2, 4));
      IllegalArgumentException halfCache =
          assertThrows(
              IllegalArgumentException.class,
              () -> AttentionOptions.builder().optKvCache(x, null).build());
      assertTrue(
          halfCache.getMessage().contains("both past key and past value"), halfCache.getMessage());
      assertThrows(
          IllegalArgumentException.class,
          () -> AttentionOptions.builder().optWindow(-2, 0).build());
      assertThrows(
          IllegalArgumentException.class,
          () -> AttentionOptions.builder().optSoftmaxPrecision(DataType.INT32).build());
      NDArray wrongHeads = m.ones(new Shape(1, 2, 3, 4));
      IllegalArgumentException mismatch =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Attention.attention(
                      x,
                      x,
                      x,
                      AttentionOptions.builder().optKvCache(wrongHeads, wrongHeads).build()));
      assertTrue(mismatch.getMessage().contains("(1, 2, 3, 4)"), mismatch.getMessage());
      IllegalArgumentException counts =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Attention.attention(
                      x,
                      x,
                      x,
                      AttentionOptions.builder()
                          .optNonPadKeyLengths(m.create(new long[] {1, 2}))
                          .build()));
      assertTrue(counts.getMessage().contains("one element per batch"), counts.getMessage());
    }
  }
}
