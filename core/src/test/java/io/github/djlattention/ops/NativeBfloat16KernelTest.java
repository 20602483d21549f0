package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.FastAttention.Kernel;
import io.github.djlattention.ops.FastAttention.Precision;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import io.github.djlattention.testing.ExtremeCases;
import io.github.djlattention.testing.RandomAttentionCase;
import io.github.djlattention.testing.TestTensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The bfloat16 kernel ({@link NativeBfloat16Kernel}, AVX512_BF16; {@link AmxBfloat16KernelTest}
 * runs the same tests on its AMX instance) against the float64 reference, against libtorch's
 * bfloat16 path, and on cases whose result it must compute exactly. Tests that need the
 * instructions skip, naming why, on CPUs without them; {@link Bfloat16DispatchTest} tests the
 * dispatcher's choice everywhere.
 *
 * <p>The tolerances are error bounds derived from what the kernel rounds (u = 2⁻⁸, the unit
 * roundoff of bfloat16's 8 significant bits), computed per output element, not fixed numbers:
 *
 * <ul>
 *   <li>Against the float64 reference computed from the same inputs rounded to bfloat16 ({@link
 *       #bf16}), what is left is the rounding of the softmax's weights to bfloat16 and float32
 *       arithmetic. Weights w̃ⱼ = wⱼ(1 + δⱼ), |δⱼ| ≤ u, normalized by their own sum, move the
 *       output Σw̃ⱼvⱼ/Σw̃ⱼ by at most u/(1 − u)·maxⱼ|vⱼ − out| (the numerator's change is Σwⱼδⱼ(vⱼ
 *       − out), the denominator at least (1 − u)Σwⱼ). float32 scores are off by at most Δ = 2⁻²⁴(D
 *       + 4)·scale·maxⱼ Σ_d|q̃_d k̃ⱼ_d| (plus 2⁻²⁴ of a small mask), which moves each weight by a
 *       factor within e^{±2Δ} after normalization, so the output by (e^{2Δ} − 1)·maxⱼ|vⱼ − out|;
 *       the float32 sums over T keys add (T + 8)·2⁻²⁴ of the values.
 *   <li>Against the float64 reference on the original inputs, Δ grows by (2u + u²)·scale·maxⱼ
 *       Σ_d|q_d kⱼ_d| (each product's two factors rounded) and the rounded values add u·maxⱼ|vⱼ|.
 *   <li>libtorch's bfloat16 path also rounds a float mask (u·|m| on the scores) and its output (u
 *       of it); two implementations within their bounds of float64 differ by at most the sum.
 * </ul>
 *
 * Each bound is first-order in u and taken 5% larger for the second-order terms (u² is 2⁻⁸ of u). A
 * kernel that drops, repeats or misplaces a key, a mask element or the scale is off by far more on
 * these cases; {@link #equalScoresGiveTheExactAverageOfTheVisibleValues} checks the key bookkeeping
 * exactly, where a single key out of a thousand would show.
 */
class NativeBfloat16KernelTest {

  /** The unit roundoff of bfloat16: 8 significant bits, rounded to nearest. */
  static final double U = 0x1p-8;

  /** The unit roundoff of float32. */
  private static final double F32 = 0x1p-24;

  private static final float FLT_MAX = Float.MAX_VALUE;

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
   * The kernel under test: the AVX512_BF16 instance here; {@link AmxBfloat16KernelTest} runs every
   * test of this class on the AMX instance.
   */
  Kernel kernel() {
    return Kernel.NATIVE_BFLOAT16;
  }

  final NativeBfloat16Kernel implementation() {
    return (NativeBfloat16Kernel) kernel().implementation();
  }

  final void assumeKernel() {
    NativeBfloat16Kernel kernel = implementation();
    assumeTrue(
        kernel.runs(),
        () ->
            "the "
                + kernel.unit()
                + " bfloat16 kernel does not run here: "
                + kernel.kernelStatus());
  }

  /**
   * x rounded to 8 significant bits, to nearest even, at any exponent: what the kernel does to an
   * input (it scales each query row and each key/value head by a power of two first, so nothing
   * overflows or becomes subnormal).
   */
  static double bf16(double x) {
    if (x == 0 || !Double.isFinite(x)) {
      return x;
    }
    int exponent = Math.getExponent(x);
    return Math.scalb(Math.rint(Math.scalb(x, 7 - exponent)), exponent - 7);
  }

  static double[] bf16(double[] x) {
    return Arrays.stream(x).map(NativeBfloat16KernelTest::bf16).toArray();
  }

  @Test
  void theRoundingModelKeepsEightSignificantBits() {
    assertEquals(1.0, bf16(1.0 + 0x1p-8)); // a tie: to even (down)
    assertEquals(1.0 + 0x1p-6, bf16(1.0 + 0x1p-7 + 0x1p-8)); // a tie: to even (up)
    assertEquals(1.0 + 0x1p-7, bf16(1.0 + 0x1p-8 + 0x1p-10)); // above the tie
    assertEquals(-3.0, bf16(-3.0 - 0x1p-9)); // below the tie
    assertEquals(0x1.fep127, bf16(0x1.fep127)); // bfloat16's largest, exact
    assertEquals(0x1p128, bf16(FLT_MAX)); // beyond the type, not infinity
    assertEquals(0x1.02p-140, bf16(0x1.02p-140)); // a float32 subnormal keeps 8 bits
  }

  // ---------------------------------------------------------------------------------------------
  // Against the float64 reference

  @TestFactory
  Stream<DynamicTest> randomCasesAgreeWithTheReferenceOnRoundedInputs() {
    return LongStream.range(0, 300)
        .mapToObj(
            seed ->
                DynamicTest.dynamicTest(
                    "seed " + seed,
                    () -> {
                      assumeKernel();
                      DataType dtype = seed % 10 == 9 ? DataType.FLOAT16 : DataType.FLOAT32;
                      RandomAttentionCase c = RandomAttentionCase.generate(seed, dtype);
                      try (NDManager m = manager.newSubManager()) {
                        checkRandomCase(c, m);
                      }
                    }));
  }

  private void checkRandomCase(RandomAttentionCase c, NDManager m) {
    NDArray q = c.query(m);
    NDArray k = c.key(m);
    NDArray v = c.value(m);
    NDArray mask = c.mask(m);
    AttentionOptions options = c.options(mask).toBuilder().optReturnWeights(false).build();
    Problem p =
        new Problem(
            c.toString(),
            doubles(q),
            doubles(k),
            doubles(v),
            c.query4d(),
            c.key4d(),
            c.value4d(),
            c.referenceOptions(mask));
    NDArray actual = bfloat16(q, k, v, options, kernel());
    assertEquals(c.dtype(), actual.getDataType());
    assertEquals(new Shape(c.outputShape()), actual.getShape());
    double[] out = doubles(actual);
    double base = c.dtype() == DataType.FLOAT16 ? 2e-3 : 1e-6; // the output's own rounding
    p.assertWithinRoundedBound("rounded inputs", out, base);
    p.assertWithinOriginalBound("float64", out, base);
  }

  @TestFactory
  Stream<DynamicTest> largerCasesAgreeWithTheReference() {
    return LongStream.range(0, 28)
        .mapToObj(
            seed ->
                DynamicTest.dynamicTest(
                    "larger seed " + seed,
                    () -> {
                      assumeKernel();
                      try (NDManager m = manager.newSubManager()) {
                        Larger c = Larger.generate(seed, m);
                        double[] out = doubles(bfloat16(c.q, c.k, c.v, c.options, kernel()));
                        c.problem.assertWithinRoundedBound("rounded inputs", out, 1e-6);
                        c.problem.assertWithinOriginalBound("float64", out, 1e-6);
                      }
                    }));
  }

  /**
   * Scores placed on the edges of the weights' exponential ({@code exp2_weight} in
   * attention_bf16.c, which takes y, the exponent plus 1/2): y a tiny negative number, where ⌊y⌋ =
   * −1, {@code vreduceps} gives u = y − ⌊y⌋ = 1 − 2⁻²⁴ and {@code vscalefps} must floor the same y;
   * y a tiny positive number; y near −1, an integer; and y near −125, −126 and −127, where the
   * weights become subnormal and are flushed to 0. One query row against the keys m, −1, −2 and −3
   * (m = 0, or 2^−p: every key exact in bfloat16 and every product exact), with the scale set so
   * that the key −1 lands on the edge, and its float32 neighbours. Only with m = 2^−p does y reach
   * [−2⁻²⁵, 0), where y − ⌊y⌋ rounded to nearest would be 1: the float32 scores are too coarse for
   * it with m = 0. The weight 2^(−3/2) taken for 2^(−1/2), or a weight of 2⁻¹²⁶ taken for 2¹²⁶, is
   * far outside the bound.
   */
  @ParameterizedTest(name = "y = {0} - 1/2, scale {1} ulps off, largest key 2^-{2}")
  @CsvSource({
    "0.5, -2, 0", "0.5, -1, 0", "0.5, 0, 0", "0.5, 1, 0", "0.5, 2, 0", "0.5, 0, 8", "0.5, 1, 9",
    "0.5, 0, 10", "0.5, 0, 11", "0.5, 0, 12", "0.5, 0, 13", "0.5, 1, 14", "1.5, -1, 0", "1.5, 0, 0",
    "1.5, 1, 0", "125.5, 0, 0", "126.5, -1, 0", "126.5, 0, 0", "126.5, 1, 0", "127.5, 0, 0"
  })
  void scoresOnTheExponentialsEdgesAgreeWithTheReference(double edge, int ulps, int p) {
    assumeKernel();
    double largest = p == 0 ? 0 : Math.scalb(1.0, -p);
    // the key -1 scores -scale, the largest key largest * scale, so that in the kernel's float32
    // y = fma(-scale, log2(e), 0.5 - largest * scale * log2(e)) is about 0.5 - edge
    float log2e = 1.44269504088896341f;
    float scale = (float) (edge / ((double) log2e * (1 + largest)));
    for (int n = 0; n < Math.abs(ulps); n++) {
      scale = ulps > 0 ? Math.nextUp(scale) : Math.nextDown(scale);
    }
    if (p != 0) { // the case must reach y in [-2^-25, 0), computed as the kernel computes it
      float c = -((float) (largest * scale) * log2e) + 0.5f;
      float y = Math.fma(-scale, log2e, c);
      assertTrue(y < 0 && y >= -0x1p-25f, "y = " + y);
    }
    double[] query = {1, 0};
    double[] key = {largest, 0, -1, 0, -2, 0, -3, 0};
    double[] value = {1, -1, 3, 2, -2, 5, 7, -3};
    try (NDManager m = manager.newSubManager()) {
      NDArray q = TestTensors.create(m, query, DataType.FLOAT32, 1, 1, 1, 2);
      NDArray k = TestTensors.create(m, key, DataType.FLOAT32, 1, 1, 4, 2);
      NDArray v = TestTensors.create(m, value, DataType.FLOAT32, 1, 1, 4, 2);
      AttentionOptions options =
          AttentionOptions.builder().optScale(scale).optReturnWeights(false).build();
      Problem problem =
          new Problem(
              "edge " + edge + ", scale " + scale + ", largest key " + largest,
              query,
              key,
              value,
              new int[] {1, 1, 1, 2},
              new int[] {1, 1, 4, 2},
              new int[] {1, 1, 4, 2},
              new ReferenceAttention.Options(null, false, (double) scale, null));
      double[] out = doubles(bfloat16(q, k, v, options, kernel()));
      problem.assertWithinRoundedBound("rounded inputs", out, 1e-6);
      problem.assertWithinOriginalBound("float64", out, 1e-6);
    }
  }

  /**
   * {@link ExtremeCases} (padding at −FLT_MAX, huge masks of both signs, scales near overflow with
   * tiny queries and keys, queries whose product with the scale overflows, cancelling queries, tiny
   * and huge softcaps, values near FLT_MAX, large scores) against the reference on the rounded
   * inputs: the kernel's scaling by powers of two keeps every one of them within the bound, where a
   * plain bfloat16 product would flush the tiny products to zero or overflow.
   */
  @TestFactory
  Stream<DynamicTest> extremeCasesAgreeWithTheReferenceOnRoundedInputs() {
    return LongStream.range(1, 121)
        .mapToObj(
            seed ->
                DynamicTest.dynamicTest(
                    "extreme seed " + seed,
                    () -> {
                      assumeKernel();
                      ExtremeCases.Case c = ExtremeCases.generate(seed, DataType.FLOAT32);
                      try (NDManager m = manager.newSubManager()) {
                        NDArray mask = c.mask(m);
                        AttentionOptions options =
                            c.options(mask).toBuilder().optReturnWeights(false).build();
                        NDArray q = c.query(m);
                        NDArray k = c.key(m);
                        NDArray v = c.value(m);
                        Problem p =
                            new Problem(
                                c.toString(),
                                doubles(q),
                                doubles(k),
                                doubles(v),
                                TestTensors.ints(q.getShape().getShape()),
                                TestTensors.ints(k.getShape().getShape()),
                                TestTensors.ints(v.getShape().getShape()),
                                new ReferenceAttention.Options(
                                    mask == null
                                        ? null
                                        : new Tensor(
                                            doubles(mask),
                                            TestTensors.ints(mask.getShape().getShape())),
                                    options.causal(),
                                    options.scale(),
                                    options.softcap()));
                        double[] out = doubles(bfloat16(q, k, v, options, kernel()));
                        double largest = Arrays.stream(p.v).map(Math::abs).max().orElse(1);
                        p.assertWithinRoundedBound(
                            "rounded inputs", out, c.atol() / Math.max(1, largest), false);
                      }
                    }));
  }

  /**
   * All scores equal (a zero query), values exact in bfloat16: every weight is exactly 1, so the
   * output is the average of the visible values up to one rounding of the division. A key dropped
   * or counted twice, a mask element applied to the wrong key, a causal limit off by one or a group
   * given the wrong key/value head shows here, at any length. Shapes cross the 64-row and 512-key
   * blocks, with odd D, T and a Dv that is no multiple of 16.
   */
  @ParameterizedTest(name = "B={0} H={1} G={2} S={3} T={4} D={5} Dv={6} causal={7} mask={8}")
  @CsvSource({
    "1, 1, 1, 1, 1, 1, 1, false, none",
    "1, 2, 1, 70, 1101, 3, 70, false, none",
    "2, 4, 2, 130, 1100, 8, 33, true, none",
    "1, 3, 3, 65, 513, 64, 64, true, bool",
    "2, 2, 1, 129, 1025, 5, 17, false, bool",
    "1, 4, 2, 100, 600, 16, 130, true, float",
    "2, 2, 2, 64, 1030, 7, 16, false, float",
    "1, 2, 2, 600, 40, 4, 20, true, float",
  })
  void equalScoresGiveTheExactAverageOfTheVisibleValues(
      int batch,
      int heads,
      int groups,
      int queries,
      int keys,
      int dim,
      int valueDim,
      boolean causal,
      String maskKind) {
    assumeKernel();
    Random random = new Random(Arrays.hashCode(new int[] {batch, heads, queries, keys, dim}));
    double[] key = TestTensors.uniform(random, batch * groups * keys * dim);
    double[] value = new double[batch * groups * keys * valueDim];
    for (int n = 0; n < value.length; n++) {
      value[n] = (random.nextInt(257) - 128) / 64.0; // 8 significant bits at most: exact
    }
    // a float mask of 0, -inf and -FLT_MAX (a row of only -FLT_MAX and -inf averages the
    // -FLT_MAX keys, as the chain's softmax does); a bool mask with rows that see no key
    double[] additive = new double[batch * queries * keys]; // (B, 1, S, T)
    boolean[] keep = new boolean[additive.length];
    for (int n = 0; n < additive.length; n++) {
      int row = n / keys;
      int draw = random.nextInt(10);
      boolean hiddenRow = row % 11 == 5;
      keep[n] = !hiddenRow && draw < 8;
      additive[n] =
          row % 13 == 4
              ? (draw < 5 ? -FLT_MAX : Double.NEGATIVE_INFINITY) // no key at 0 in this row
              : draw < 6 ? 0 : draw < 8 ? -FLT_MAX : Double.NEGATIVE_INFINITY;
    }
    try (NDManager m = manager.newSubManager()) {
      NDArray q = m.zeros(new Shape(batch, heads, queries, dim));
      NDArray k = TestTensors.create(m, key, DataType.FLOAT32, batch, groups, keys, dim);
      NDArray v = TestTensors.create(m, value, DataType.FLOAT32, batch, groups, keys, valueDim);
      AttentionOptions.Builder builder =
          AttentionOptions.builder().optCausal(causal).optReturnWeights(false);
      if (maskKind.equals("bool")) {
        builder.optMask(m.create(keep, new Shape(batch, 1, queries, keys)));
      } else if (maskKind.equals("float")) {
        builder.optMask(TestTensors.create(m, additive, DataType.FLOAT32, batch, 1, queries, keys));
      }
      double[] actual = doubles(bfloat16(q, k, v, builder.build(), kernel()));
      double[] expected = new double[batch * heads * queries * valueDim];
      int group = heads / groups;
      for (int b = 0; b < batch; b++) {
        for (int h = 0; h < heads; h++) {
          int g = h / group;
          for (int i = 0; i < queries; i++) {
            // the keys that take the weight: mask 0 (or bool true), else those at -FLT_MAX
            List<Integer> best = new ArrayList<>();
            List<Integer> lowest = new ArrayList<>();
            for (int j = 0; j < keys && (!causal || j <= i); j++) {
              int n = (b * queries + i) * keys + j;
              boolean visible =
                  maskKind.equals("bool") ? keep[n] : !maskKind.equals("float") || additive[n] == 0;
              if (visible) {
                best.add(j);
              } else if (maskKind.equals("float") && additive[n] == -FLT_MAX) {
                lowest.add(j);
              }
            }
            List<Integer> taken = best.isEmpty() ? lowest : best;
            for (int e = 0; e < valueDim; e++) {
              double sum = 0;
              for (int j : taken) {
                sum += value[((b * groups + g) * keys + j) * valueDim + e];
              }
              expected[((b * heads + h) * queries + i) * valueDim + e] =
                  taken.isEmpty() ? 0 : sum / taken.size();
            }
          }
        }
      }
      TestTensors.assertClose("exact average", expected, actual, 2 * F32 * 2, 2 * F32);
    }
  }

  /**
   * The causal mask aligned to the bottom right (query i sees keys j ≤ i + T − S, queries that
   * follow a cache), which the fast path does not use yet: the kernel's offset against the
   * reference with the same visibility as an explicit mask; a negative offset (S > T) leaves the
   * first S − T rows without keys (zeros).
   */
  @ParameterizedTest(name = "S={0} T={1} offset={2}")
  @CsvSource({"70, 600, 530", "1, 1000, 999", "4, 1030, 1026", "100, 40, -60", "64, 64, 0"})
  void aCausalOffsetAlignsTheMask(int queries, int keys, int offset) {
    assumeKernel();
    Random random = new Random(queries * 31L + keys);
    int batch = 2;
    int heads = 4;
    int groups = 2;
    int dim = 24;
    int valueDim = 40;
    double[] query = TestTensors.uniform(random, batch * heads * queries * dim);
    double[] key = TestTensors.uniform(random, batch * groups * keys * dim);
    double[] value = TestTensors.uniform(random, batch * groups * keys * valueDim);
    double[] visible = new double[queries * keys];
    for (int i = 0; i < queries; i++) {
      for (int j = 0; j < keys; j++) {
        visible[i * keys + j] = j <= i + offset ? 0 : Double.NEGATIVE_INFINITY;
      }
    }
    try (NDManager m = manager.newSubManager()) {
      NDArray q = TestTensors.create(m, query, DataType.FLOAT32, batch, heads, queries, dim);
      NDArray k = TestTensors.create(m, key, DataType.FLOAT32, batch, groups, keys, dim);
      NDArray v = TestTensors.create(m, value, DataType.FLOAT32, batch, groups, keys, valueDim);
      double scale = 2.0 / Math.sqrt(dim); // concentrated weights: a misplaced key shows
      double[] actual =
          doubles(implementation().compute(q, k, v, null, true, offset, scale, null, m));
      Problem p =
          new Problem(
              "offset " + offset,
              doubles(q),
              doubles(k),
              doubles(v),
              new int[] {batch, heads, queries, dim},
              new int[] {batch, groups, keys, dim},
              new int[] {batch, groups, keys, valueDim},
              new ReferenceAttention.Options(
                  new Tensor(visible, new int[] {1, 1, queries, keys}), false, scale, null));
      p.assertWithinRoundedBound("rounded inputs", actual, 1e-6);
      for (int i = 0; i < Math.min(queries, -offset); i++) {
        assertEquals(0.0, actual[i * valueDim], "row " + i + " sees no key");
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Against libtorch's bfloat16 path

  @TestFactory
  Stream<DynamicTest> agreesWithLibtorchsBfloat16Path() {
    return Stream.concat(
        LongStream.range(0, 100)
            .mapToObj(
                seed ->
                    DynamicTest.dynamicTest(
                        "seed " + seed,
                        () -> {
                          assumeKernel();
                          RandomAttentionCase c =
                              RandomAttentionCase.generate(seed + 5000, DataType.FLOAT32);
                          try (NDManager m = manager.newSubManager()) {
                            NDArray mask = c.mask(m);
                            NDArray q = c.query(m);
                            NDArray k = c.key(m);
                            NDArray v = c.value(m);
                            Problem p =
                                new Problem(
                                    c.toString(),
                                    doubles(q),
                                    doubles(k),
                                    doubles(v),
                                    c.query4d(),
                                    c.key4d(),
                                    c.value4d(),
                                    c.referenceOptions(mask));
                            AttentionOptions o =
                                c.options(mask).toBuilder().optReturnWeights(false).build();
                            compareWithLibtorch(p, q, k, v, o);
                          }
                        })),
        LongStream.range(100, 110)
            .mapToObj(
                seed ->
                    DynamicTest.dynamicTest(
                        "larger seed " + seed,
                        () -> {
                          assumeKernel();
                          try (NDManager m = manager.newSubManager()) {
                            Larger c = Larger.generate(seed, m);
                            compareWithLibtorch(c.problem, c.q, c.k, c.v, c.options);
                          }
                        })));
  }

  private void compareWithLibtorch(
      Problem p, NDArray q, NDArray k, NDArray v, AttentionOptions options) {
    double[] ours = doubles(bfloat16(q, k, v, options, kernel()));
    double[] libtorch = doubles(bfloat16(q, k, v, options, Kernel.TORCHSCRIPT));
    double[] ourBound = p.originalBound(false);
    double[] theirBound = p.originalBound(true);
    double[] allowed = new double[ours.length];
    for (int n = 0; n < allowed.length; n++) {
      allowed[n] = ourBound[n] + theirBound[n] + 2e-6;
    }
    assertWithin(p.name + " vs libtorch's bfloat16", libtorch, ours, allowed);
  }

  // ---------------------------------------------------------------------------------------------
  // Threads and dispatch

  /** Two threads call the kernel on the same arrays at once (the packing is shared per call). */
  @Test
  void sharedInputsOnSeveralThreadsGiveTheSerialBytes() {
    assumeKernel();
    try (NDManager m = manager.newSubManager()) {
      Larger c = Larger.generate(3, m);
      Supplier<double[]> call = () -> doubles(bfloat16(c.q, c.k, c.v, c.options, kernel()));
      double[] serial = call.get();
      List<CompletableFuture<double[]>> futures = new ArrayList<>();
      for (int t = 0; t < 3; t++) {
        futures.add(CompletableFuture.supplyAsync(call, r -> new Thread(r).start()));
      }
      for (CompletableFuture<double[]> future : futures) {
        assertArrayEquals(serial, future.join(), "a concurrent call");
      }
    }
  }

  /** The kernel's own helper threads compute the same bytes as libtorch's OpenMP team. */
  @Test
  void helperThreadsGiveTheSameBytesAsOpenMp() {
    assumeKernel();
    String before = System.getProperty(NativeAttentionKernel.THREADS_PROPERTY);
    try (NDManager m = manager.newSubManager()) {
      Larger c = Larger.generate(7, m);
      double[] first = doubles(bfloat16(c.q, c.k, c.v, c.options, kernel()));
      System.setProperty(NativeAttentionKernel.THREADS_PROPERTY, "java");
      assertTrue(!NativeBfloat16Kernel.usesOpenMp());
      double[] helpers = doubles(bfloat16(c.q, c.k, c.v, c.options, kernel()));
      assertArrayEquals(first, helpers);
    } finally {
      if (before == null) {
        System.clearProperty(NativeAttentionKernel.THREADS_PROPERTY);
      } else {
        System.setProperty(NativeAttentionKernel.THREADS_PROPERTY, before);
      }
    }
  }

  private static NDArray bfloat16(
      NDArray q, NDArray k, NDArray v, AttentionOptions options, Kernel kernel) {
    return FastAttention.output(
        q, k, v, options, Precision.BFLOAT16, kernel, FastAttention.DEFAULT_TILE_ELEMENTS);
  }

  // ---------------------------------------------------------------------------------------------
  // Cases and bounds

  /** A larger seeded case that crosses the kernel's blocks, as arrays and as a problem. */
  private record Larger(
      NDArray q, NDArray k, NDArray v, AttentionOptions options, Problem problem) {

    static Larger generate(long seed, NDManager m) {
      Random r = new Random(seed * 7 + 3);
      int batch = 1 + r.nextInt(2);
      int groups = 1 + r.nextInt(3);
      int heads = groups * (1 + r.nextInt(3));
      int queries = 1 + r.nextInt(150);
      int keys = 1 + r.nextInt(1100);
      int dim = 1 + r.nextInt(96);
      int valueDim = 1 + r.nextInt(100);
      // keep the float64 reference quick: at most ~6e7 multiply-adds
      while (queries > 1
          && (long) batch * heads * queries * keys * (dim + valueDim) > 60_000_000L) {
        queries = Math.max(1, queries / 2);
      }
      boolean causal = r.nextInt(3) == 0;
      Double scale =
          switch (r.nextInt(3)) {
            case 0 -> null;
            case 1 -> 3 / Math.sqrt(dim); // concentrated weights
            default -> 0.3;
          };
      Double softcap = r.nextInt(4) == 0 ? 1 + 10 * r.nextDouble() : null;
      // powers of two that the kernel's normalization takes out again: products stay O(1)
      int qk = r.nextInt(3) == 0 ? r.nextInt(121) - 60 : 0;
      int vs = r.nextInt(3) == 0 ? r.nextInt(201) - 100 : 0;
      double[] query = scaled(TestTensors.uniform(r, batch * heads * queries * dim), qk);
      double[] key = scaled(TestTensors.uniform(r, batch * groups * keys * dim), -qk);
      double[] value = scaled(TestTensors.uniform(r, batch * groups * keys * valueDim), vs);
      NDArray q = TestTensors.create(m, query, DataType.FLOAT32, batch, heads, queries, dim);
      NDArray k = TestTensors.create(m, key, DataType.FLOAT32, batch, groups, keys, dim);
      NDArray v = TestTensors.create(m, value, DataType.FLOAT32, batch, groups, keys, valueDim);
      NDArray mask = null;
      Tensor additive = null;
      int kind = r.nextInt(4);
      if (kind == 1) { // padding keys per batch, (B, 1, 1, T)
        boolean[] keep = new boolean[batch * keys];
        for (int b = 0; b < batch; b++) {
          int padded = r.nextInt(keys);
          for (int j = 0; j < keys; j++) {
            keep[b * keys + j] = j < keys - padded;
          }
        }
        mask = m.create(keep, new Shape(batch, 1, 1, keys));
        additive = ReferenceAttention.Options.additive(keep, new int[] {batch, 1, 1, keys});
      } else if (kind == 2) { // (1, H, S, T), about 20% hidden
        boolean[] keep = new boolean[heads * queries * keys];
        for (int n = 0; n < keep.length; n++) {
          keep[n] = r.nextInt(5) != 0;
        }
        mask = m.create(keep, new Shape(1, heads, queries, keys));
        additive = ReferenceAttention.Options.additive(keep, new int[] {1, heads, queries, keys});
      } else if (kind == 3) { // float (B, 1, S, T): biases, -inf and -FLT_MAX
        double[] bias = new double[batch * queries * keys];
        for (int n = 0; n < bias.length; n++) {
          int draw = r.nextInt(10);
          bias[n] =
              draw == 0
                  ? Double.NEGATIVE_INFINITY
                  : draw == 1 ? -FLT_MAX : (float) (4 * r.nextDouble() - 2);
        }
        mask = TestTensors.create(m, bias, DataType.FLOAT32, batch, 1, queries, keys);
        additive = new Tensor(doubles(mask), new int[] {batch, 1, queries, keys});
      }
      AttentionOptions.Builder builder =
          AttentionOptions.builder().optMask(mask).optCausal(causal).optReturnWeights(false);
      if (scale != null) {
        builder.optScale(scale);
      }
      if (softcap != null) {
        builder.optSoftcap(softcap);
      }
      String name =
          String.format(
              Locale.ROOT,
              "larger seed=%d B=%d H=%d G=%d S=%d T=%d D=%d Dv=%d causal=%b mask=%d scale=%s"
                  + " softcap=%s 2^%d 2^%d",
              seed,
              batch,
              heads,
              groups,
              queries,
              keys,
              dim,
              valueDim,
              causal,
              kind,
              scale,
              softcap,
              qk,
              vs);
      Problem problem =
          new Problem(
              name,
              doubles(q),
              doubles(k),
              doubles(v),
              new int[] {batch, heads, queries, dim},
              new int[] {batch, groups, keys, dim},
              new int[] {batch, groups, keys, valueDim},
              new ReferenceAttention.Options(additive, causal, scale, softcap));
      return new Larger(q, k, v, builder.build(), problem);
    }

    private static double[] scaled(double[] x, int exponent) {
      for (int n = 0; n < x.length; n++) {
        x[n] = Math.scalb(x[n], exponent);
      }
      return x;
    }
  }

  /** One problem in 4-D float64, as the kernel sees it (after rounding to the inputs' type). */
  private static final class Problem {
    final String name;
    final double[] q;
    final double[] k;
    final double[] v;
    final int[] q4;
    final int[] k4;
    final int[] v4;
    final ReferenceAttention.Options options;

    Problem(
        String name,
        double[] q,
        double[] k,
        double[] v,
        int[] q4,
        int[] k4,
        int[] v4,
        ReferenceAttention.Options options) {
      this.name = name;
      this.q = q;
      this.k = k;
      this.v = v;
      this.q4 = q4;
      this.k4 = k4;
      this.v4 = v4;
      this.options = options;
    }

    double scale() {
      return options.scale() != null ? options.scale() : 1.0 / Math.sqrt(q4[3]);
    }

    double[] reference(double[] query, double[] key, double[] value) {
      return ReferenceAttention.attention(
              new Tensor(query, q4), new Tensor(key, k4), new Tensor(value, v4), options)
          .output()
          .data();
    }

    /**
     * Against the reference on the rounded inputs: weight rounding and float32 only; {@code base}
     * times max(1, maxⱼ|vⱼc|) is added for the output's own rounding.
     */
    void assertWithinRoundedBound(String what, double[] actual, double base) {
      assertWithinRoundedBound(what, actual, base, true);
    }

    /**
     * As above; without {@code scoreArithmetic}, the float32 error of the scores is not bounded
     * from Σ|q·k| (useless where the products cancel) but left to {@code base}, a tolerance for
     * float32 implementations of the case ({@link ExtremeCases.Case#atol()}).
     */
    void assertWithinRoundedBound(
        String what, double[] actual, double base, boolean scoreArithmetic) {
      double[] qr = bf16(q);
      double[] kr = bf16(k);
      double[] vr = bf16(v);
      double[] expected = reference(qr, kr, vr);
      double[] allowed = bound(qr, kr, vr, expected, 0, scoreArithmetic, U / (1 - U), 0, 0, base);
      assertWithin(name + " " + what, expected, actual, allowed);
    }

    /** Against the reference on the original inputs. */
    void assertWithinOriginalBound(String what, double[] actual, double base) {
      double[] expected = reference(q, k, v);
      assertWithin(name + " " + what, expected, actual, originalBound(false, expected, base));
    }

    double[] originalBound(boolean libtorch) {
      return originalBound(libtorch, reference(q, k, v), 1e-6);
    }

    /**
     * The bound against the float64 reference on the original inputs: ours, or libtorch's bfloat16
     * path's (which also rounds the mask and the output, and normalizes by the sum of the unrounded
     * weights).
     */
    private double[] originalBound(boolean libtorch, double[] expected, double base) {
      // libtorch also rounds q times the scale and the product Q K^T to bfloat16 (up to 4u of
      // the products' magnitude, taken as 5u), the weights with an unrounded sum (2u covers
      // both the rounding and the sum) and P V (another u of the values)
      double inputTerm = libtorch ? 5 * U : 2 * U + U * U;
      double weightTerm = libtorch ? 2 * U : U / (1 - U);
      double maskTerm = libtorch ? U : 0;
      double valueTerm = libtorch ? 2 * U : U;
      double[] allowed =
          bound(q, k, v, expected, inputTerm, true, weightTerm, maskTerm, valueTerm, base);
      if (libtorch) {
        for (int n = 0; n < allowed.length; n++) {
          allowed[n] += U * (Math.abs(expected[n]) + allowed[n]); // the bfloat16 output
        }
      }
      return allowed;
    }

    /** The largest finite |mask| below 1e20 (larger ones swamp the scores in every type). */
    private double largestSmallMask() {
      if (options.mask() == null) {
        return 0;
      }
      return Arrays.stream(options.mask().data())
          .map(Math::abs)
          .filter(x -> x < 1e20)
          .max()
          .orElse(0);
    }

    /**
     * Per output element (b, h, i, c): 1.05 · [(e^{2Δᵢ} − 1 + weightTerm + γ)·M + (valueTerm +
     * γ)·maxⱼ|vⱼc|] + base·max(1, maxⱼ|vⱼc|), with Δᵢ = (inputTerm + (D + 4)·2⁻²⁴)·scale·maxⱼ
     * Σ_d|q_d kⱼ_d| + (maskTerm + 2⁻²⁴)·(largest small |mask|) (the 2⁻²⁴ terms only with {@code
     * scoreArithmetic}), M = maxⱼ|vⱼc − outᵢc| and γ = (T + 8)·2⁻²⁴.
     */
    private double[] bound(
        double[] query,
        double[] key,
        double[] value,
        double[] expected,
        double inputTerm,
        boolean scoreArithmetic,
        double weightTerm,
        double maskTerm,
        double valueTerm,
        double base) {
      int batch = q4[0];
      int heads = q4[1];
      int queries = q4[2];
      int dim = q4[3];
      int groups = k4[1];
      int keys = k4[2];
      int valueDim = v4[3];
      int group = heads / groups;
      double gamma = (keys + 8) * F32;
      double scale = scale();
      double smallMask = largestSmallMask();
      double[] allowed = new double[expected.length];
      for (int b = 0; b < batch; b++) {
        for (int h = 0; h < heads; h++) {
          int g = h / group;
          int kv = (b * groups + g) * keys;
          for (int i = 0; i < queries; i++) {
            int qi = ((b * heads + h) * queries + i) * dim;
            double largestDot = 0;
            for (int j = 0; j < keys; j++) {
              double dot = 0;
              for (int d = 0; d < dim; d++) {
                dot += Math.abs(query[qi + d] * key[(kv + j) * dim + d]);
              }
              largestDot = Math.max(largestDot, dot);
            }
            double f32 = scoreArithmetic ? F32 : 0;
            double delta =
                (inputTerm + (dim + 4) * f32) * scale * largestDot + (maskTerm + f32) * smallMask;
            double spread = Math.expm1(2 * delta);
            for (int c = 0; c < valueDim; c++) {
              int n = ((b * heads + h) * queries + i) * valueDim + c;
              double largestValue = 0;
              double m = 0;
              for (int j = 0; j < keys; j++) {
                double x = value[(kv + j) * valueDim + c];
                largestValue = Math.max(largestValue, Math.abs(x));
                m = Math.max(m, Math.abs(x - expected[n]));
              }
              allowed[n] =
                  1.05 * ((spread + weightTerm + gamma) * m + (valueTerm + gamma) * largestValue)
                      + base * Math.max(1, largestValue);
            }
          }
        }
      }
      return allowed;
    }
  }

  /** Asserts |actual − expected| ≤ allowed element-wise (NaN only where expected is NaN). */
  static void assertWithin(String what, double[] expected, double[] actual, double[] allowed) {
    assertEquals(expected.length, actual.length, what + ": element count");
    int worst = -1;
    double worstRatio = 0;
    double largestError = 0;
    for (int n = 0; n < expected.length; n++) {
      double e = expected[n];
      double a = actual[n];
      if (Double.isNaN(e) || Double.isNaN(a)) {
        if (Double.isNaN(e) != Double.isNaN(a)) {
          fail(what + ": element " + n + " is " + a + ", expected " + e);
        }
        continue;
      }
      if (!Double.isFinite(allowed[n])) {
        fail(what + ": the bound of element " + n + " is " + allowed[n] + ", which checks nothing");
      }
      if (e == a) {
        continue;
      }
      double error = Math.abs(e - a);
      largestError = Math.max(largestError, error);
      double ratio = error / allowed[n];
      if (!(ratio <= 1) && (worst < 0 || ratio > worstRatio)) {
        worst = n;
        worstRatio = ratio;
      }
    }
    if (worst >= 0) {
      fail(
          String.format(
              Locale.ROOT,
              "%s: element %d is %s, expected %s: error %.3e, %.2f times the bound %.3e"
                  + " (largest error %.3e)",
              what,
              worst,
              actual[worst],
              expected[worst],
              Math.abs(expected[worst] - actual[worst]),
              worstRatio,
              allowed[worst],
              largestError));
    }
  }
}
