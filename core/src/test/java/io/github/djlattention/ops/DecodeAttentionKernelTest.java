package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.FastAttention.Kernel;
import io.github.djlattention.ops.FastAttention.Precision;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.testing.TestTensors;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The decode kernel against the float64 {@link ReferenceAttention} and the step-by-step chain on
 * the shapes it is built for and the edges of its work split: one to sixteen queries, grouped heads
 * up to eight per group, keys across its 512-key blocks and split into chunks (one group, one
 * batch: the chunks' partial results are merged), head sizes with tails, windows, valid key counts
 * (bottom-right causal alignment) and rows that see no key in some chunks or in all. The random
 * decode cases of {@link KernelDifferentialTest} cover the rest.
 */
class DecodeAttentionKernelTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  /** The kernel under test: the dispatcher's (AVX-512 where the CPU has it, else AVX2). */
  DecodeAttentionKernel kernel() {
    return DecodeAttentionKernel.INSTANCE;
  }

  private static void assumeKernel() {
    assumeTrue(
        NativeAttentionKernel.status() == null,
        () -> "the decode kernel is not available: " + NativeAttentionKernel.status());
  }

  /** B, H, G, S, T, D, Dv, causal, left, right, valid keys (or null). */
  static Stream<Arguments> shapes() {
    return Stream.of(
        Arguments.of(1, 1, 1, 1, 1, 1, 1, false, -1, -1, null),
        Arguments.of(1, 32, 8, 1, 1024, 128, 128, false, -1, -1, null),
        Arguments.of(1, 8, 1, 1, 3000, 64, 64, false, -1, -1, null), // MQA: split into chunks
        Arguments.of(1, 4, 1, 3, 2600, 130, 65, true, -1, -1, new long[] {2600}),
        Arguments.of(2, 8, 2, 4, 1537, 17, 80, true, -1, -1, new long[] {1537, 700}),
        Arguments.of(1, 8, 1, 1, 4096, 32, 32, true, 100, -1, new long[] {4000}), // one chunk
        Arguments.of(1, 2, 1, 16, 2100, 16, 16, true, 30, 0, new long[] {2100}),
        Arguments.of(1, 2, 2, 5, 1200, 8, 8, false, 3, 5, null),
        Arguments.of(2, 4, 4, 2, 900, 8, 8, true, -1, -1, new long[] {0, 2000}),
        Arguments.of(1, 64, 1, 1, 600, 16, 16, false, -1, -1, null), // 64 rows in one item
        Arguments.of(1, 16, 2, 9, 700, 16, 24, true, -1, -1, null), // 72 rows: two row blocks
        // whole value rows (64 < Dv <= 128, at most 4 rows), two rows at a time: an odd row
        // left, a single row, a masked last vector; five rows take the 64-column tiles
        Arguments.of(1, 3, 1, 1, 700, 32, 100, false, -1, -1, null),
        Arguments.of(1, 4, 4, 1, 1300, 24, 127, true, -1, -1, new long[] {1200}),
        // four rows of a group over whole value rows (pv_four_rows), a partial last vector
        Arguments.of(1, 8, 2, 1, 1300, 24, 120, true, -1, -1, new long[] {1200}),
        Arguments.of(2, 4, 1, 1, 700, 32, 113, false, 40, -1, null),
        Arguments.of(1, 5, 1, 1, 1300, 24, 127, true, -1, -1, new long[] {1200}),
        Arguments.of(1, 2, 1, 1, 600, 40, 129, false, -1, -1, null), // past 128: 64-column tiles
        // each count of vectors per value row (5 to 8) has its own specialized loop
        Arguments.of(1, 4, 2, 1, 900, 16, 65, false, -1, -1, null),
        Arguments.of(1, 4, 2, 1, 900, 16, 96, true, -1, -1, new long[] {850}),
        Arguments.of(1, 3, 3, 1, 900, 16, 112, false, 200, -1, null),
        // K and V of 16 MiB, past the L2, with the rows fetched ahead up to the last valid key
        Arguments.of(1, 4, 1, 1, 16384, 128, 128, true, -1, -1, new long[] {16000}));
  }

  @ParameterizedTest(name = "B={0} H={1} G={2} S={3} T={4} D={5} Dv={6} causal={7} window={8},{9}")
  @MethodSource("shapes")
  void agreesWithTheReference(
      int b,
      int h,
      int g,
      int s,
      int t,
      int d,
      int dv,
      boolean causal,
      int left,
      int right,
      long[] valid) {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(31L * t + 7L * s + h);
      double[] q = TestTensors.uniform(random, b * h * s * d);
      double[] k = TestTensors.uniform(random, b * g * t * d);
      double[] v = TestTensors.uniform(random, b * g * t * dv);
      NDArray query = TestTensors.create(scope, q, DataType.FLOAT32, b, h, s, d);
      NDArray key = TestTensors.create(scope, k, DataType.FLOAT32, b, g, t, d);
      NDArray value = TestTensors.create(scope, v, DataType.FLOAT32, b, g, t, dv);
      AttentionOptions.Builder builder =
          AttentionOptions.builder().optCausal(causal).optWindow(left, right);
      if (valid != null) {
        builder.optNonPadKeyLengths(scope.create(valid));
      }
      AttentionOptions options = builder.optReturnWeights(false).build();
      NDArray actual = decode(query, key, value, options);
      double[] expected =
          ReferenceAttention.attention(
                  TestTensors.tensor(doubles(query), b, h, s, d),
                  TestTensors.tensor(doubles(key), b, g, t, d),
                  TestTensors.tensor(doubles(value), b, g, t, dv),
                  new ReferenceAttention.Options(null, causal, null, null, -1, valid, left, right))
              .output()
              .data();
      assertEquals(new Shape(b, h, s, dv), actual.getShape());
      assertClose("decode vs float64", expected, doubles(actual), 1e-5, 1e-5);
      double[] chain = doubles(Attention.attentionStepByStep(query, key, value, options).output());
      assertClose("decode vs the chain", chain, doubles(actual), 1e-5, 1e-5);
    }
  }

  @Test
  void rowsThatSeeNoKeyGetZerosAndTheOthersTheirAverage() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      // one group of 4 heads, 2 queries, 3000 keys (split into chunks); batch 1 has no valid key
      NDArray q = scope.ones(new Shape(2, 4, 2, 8));
      NDArray k = scope.zeros(new Shape(2, 1, 3000, 8)); // equal scores: the output is the mean
      NDArray v = scope.arange(0f, 2 * 3000f).reshape(2, 1, 3000, 1);
      AttentionOptions options =
          AttentionOptions.builder()
              .optNonPadKeyLengths(scope.create(new long[] {3000, 0}))
              .optCausal(true) // query i of batch 0 at position 2998 + i: keys 0 .. 2998 + i
              .optReturnWeights(false)
              .build();
      double[] out = doubles(decode(q, k, v, options)); // (2, 4, 2, 1)
      for (int h = 0; h < 4; h++) {
        assertEquals(2998 / 2.0, out[h * 2], 1e-2, "batch 0 head " + h + " query 0");
        assertEquals(2999 / 2.0, out[h * 2 + 1], 1e-2, "batch 0 head " + h + " query 1");
        assertEquals(0.0, out[8 + h * 2], "batch 1 sees no key");
        assertEquals(0.0, out[8 + h * 2 + 1], "batch 1 sees no key");
      }
    }
  }

  @Test
  void aWindowInsideOneChunkMergesWithTheEmptyChunks() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(3);
      NDArray q =
          TestTensors.create(scope, TestTensors.uniform(random, 8), DataType.FLOAT32, 1, 8, 1, 1);
      NDArray k =
          TestTensors.create(
              scope, TestTensors.uniform(random, 4000), DataType.FLOAT32, 1, 1, 4000, 1);
      NDArray v =
          TestTensors.create(
              scope, TestTensors.uniform(random, 4000), DataType.FLOAT32, 1, 1, 4000, 1);
      // query 0 at position 3990: keys 3980 .. 3990 only
      AttentionOptions options =
          AttentionOptions.builder()
              .optNonPadKeyLengths(scope.create(new long[] {3991}))
              .optCausal(true)
              .optWindow(10, -1)
              .optReturnWeights(false)
              .build();
      double[] expected = doubles(Attention.attentionStepByStep(q, k, v, options).output());
      assertClose("window", expected, doubles(decode(q, k, v, options)), 1e-6, 1e-5);
    }
  }

  @Test
  void theDispatcherPicksItForFewQueriesAndLibtorchWhereItIsOff() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      NDArray q = scope.ones(new Shape(1, 4, 1, 8));
      NDArray kv = scope.ones(new Shape(1, 2, 100, 8));
      NDArray prefill = scope.ones(new Shape(1, 4, 65, 8)); // 2 heads x 65 queries per group
      NDArray short64 = scope.ones(new Shape(1, 4, 64, 8)); // 128 rows per group
      AttentionOptions options = AttentionOptions.builder().optReturnWeights(false).build();
      // prefill: the native kernel (whichever variant this CPU runs), from S = 33
      AttentionKernel prefillKernel = NativeAttentionKernel.INSTANCE;
      assertSame(DecodeAttentionKernel.INSTANCE, chosen(q, kv, options));
      assertSame(prefillKernel, chosen(prefill, kv, options));
      assertSame(NativeAttentionKernel.INSTANCE, chosen(short64, kv, options));
      String before = System.getProperty(DecodeAttentionKernel.ENABLED_PROPERTY);
      System.setProperty(DecodeAttentionKernel.ENABLED_PROPERTY, "false");
      try {
        // the native prefill kernel was measured slower than libtorch's at decode shapes
        assertSame(TorchScriptKernel.INFERENCE, chosen(q, kv, options));
        assertSame(prefillKernel, chosen(prefill, kv, options));
        AttentionOptions windowed = options.toBuilder().optWindow(4, 0).build();
        assertSame(StepByStepKernel.INSTANCE, chosen(q, kv, windowed));
        IllegalArgumentException e =
            assertThrows(IllegalArgumentException.class, () -> decode(q, kv, kv, options));
        assertTrue(e.getMessage().contains("turned off"), e.getMessage());
      } finally {
        if (before == null) {
          System.clearProperty(DecodeAttentionKernel.ENABLED_PROPERTY);
        } else {
          System.setProperty(DecodeAttentionKernel.ENABLED_PROPERTY, before);
        }
      }
      AttentionOptions windowed = options.toBuilder().optWindow(4, 0).build();
      assertSame(DecodeAttentionKernel.INSTANCE, chosen(prefill, kv, windowed));
    }
  }

  private static AttentionKernel chosen(NDArray q, NDArray kv, AttentionOptions options) {
    AttentionCall call =
        FastAttention.call(
            q, kv, kv, options, Precision.INPUT, FastAttention.DEFAULT_TILE_ELEMENTS);
    return FastAttention.choose(call, Kernel.AUTO);
  }

  /** The kernel under test on the call, refusing it as the dispatcher would with its reason. */
  private NDArray decode(NDArray q, NDArray k, NDArray v, AttentionOptions options) {
    AttentionCall call =
        FastAttention.call(q, k, v, options, Precision.INPUT, FastAttention.DEFAULT_TILE_ELEMENTS);
    String refusal = kernel().unsupported(call);
    if (refusal != null) {
      throw new IllegalArgumentException(refusal);
    }
    return kernel().compute(call);
  }
}
