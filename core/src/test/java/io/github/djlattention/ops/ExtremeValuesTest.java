package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
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
import io.github.djlattention.testing.ExtremeCases;
import io.github.djlattention.testing.TestTensors;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Finite extremes on every path attention can take (issue 10, item 4): additive masks at ±FLT_MAX
 * (the −3.4028235e38 padding of Hugging Face models and their ONNX exports), scales and softcaps
 * near the ends of float32, and inputs whose products overflow only when pre-multiplied by the
 * scale. Each path must give the hand-computed output, the step-by-step chain's and the float64
 * {@link ReferenceAttention}'s, or refuse a scale or softcap that the compute type cannot hold with
 * an {@link IllegalArgumentException} that names it.
 *
 * <p>Shape legend: S query length, T key length, D head size, Dv value head size.
 */
class ExtremeValuesTest {

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

  /** Every way to the attention output: the chain, the dispatcher, and each fast-path kernel. */
  enum Path {
    CHAIN,
    AUTO,
    NATIVE,
    NATIVE_AVX2,
    DECODE,
    DECODE_AVX2,
    TORCHSCRIPT,
    NDARRAY_TILES,
    TORCHSCRIPT_AUTOGRAD;

    /** Whether the path's kernel computes in float32 only (the C kernels). */
    boolean float32Only() {
      return this == NATIVE || this == NATIVE_AVX2 || this == DECODE || this == DECODE_AVX2;
    }
  }

  private static NDArray output(
      Path path, NDArray q, NDArray k, NDArray v, AttentionOptions options) {
    switch (path) {
      case CHAIN:
        return Attention.attentionStepByStep(q, k, v, options).output();
      case AUTO:
        return Attention.attention(q, k, v, options.toBuilder().optReturnWeights(false).build())
            .output();
      default:
        assumeAvailable(path);

        return FastAttention.output(
            q,
            k,
            v,
            options,
            Precision.INPUT,
            Kernel.valueOf(path.name()),
            FastAttention.DEFAULT_TILE_ELEMENTS);
    }
  }

  /** Skips, naming why, where the path's kernel does not run on this CPU. */
  private static void assumeAvailable(Path path) {
    String status = path.float32Only() ? NativeAttentionKernel.status() : null;
    assumeTrue(status == null, () -> path + " kernel not available: " + status);
  }

  /**
   * Asserts that {@code path} gives {@code expected}, the chain's output and the float64
   * reference's (from the values the arrays hold), for (S, D) query, (T, D) key, (T, Dv) value and
   * a mask broadcastable to (S, T).
   */
  private static void assertAgrees(
      Path path,
      NDArray q,
      NDArray k,
      NDArray v,
      AttentionOptions options,
      double[] expected,
      double atol) {
    assumeTrue(
        path != Path.TORCHSCRIPT_AUTOGRAD || options.softcap() == null,
        "the fused kernel with autograd takes no softcap (the chain does)");
    double[] actual = doubles(output(path, q, k, v, options));
    String what = path + " " + describe(options);
    assertClose(what + " vs the expected output", expected, actual, atol, 1e-6);
    double[] chain = doubles(Attention.attentionStepByStep(q, k, v, options).output());
    assertClose(what + " vs the chain", chain, actual, atol, 1e-6);
    assertClose(
        what + " vs the float64 reference", reference(q, k, v, options), actual, atol, 1e-6);
  }

  private static void assertAgrees(
      Path path, NDArray q, NDArray k, NDArray v, AttentionOptions options, double... expected) {
    assertAgrees(path, q, k, v, options, expected, 1e-5);
  }

  /** Asserts that {@code path} refuses the options with a message naming each part. */
  private static void assertRefused(
      Path path, NDArray q, NDArray k, NDArray v, AttentionOptions options, String... parts) {
    assumeAvailable(path);
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> output(path, q, k, v, options),
            () -> path + " " + describe(options) + " should be refused");
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), () -> "'" + e.getMessage() + "' lacks " + part);
    }
  }

  /** The float64 reference for 2-D inputs, read back from the arrays. */
  private static double[] reference(NDArray q, NDArray k, NDArray v, AttentionOptions options) {
    ReferenceAttention.Tensor mask = null;
    NDArray m = options.mask();
    if (m != null) {
      int[] shape4d = to4d(m.getShape());
      mask =
          m.getDataType() == DataType.BOOLEAN
              ? ReferenceAttention.Options.additive(m.toBooleanArray(), shape4d)
              : new ReferenceAttention.Tensor(doubles(m), shape4d);
    }
    return ReferenceAttention.attention(
            new ReferenceAttention.Tensor(doubles(q), to4d(q.getShape())),
            new ReferenceAttention.Tensor(doubles(k), to4d(k.getShape())),
            new ReferenceAttention.Tensor(doubles(v), to4d(v.getShape())),
            new ReferenceAttention.Options(
                mask, options.causal(), options.scale(), options.softcap()))
        .output()
        .data();
  }

  private static int[] to4d(Shape shape) {
    int[] out = {1, 1, 1, 1};
    for (int i = 0; i < shape.dimension(); i++) {
      out[4 - shape.dimension() + i] = Math.toIntExact(shape.get(i));
    }
    return out;
  }

  private static String describe(AttentionOptions options) {
    String mask =
        options.mask() == null ? "" : " mask " + Arrays.toString(options.mask().toFloatArray());
    return "scale " + options.scale() + " softcap " + options.softcap() + mask;
  }

  private static NDArray floats(NDManager m, float[] data, long... shape) {
    return m.create(data, new Shape(shape));
  }

  private static AttentionOptions maskOf(NDManager m, float... bias) {
    return AttentionOptions.builder().optMask(floats(m, bias, 1, bias.length)).build();
  }

  static Stream<Arguments> pathsAndHugeNegativeMasks() {
    // −3.4028235e38 is float32's lowest value; −2.4e38 is just past the point (FLT_MAX / log2 e)
    // where the native kernel's base-2 scores overflowed to −∞, −2.3e38 just before it; −1e30 and
    // −300 are huge and large row maxima that a softmax must not round away.
    return Stream.of(Path.values())
        .flatMap(
            p ->
                Stream.of(-FLT_MAX, -2.4e38f, -2.3e38f, -1e30f, -300f)
                    .map(bias -> Arguments.of(p, bias)));
  }

  /** The minimal case: every key of the row carries the padding value (or a large one). */
  @ParameterizedTest(name = "{0} mask {1}")
  @MethodSource("pathsAndHugeNegativeMasks")
  void aHugeNegativeMaskOnEveryKeyGivesTheUniformAverage(Path path, float bias) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {1}, 1, 1); // (S, D)
      NDArray k = floats(m, new float[] {1, 2}, 2, 1); // (T, D)
      NDArray v = floats(m, new float[] {10, 20}, 2, 1); // (T, Dv)
      // the scores 1 and 2 plus the bias, in float32: equal (15) where the bias is huge
      double expected = softmaxAverage(new double[] {1f + bias, 2f + bias}, 10, 20);
      assertAgrees(path, q, k, v, maskOf(m, bias, bias), expected);
    }
  }

  /** −3e38 and −3.4e38 differ by 4e37: all weight goes to the first key, not half to each. */
  @ParameterizedTest
  @EnumSource(Path.class)
  void hugeNegativeMasksOfDifferentSizesKeepTheirOrder(Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {1}, 1, 1);
      NDArray k = floats(m, new float[] {1, 2, 3}, 3, 1);
      NDArray v = floats(m, new float[] {10, 20, 40}, 3, 1);
      assertAgrees(path, q, k, v, maskOf(m, -3e38f, -FLT_MAX, -2.4e38f), 40);
    }
  }

  /**
   * The opt-in bfloat16 products round Q, K, V (and, on libtorch's path, a float mask) to bfloat16,
   * whose largest value is 3.3895e38: −FLT_MAX must stay finite there (not −∞, which would give the
   * row zeros). The native bfloat16 kernel keeps the mask in float32.
   */
  @ParameterizedTest
  @EnumSource(
      value = Kernel.class,
      names = {"TORCHSCRIPT", "NATIVE_BFLOAT16", "NATIVE_AMX"})
  void hugeMasksStayFiniteInBfloat16(Kernel kernel) {
    if (kernel.implementation() instanceof NativeBfloat16Kernel bf16) {
      assumeTrue(
          bf16.runs(),
          () -> "the " + bf16.unit() + " kernel does not run here: " + bf16.kernelStatus());
    }
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {1}, 1, 1);
      NDArray k = floats(m, new float[] {1, 2, 3}, 3, 1);
      NDArray v = floats(m, new float[] {10, 20, 40}, 3, 1);
      float[][] masks = {{-FLT_MAX, -FLT_MAX, -FLT_MAX}, {-3e38f, -FLT_MAX, -FLT_MAX}};
      double[] expected = {(10 + 20 + 40) / 3.0, 10};
      for (int i = 0; i < masks.length; i++) {
        AttentionOptions options = maskOf(m, masks[i]);
        NDArray actual =
            FastAttention.output(
                q, k, v, options, Precision.BFLOAT16, kernel, FastAttention.DEFAULT_TILE_ELEMENTS);
        double[] chain = doubles(Attention.attentionStepByStep(q, k, v, options).output());
        assertClose(kernel + " " + describe(options), chain, doubles(actual), 0, 1e-2);
        assertClose(kernel + " expected", new double[] {expected[i]}, doubles(actual), 0, 1e-2);
      }
    }
  }

  /** Keys padded with −FLT_MAX beside visible ones: the common case, which must stay right. */
  @ParameterizedTest
  @EnumSource(Path.class)
  void paddingKeysAtMinusFltMaxTakeNoWeight(Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {1, 0.5f}, 2, 1);
      NDArray k = floats(m, new float[] {1, 2, 3}, 3, 1);
      NDArray v = floats(m, new float[] {10, 20, 40}, 3, 1);
      double e1 = Math.exp(1);
      double e2 = Math.exp(0.5);
      assertAgrees(
          path,
          q,
          k,
          v,
          maskOf(m, 0, 0, -FLT_MAX),
          (10 * e1 + 20 * e1 * e1) / (e1 + e1 * e1),
          (10 * e2 + 20 * e2 * e2) / (e2 + e2 * e2));
    }
  }

  @ParameterizedTest
  @EnumSource(Path.class)
  void aHugePositiveMaskOnEveryKeyGivesTheUniformAverage(Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {1}, 1, 1);
      NDArray k = floats(m, new float[] {1, 2}, 2, 1);
      NDArray v = floats(m, new float[] {10, 20}, 2, 1);
      assertAgrees(path, q, k, v, maskOf(m, 3e38f, 3e38f), 15);
      assertAgrees(path, q, k, v, maskOf(m, FLT_MAX, FLT_MAX), 15);
    }
  }

  @ParameterizedTest
  @EnumSource(Path.class)
  void aHugePositiveMaskOnOneKeyTakesAllTheWeight(Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {1}, 1, 1);
      NDArray k = floats(m, new float[] {1, 2}, 2, 1);
      NDArray v = floats(m, new float[] {10, 20}, 2, 1);
      assertAgrees(path, q, k, v, maskOf(m, 3e38f, 0), 10);
    }
  }

  /**
   * Scores that the mask pushes past −FLT_MAX on every key are −∞ in float32: the chain gives the
   * row zeros, as for a row the mask hides, and so must every kernel.
   */
  @ParameterizedTest
  @EnumSource(Path.class)
  void scoresThatTheMaskPushesToMinusInfinityGiveZeros(Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {-1}, 1, 1);
      NDArray k = floats(m, new float[] {1, 1.5f}, 2, 1);
      NDArray v = floats(m, new float[] {10, 20}, 2, 1);
      // scores −1e38 and −1.5e38, plus −3e38: below −FLT_MAX
      AttentionOptions options =
          AttentionOptions.builder()
              .optScale(1e38)
              .optMask(floats(m, new float[] {-3e38f, -3e38f}, 1, 2))
              .build();
      double[] actual = doubles(output(path, q, k, v, options));
      double[] chain = doubles(Attention.attentionStepByStep(q, k, v, options).output());
      assertClose(path + " vs the chain", chain, actual, 0, 0);
      assertClose(path + " vs zeros", new double[] {0}, actual, 0, 0);
    }
  }

  /** scale 3e38 with q·k of 2e-38 and 4e-38: scores 6 and 12. */
  @ParameterizedTest
  @EnumSource(Path.class)
  void aScaleNearFltMaxWithATinyQueryAndKey(Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {1e-18f}, 1, 1);
      NDArray k = floats(m, new float[] {2e-20f, 4e-20f}, 2, 1);
      NDArray v = floats(m, new float[] {10, 20}, 2, 1);
      AttentionOptions options = AttentionOptions.builder().optScale(3e38).build();
      double[] scores = {1e-18 * (double) 2e-20f * 3e38, 1e-18 * (double) 4e-20f * 3e38};
      assertAgrees(path, q, k, v, options, softmaxAverage(scores, 10, 20));
    }
  }

  /** q·scale = 1e39 overflows, q·k·scale = 1e9 and 2e9 does not: the tied keys share the weight. */
  @ParameterizedTest
  @EnumSource(Path.class)
  void aQueryTimesScaleThatOverflowsWhileTheScoresDoNot(Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {1e30f}, 1, 1);
      NDArray k = floats(m, new float[] {1e-30f, 2e-30f, 2e-30f}, 3, 1);
      NDArray v = floats(m, new float[] {10, 20, 40}, 3, 1);
      assertAgrees(path, q, k, v, AttentionOptions.builder().optScale(1e9).build(), 30);
    }
  }

  /**
   * q = (3e37, 3e37, −3e37, −3e37) against keys of ones with scale 10: q·k = 0, but the partial
   * sums of the pre-scaled query, 3e38 + 3e38, overflow.
   */
  @ParameterizedTest
  @EnumSource(Path.class)
  void partialSumsOfAPreScaledQueryThatOverflow(Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {3e37f, 3e37f, -3e37f, -3e37f}, 1, 4); // (S, D)
      NDArray k = floats(m, new float[] {1, 1, 1, 1, 1, 1, 1, 1}, 2, 4); // (T, D)
      NDArray v = floats(m, new float[] {10, 20}, 2, 1); // (T, Dv): Dv ≠ D
      assertAgrees(path, q, k, v, AttentionOptions.builder().optScale(10).build(), 15);
    }
  }

  /**
   * Values near FLT_MAX: their weighted average is finite, but a kernel that sums unnormalized
   * weights times values (up to T times the largest value) before dividing overflows. The native
   * kernel divides its weights by a power of two ≥ T; the TorchScript kernels (libtorch's, which
   * cannot be told to) get V divided by a power of two ≥ 2T when max |V| is that close to the
   * largest value, and the output multiplied back (value_factor in fast_attention.py).
   */
  @ParameterizedTest
  @EnumSource(Path.class)
  void valuesNearFltMaxAverageToAFiniteOutput(Path path) {
    try (NDManager m = manager.newSubManager()) {
      // D = Dv, so that libtorch takes its flash kernel (its math kernel divides first)
      NDArray q = floats(m, new float[] {1, 0, 0, 0}, 2, 2); // (S, D)
      NDArray k = floats(m, new float[] {1e-3f, 0, 1e-3f, 0, 0, 0}, 3, 2); // (T, D)
      NDArray v = floats(m, new float[] {3e38f, FLT_MAX, -1e38f, 2e38f, 1e38f, FLT_MAX}, 3, 2);
      AttentionOptions options = AttentionOptions.builder().optScale(1).build();
      double[] scores = {1e-3, 1e-3, 0};
      double[] expected = {
        softmaxAverage(scores, 3e38f, -1e38f, 1e38f),
        softmaxAverage(scores, FLT_MAX, 2e38f, FLT_MAX),
        softmaxAverage(new double[] {0, 0, 0}, 3e38f, -1e38f, 1e38f),
        softmaxAverage(new double[] {0, 0, 0}, FLT_MAX, 2e38f, FLT_MAX)
      };
      double[] actual = doubles(output(path, q, k, v, options));
      String what = path + " values near FLT_MAX";
      // float32 rounding: about 1e-7 of the output, 3e31 here
      assertClose(what + " vs the expected output", expected, actual, 0, 1e-6);
      double[] chain = doubles(Attention.attentionStepByStep(q, k, v, options).output());
      assertClose(what + " vs the chain", chain, actual, 0, 1e-6);
    }
  }

  /** softcap 3e38: c·tanh(x/c) is x for these scores, 1 and 2. */
  @ParameterizedTest
  @EnumSource(Path.class)
  void aSoftcapNearFltMaxLeavesTheScores(Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {1}, 1, 1);
      NDArray k = floats(m, new float[] {1, 2}, 2, 1);
      NDArray v = floats(m, new float[] {10, 20}, 2, 1);
      AttentionOptions options = AttentionOptions.builder().optScale(1).optSoftcap(3e38).build();
      assertAgrees(path, q, k, v, options, softmaxAverage(new double[] {1, 2}, 10, 20));
    }
  }

  /** softcap 1.2e-38, the smallest normal float32 or so: every score becomes ±c, about 0. */
  @ParameterizedTest
  @EnumSource(Path.class)
  void aSoftcapNearTheSmallestNormalFloat32(Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = floats(m, new float[] {1, -1, 0}, 3, 1);
      NDArray k = floats(m, new float[] {1, 2}, 2, 1);
      NDArray v = floats(m, new float[] {10, 20}, 2, 1);
      AttentionOptions options = AttentionOptions.builder().optSoftcap(1.2e-38).build();
      assertAgrees(path, q, k, v, options, 15, 15, 15);
    }
  }

  /** A scale or softcap float32 cannot hold: refused, not turned into NaN or dropped. */
  static Stream<Arguments> pathsAndScalarsOutsideFloat32() {
    Object[][] scalars = {
      {"scale", 1e39, "it would become Infinity"},
      {"scale", 1e-39, "it would become the subnormal"},
      {"scale", 1e-50, "it would become 0.0"},
      {"softcap", 1e39, "it would become Infinity"},
      {"softcap", 1e-40, "it would become the subnormal"},
      {"softcap", 1e-50, "it would become 0.0"}
    };
    return Stream.of(Path.values())
        .flatMap(p -> Arrays.stream(scalars).map(s -> Arguments.of(p, s[0], s[1], s[2])));
  }

  @ParameterizedTest(name = "{0} {1} {2}")
  @MethodSource("pathsAndScalarsOutsideFloat32")
  void aScaleOrSoftcapOutsideFloat32IsRefusedForFloat32Inputs(
      Path path, String which, double value, String becomes) {
    try (NDManager m = manager.newSubManager()) {
      AttentionOptions.Builder builder = AttentionOptions.builder();
      if (which.equals("scale")) {
        builder.optScale(value);
      } else {
        builder.optSoftcap(value);
      }
      AttentionOptions options = builder.build();
      for (DataType dtype : new DataType[] {DataType.FLOAT32, DataType.FLOAT16}) {
        NDArray q = floats(m, new float[] {1}, 1, 1).toType(dtype, false);
        NDArray k = floats(m, new float[] {1, 2}, 2, 1).toType(dtype, false);
        NDArray v = floats(m, new float[] {10, 20}, 2, 1).toType(dtype, false);
        assertRefused(
            path,
            q,
            k,
            v,
            options,
            which + " " + value + " is outside the range float32 can compute with",
            "[1.17549435E-38, 3.4028235E38]",
            becomes);
      }
    }
  }

  /** The same scale is finite in float64, and float64 inputs compute with it. */
  @ParameterizedTest
  @EnumSource(Path.class)
  void aScaleBeyondFloat32IsFineForFloat64Inputs(Path path) {
    assumeTrue(!path.float32Only(), () -> path + " computes in float32 only");
    try (NDManager m = manager.newSubManager()) {
      NDArray q = m.create(new double[] {1e-20}, new Shape(1, 1));
      NDArray k = m.create(new double[] {1e-19, 2e-19}, new Shape(2, 1));
      NDArray v = m.create(new double[] {10, 20}, new Shape(2, 1));
      AttentionOptions options = AttentionOptions.builder().optScale(1e39).build();
      assertAgrees(
          path,
          q,
          k,
          v,
          options,
          new double[] {softmaxAverage(new double[] {1, 2}, 10, 20)},
          1e-12);
    }
  }

  @ParameterizedTest
  @EnumSource(Path.class)
  void aScaleOutsideFloat64IsRefusedForFloat64Inputs(Path path) {
    assumeTrue(!path.float32Only(), () -> path + " computes in float32 only");
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.create(new double[] {1, 2}, new Shape(2, 1));
      assertRefused(
          path,
          x,
          x,
          x,
          AttentionOptions.builder().optScale(1e-310).build(),
          "scale 1.0E-310 is outside the range float64 can compute with",
          "[2.2250738585072014E-308, 1.7976931348623157E308]");
    }
  }

  static Stream<Arguments> generatedCases() {
    return Stream.concat(
            ExtremeCases.stream(0, 60, DataType.FLOAT32),
            ExtremeCases.stream(1000, 30, DataType.FLOAT64))
        .flatMap(
            c ->
                Stream.of(Path.values())
                    .filter(p -> !p.float32Only() || c.dtype() == DataType.FLOAT32)
                    .map(p -> Arguments.of(c, p)));
  }

  /** {@link ExtremeCases}: every path against the chain and the float64 reference. */
  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("generatedCases")
  void generatedExtremeCasesAgreeOnEveryPath(ExtremeCases.Case c, Path path) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = c.query(m);
      NDArray k = c.key(m);
      NDArray v = c.value(m);
      AttentionOptions options = c.options(c.mask(m));
      assumeTrue(
          path != Path.TORCHSCRIPT_AUTOGRAD || options.softcap() == null,
          "the fused kernel with autograd takes no softcap (the chain does)");
      double[] actual = doubles(output(path, q, k, v, options));
      double[] chain = doubles(Attention.attentionStepByStep(q, k, v, options).output());
      assertClose(c + " " + path + " vs the chain", chain, actual, c.atol(), 0);
      double[] reference = c.reference().output().data();
      assertClose(c + " " + path + " vs the float64 reference", reference, actual, c.atol(), 0);
    }
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("refusedCases")
  void refusedScalarsOfTheGeneratorAreRefusedOnEveryPath(ExtremeCases.Refused r, Path path) {
    DataType dtype = r.computeType().equals("float64") ? DataType.FLOAT64 : DataType.FLOAT32;
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.create(new double[] {1, 2}, new Shape(2, 1)).toType(dtype, false);
      assertRefused(path, x, x, x, r.options(), r.message());
    }
  }

  static Stream<Arguments> refusedCases() {
    return Stream.of(DataType.FLOAT32, DataType.FLOAT64)
        .flatMap(dtype -> ExtremeCases.refusedScalars(dtype).stream())
        .flatMap(
            r ->
                Stream.of(Path.values())
                    .filter(p -> !p.float32Only() || r.computeType().equals("float32"))
                    .map(p -> Arguments.of(r, p)));
  }

  /** The average of {@code values} weighted by softmax(scores), in float64. */
  private static double softmaxAverage(double[] scores, double... values) {
    double max = Arrays.stream(scores).max().orElseThrow();
    double sum = 0;
    double weighted = 0;
    for (int j = 0; j < scores.length; j++) {
      double e = Math.exp(scores[j] - max);
      sum += e;
      weighted += e * values[j];
    }
    return weighted / sum;
  }
}
