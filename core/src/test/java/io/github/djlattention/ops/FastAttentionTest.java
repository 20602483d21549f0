package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import io.github.djlattention.testing.RandomAttentionCase;
import io.github.djlattention.testing.TestTensors;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Both kernels of the fast path against the float64 {@link ReferenceAttention} and the step-by-step
 * chain: tiles of 1 to 4 rows on the random cases (so every mask, causal and GQA case crosses tile
 * boundaries), and larger hand-made cases whose tiles split the causal diagonal.
 */
class FastAttentionTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  /**
   * Random cases, each with a tile height of 1 to 4 rows, on every kernel that takes it (in the
   * name): the native kernel takes float32 and float16 cases.
   */
  static Stream<Arguments> cases(DataType dtype, int firstSeed, int count) {
    return IntStream.range(firstSeed, firstSeed + count)
        .boxed()
        .flatMap(
            seed -> {
              RandomAttentionCase c = RandomAttentionCase.generate(seed, dtype);
              return Stream.of(
                      Kernel.NATIVE, Kernel.NATIVE_AVX2, Kernel.TORCHSCRIPT, Kernel.NDARRAY_TILES)
                  .filter(kernel -> !isNative(kernel) || nativeTakes(c))
                  .map(kernel -> Arguments.of(c, 1 + seed % 4, kernel));
            });
  }

  private static boolean nativeAvailable() {
    return NativeAttentionKernel.available();
  }

  /** Whether the kernel is the native prefill kernel (either variant). */
  private static boolean isNative(Kernel kernel) {
    return kernel == Kernel.NATIVE || kernel == Kernel.NATIVE_AVX2;
  }

  private static boolean nativeTakes(RandomAttentionCase c) {
    return nativeAvailable() && c.dtype() != DataType.FLOAT64 && c.softcap() == null;
  }

  static Stream<Arguments> bfloat16Cases() {
    return cases(DataType.FLOAT32, 3000, 100)
        .filter(a -> a.get()[2] != Kernel.NDARRAY_TILES && !isNative((Kernel) a.get()[2]));
  }

  static Stream<Arguments> float32Cases() {
    return cases(DataType.FLOAT32, 0, 200);
  }

  static Stream<Arguments> float64Cases() {
    return cases(DataType.FLOAT64, 1000, 60);
  }

  static Stream<Arguments> float16Cases() {
    return cases(DataType.FLOAT16, 2000, 30);
  }

  @ParameterizedTest(name = "{0} tileRows={1} {2}")
  @MethodSource("float32Cases")
  void float32TilesAgreeWithTheReference(RandomAttentionCase c, int tileRows, Kernel kernel) {
    check(c, tileRows, kernel, Precision.INPUT, 1e-5, 0);
  }

  @ParameterizedTest(name = "{0} tileRows={1} {2}")
  @MethodSource("float64Cases")
  void float64TilesAgreeWithTheReference(RandomAttentionCase c, int tileRows, Kernel kernel) {
    check(c, tileRows, kernel, Precision.INPUT, 1e-12, 0);
  }

  @ParameterizedTest(name = "{0} tileRows={1} {2}")
  @MethodSource("float16Cases")
  void float16TilesAgreeWithTheReferenceWithinHalfPrecision(
      RandomAttentionCase c, int tileRows, Kernel kernel) {
    check(c, tileRows, kernel, Precision.INPUT, 2e-3, 1e-2);
  }

  @ParameterizedTest(name = "{0} tileRows={1} {2}")
  @MethodSource("bfloat16Cases")
  void bfloat16ProductsAgreeWithTheReferenceWithinBfloat16(
      RandomAttentionCase c, int tileRows, Kernel kernel) {
    // Q, K, V and the weights are rounded to 8 significant bits: about 4e-3 relative each.
    check(c, tileRows, kernel, Precision.BFLOAT16, 3e-2, 3e-2);
  }

  private static void check(
      RandomAttentionCase c,
      int tileRows,
      Kernel kernel,
      Precision precision,
      double atol,
      double rtol) {
    try (NDManager scope = manager.newSubManager()) {
      NDArray q = c.query(scope);
      NDArray k = c.key(scope);
      NDArray v = c.value(scope);
      NDArray mask = c.mask(scope);
      long tileElements = (long) c.query4d()[0] * c.query4d()[1] * c.key4d()[2] * tileRows;
      NDArray actual =
          FastAttention.output(q, k, v, c.options(mask), precision, kernel, tileElements);
      ReferenceAttention.Result expected = c.reference(q, k, v, mask);
      assertEquals(c.dtype(), actual.getDataType());
      assertEquals(new Shape(c.outputShape()), actual.getShape());
      assertClose(c + " output", expected.output().data(), doubles(actual), atol, rtol);
    }
  }

  /** Long enough for several 16-row tiles, with S ≠ T, GQA, a row-varying mask and a softcap. */
  static Stream<Arguments> largerCases() {
    return Stream.of(
        Arguments.of(70, 70, false, false, null),
        Arguments.of(70, 70, true, false, null),
        Arguments.of(70, 45, true, true, null),
        Arguments.of(45, 70, true, true, 3.0),
        Arguments.of(100, 33, false, true, 2.0));
  }

  @ParameterizedTest(name = "S={0} T={1} causal={2} mask={3} softcap={4}")
  @MethodSource("largerCases")
  void tilesAcrossTheCausalDiagonalAgreeWithTheStepByStepChain(
      int s, int t, boolean causal, boolean withMask, Double softcap) {
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(31L * s + t);
      NDArray q = random(scope, random, 2, 6, s, 16); // (B, H, S, D)
      NDArray k = random(scope, random, 2, 2, t, 16); // (B, G, T, D): 3 query heads per group
      NDArray v = random(scope, random, 2, 2, t, 8); // (B, G, T, Dv)
      AttentionOptions.Builder builder = AttentionOptions.builder().optCausal(causal);
      if (withMask) {
        builder.optMask(random(scope, random, 1, 6, s, t).gt(-0.8)); // (1, H, S, T), ~10% off
      }
      if (softcap != null) {
        builder.optSoftcap(softcap);
      }
      AttentionOptions options = builder.build();
      double[] expected = doubles(Attention.attentionStepByStep(q, k, v, options).output());
      for (Kernel kernel : Kernel.values()) {
        if (isNative(kernel) && !nativeAvailable()) {
          continue;
        }
        if (kernel == Kernel.TORCHSCRIPT_AUTOGRAD && softcap != null) {
          continue; // it takes no softcap: calls that record gradients then take the chain
        }
        if (kernel != Kernel.AUTO
            && FastAttention.refusal(q, k, v, options, Precision.INPUT, kernel) != null) {
          continue; // a kernel declares what it takes; KernelDifferentialTest checks which
        }
        for (long tileElements : new long[] {2L * 6 * t * 16, 2L * 6 * t * 32, 1L << 21}) {
          NDArray actual =
              FastAttention.output(q, k, v, options, Precision.INPUT, kernel, tileElements);
          String what = kernel + " tileElements=" + tileElements;
          assertClose(what, expected, doubles(actual), 1e-5, 0);
        }
      }
    }
  }

  /**
   * Mid-size queries (libtorch's fused kernel uses 64-row blocks from 192 to 767 rows) with grouped
   * heads, which the fused path stacks along the query axis (or repeats, with causal), and every
   * mask shape that stacking has to fold; the native kernel (64-row blocks, 512-key blocks) on the
   * same cases.
   */
  static Stream<Arguments> midSizeCases() {
    Stream.Builder<Arguments> cases = Stream.builder();
    int[][] lengths = {{200, 200}, {300, 300}, {511, 511}, {300, 511}};
    for (int[] st : lengths) {
      for (int groups : new int[] {2, 4}) {
        for (boolean causal : new boolean[] {false, true}) {
          for (String mask : new String[] {"none", "keys", "rows", "heads", "additive"}) {
            cases.add(Arguments.of(st[0], st[1], groups, causal, mask));
          }
        }
      }
    }
    return cases.build();
  }

  @ParameterizedTest(name = "S={0} T={1} G={2} causal={3} mask={4}")
  @MethodSource("midSizeCases")
  void midSizeGroupedQueriesAgreeWithTheStepByStepChain(
      int s, int t, int groups, boolean causal, String maskKind) {
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(97L * s + 13L * t + groups);
      NDArray q = random(scope, random, 2, 4, s, 16); // (B, H, S, D)
      NDArray k = random(scope, random, 2, groups, t, 16); // (B, G, T, D)
      NDArray v = random(scope, random, 2, groups, t, 8); // (B, G, T, Dv)
      AttentionOptions.Builder builder = AttentionOptions.builder().optCausal(causal);
      switch (maskKind) {
        case "keys": // (B, 1, 1, T): padding, the last 7 keys of batch 1 are off
          boolean[] keep = new boolean[2 * t];
          for (int j = 0; j < 2 * t; j++) {
            keep[j] = j < 2 * t - 7;
          }
          builder.optMask(scope.create(keep, new Shape(2, 1, 1, t)));
          break;
        case "rows": // (S, T), some rows see no key
          builder.optMask(random(scope, random, 1, 1, s, t).gt(-0.8).reshape(s, t));
          break;
        case "heads": // (1, H, S, T)
          builder.optMask(random(scope, random, 1, 4, s, t).gt(-0.8));
          break;
        case "additive": // (B, H, 1, T)
          builder.optMask(random(scope, random, 2, 4, 1, t));
          break;
        default:
          break;
      }
      AttentionOptions options = builder.build();
      double[] expected = doubles(Attention.attentionStepByStep(q, k, v, options).output());
      for (Kernel kernel : new Kernel[] {Kernel.TORCHSCRIPT, Kernel.NATIVE, Kernel.NATIVE_AVX2}) {
        if (isNative(kernel) && !nativeAvailable()) {
          continue;
        }
        NDArray actual =
            FastAttention.output(
                q, k, v, options, Precision.INPUT, kernel, FastAttention.DEFAULT_TILE_ELEMENTS);
        String what = kernel + " " + maskKind + " causal " + causal;
        assertClose(what, expected, doubles(actual), 1e-5, 0);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = Kernel.class,
      names = {"NATIVE", "NATIVE_AVX2", "TORCHSCRIPT", "NDARRAY_TILES", "TORCHSCRIPT_AUTOGRAD"})
  void fullyMaskedRowsGiveZerosInEveryTile(Kernel kernel) {
    assumeTrue(!isNative(kernel) || nativeAvailable(), "native kernel not available");
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(5);
      NDArray q = random(scope, random, 1, 2, 40, 8);
      NDArray k = random(scope, random, 1, 2, 40, 8);
      NDArray v = random(scope, random, 1, 2, 40, 8);
      boolean[] keep = new boolean[40 * 40];
      for (int i = 0; i < 40; i++) {
        for (int j = 0; j < 40; j++) {
          keep[i * 40 + j] = i % 7 != 3; // rows 3, 10, 17, 24, 31, 38 see no key
        }
      }
      NDArray mask = scope.create(keep, new Shape(40, 40));
      for (boolean causal : new boolean[] {false, true}) {
        AttentionOptions options =
            AttentionOptions.builder().optMask(mask).optCausal(causal).build();
        NDArray actual = // 16-row tiles
            FastAttention.output(q, k, v, options, Precision.INPUT, kernel, 2L * 40 * 16);
        double[] out = doubles(actual);
        for (int h = 0; h < 2; h++) {
          for (int i = 3; i < 40; i += 7) {
            for (int e = 0; e < 8; e++) {
              assertEquals(0.0, out[(h * 40 + i) * 8 + e], "causal " + causal + " row " + i);
            }
          }
        }
        double[] expected = doubles(Attention.attentionStepByStep(q, k, v, options).output());
        assertClose("causal " + causal, expected, out, 1e-5, 0);
      }
    }
  }

  @Test
  void attentionWithoutWeightsTakesTheFastPathAndAgreesWithTheChain() {
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(11);
      NDArray q = random(scope, random, 1, 4, 300, 32);
      NDArray k = random(scope, random, 1, 4, 300, 32);
      NDArray v = random(scope, random, 1, 4, 300, 32);
      AttentionOptions fast = AttentionOptions.builder().optReturnWeights(false).build();
      AttentionResult result = Attention.attention(q, k, v, fast);
      assertFalse(result.hasWeights());
      double[] expected = doubles(Attention.attentionStepByStep(q, k, v, fast).output());
      assertClose("fast vs chain", expected, doubles(result.output()), 1e-5, 0);
    }
  }

  @Test
  void settingsTheFastPathLacksKeepTheStepByStepChain() {
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(13);
      NDArray q = random(scope, random, 1, 2, 6, 4);
      NDArray k = random(scope, random, 1, 2, 6, 4);
      NDArray v = random(scope, random, 1, 2, 6, 4);
      NDArray past = random(scope, random, 1, 2, 3, 4);
      AttentionOptions cached =
          AttentionOptions.builder().optReturnWeights(false).optKvCache(past, past).build();
      assertFalse(FastAttention.handles(q, cached));
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> FastAttention.output(q, k, v, cached));
      assertEquals(
          "the fast path does not implement a KV cache (past key/value); use"
              + " Attention.attentionStepByStep",
          e.getMessage());
      double[] expected = doubles(Attention.attentionStepByStep(q, k, v, cached).output());
      assertClose("cache", expected, doubles(Attention.attention(q, k, v, cached).output()), 0, 0);
      AttentionOptions plain = AttentionOptions.builder().optReturnWeights(false).build();
      assertTrue(FastAttention.handles(q, plain));
      assertFalse(FastAttention.handles(q, AttentionOptions.defaults()), "weights requested");
    }
  }

  @Test
  void windowsAndValidKeyCountsAreOnTheFastPathAndAgreeWithTheChain() {
    // the decode kernel computes them, and Attention.attention takes it where it serves the call
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(13);
      NDArray q = random(scope, random, 2, 4, 6, 8);
      NDArray k = random(scope, random, 2, 2, 9, 8);
      NDArray v = random(scope, random, 2, 2, 9, 8);
      AttentionOptions windowed =
          AttentionOptions.builder()
              .optReturnWeights(false)
              .optCausal(true)
              .optWindow(2, 0)
              .optNonPadKeyLengths(scope.create(new long[] {7, 9}))
              .build();
      assertTrue(FastAttention.takes(q, windowed), "FastAttention.output computes it");
      assertFalse(FastAttention.handles(q, windowed), "the query alone cannot tell");
      boolean decode =
          DecodeAttentionKernel.INSTANCE.unsupported(
                  FastAttention.call(q, k, v, windowed, Precision.INPUT, 1L << 21))
              == null;
      // the decode kernel where it runs (AVX-512 or AVX2), else the step-by-step kernel
      assertTrue(FastAttention.handles(q, k, v, windowed), "a kernel of the fast path serves it");
      assertEquals(
          decode ? Kernel.DECODE : Kernel.STEP_BY_STEP,
          FastAttention.chosenKernel(q, k, v, windowed, Precision.INPUT),
          "the decode kernel where it runs, else the step-by-step kernel");
      double[] expected = doubles(Attention.attentionStepByStep(q, k, v, windowed).output());
      assertClose("window", expected, doubles(FastAttention.output(q, k, v, windowed)), 1e-6, 0);
      assertClose(
          "attention",
          expected,
          doubles(Attention.attention(q, k, v, windowed).output()),
          decode ? 1e-6 : 0,
          0);
      // a call that records gradients: the decode kernel declines, the step-by-step kernel takes it
      AttentionOptions training =
          AttentionOptions.builder()
              .optReturnWeights(false)
              .optCausal(true)
              .optWindow(2, 0)
              .optNonPadKeyLengths(scope.create(new long[] {7, 9}))
              .optTraining(true)
              .build();
      assertTrue(FastAttention.handles(q, k, v, training), "the step-by-step kernel serves it");
      assertTrue(
          DecodeAttentionKernel.INSTANCE.unsupported(
                      FastAttention.call(q, k, v, training, Precision.INPUT, 1L << 21))
                  != null
              || FastAttention.refusal(q, k, v, training, Precision.INPUT, Kernel.DECODE) != null,
          "the decode kernel records no gradients");
      assertClose(
          "training", expected, doubles(Attention.attention(q, k, v, training).output()), 0, 0);
      // the kernels that take no window decline it by name, and the dispatcher passes them over
      for (Kernel kernel : new Kernel[] {Kernel.NATIVE, Kernel.TORCHSCRIPT, Kernel.NDARRAY_TILES}) {
        String refusal = FastAttention.refusal(q, k, v, windowed, Precision.INPUT, kernel);
        String absent = kernel == Kernel.NATIVE ? NativeAttentionKernel.status() : null;
        String reason = absent != null ? absent : "window"; // on a CPU without AVX2: that first
        assertTrue(refusal != null && refusal.contains(reason), kernel + ": " + refusal);
      }
    }
  }

  @Test
  void tileRowsAreMultiplesOf16OrTheWholeQuery() {
    AttentionShape shape = new AttentionShape(4, 1, 8, 8, 4096, 4096, 64, 64);
    assertEquals(64, FastAttention.tileRows(shape, FastAttention.DEFAULT_TILE_ELEMENTS));
    assertEquals(48, FastAttention.tileRows(shape, 8L * 4096 * 63));
    assertEquals(3, FastAttention.tileRows(shape, 8L * 4096 * 3));
    assertEquals(1, FastAttention.tileRows(shape, 1));
    assertEquals(4096, FastAttention.tileRows(shape, Long.MAX_VALUE));
  }

  @Test
  void nonPositiveTileSizeIsRejected() {
    try (NDManager scope = manager.newSubManager()) {
      NDArray x = scope.ones(new Shape(2, 2));
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  FastAttention.output(
                      x, x, x, AttentionOptions.defaults(), Precision.INPUT, Kernel.AUTO, 0));
      assertEquals("tileElements must be > 0, got 0", e.getMessage());
    }
  }

  private static NDArray random(NDManager m, Random random, long... shape) {
    int size = (int) new Shape(shape).size();
    return TestTensors.create(m, TestTensors.uniform(random, size), DataType.FLOAT32, shape);
  }
}
