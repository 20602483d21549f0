package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import io.github.djlattention.testing.RandomAttentionCase;
import io.github.djlattention.testing.TestTensors;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Inputs at the edges of the functional API: zero-length axes, NaN and ±∞, and element types it
 * cannot compute in.
 *
 * <p>Zero-length axes are legal (ONNX allows S = 0): the results have the shapes the formulas give,
 * T = 0 gives zero outputs (every row is fully masked), and D = 0 gives zero scores.
 */
class AttentionEdgeCasesTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  private static NDArray ones(NDManager m, long... shape) {
    return m.ones(new Shape(shape));
  }

  /** (rank, S, T, D, Dv) with at least one zero, in ranks 2 to 4. */
  static Stream<int[]> zeroLengthShapes() {
    return Stream.of(
        new int[] {2, 0, 3, 4, 5},
        new int[] {2, 3, 0, 4, 5},
        new int[] {2, 0, 0, 4, 5},
        new int[] {2, 3, 4, 4, 0},
        new int[] {3, 0, 3, 4, 5},
        new int[] {3, 3, 0, 4, 5},
        new int[] {4, 0, 3, 4, 5},
        new int[] {4, 3, 0, 4, 5},
        new int[] {4, 3, 4, 2, 0});
  }

  @ParameterizedTest(name = "rank={0}")
  @MethodSource("zeroLengthShapes")
  void zeroLengthAxesGiveTheFormulaShapesAndFiniteValues(int[] c) {
    int rank = c[0];
    long s = c[1];
    long t = c[2];
    long d = c[3];
    long dv = c[4];
    try (NDManager m = manager.newSubManager()) {
      NDArray q = ones(m, callerShape(rank, s, d));
      NDArray k = ones(m, callerShape(rank, t, d));
      NDArray v = ones(m, callerShape(rank, t, dv));
      for (boolean causal : new boolean[] {false, true}) {
        AttentionOptions options =
            AttentionOptions.builder()
                .optCausal(causal)
                .optMask(m.ones(new Shape(s, t), DataType.BOOLEAN))
                .build();
        AttentionResult r = Attention.attention(q, k, v, options);
        assertEquals(new Shape(callerShape(rank, s, dv)), r.output().getShape());
        assertEquals(new Shape(callerShape(rank, s, t)), r.weights().getShape());
        if (t == 0 && r.output().size() > 0) {
          // no key at all: every row is fully masked, so the output is 0, not NaN
          assertEquals(0f, r.output().abs().max().getFloat(), "T = 0 output");
        }
        if (r.weights().size() > 0) {
          assertTrue(r.weights().isNaN().any().getBoolean() == false, "weights are not NaN");
        }
      }
    }
  }

  private static long[] callerShape(int rank, long length, long size) {
    switch (rank) {
      case 2:
        return new long[] {length, size};
      case 3:
        return new long[] {2, length, size};
      default:
        return new long[] {2, 3, length, size};
    }
  }

  @Test
  void zeroBatchGivesEmptyResults() {
    try (NDManager m = manager.newSubManager()) {
      AttentionResult r =
          Attention.attention(ones(m, 0, 2, 3, 4), ones(m, 0, 1, 5, 4), ones(m, 0, 1, 5, 6));
      assertEquals(new Shape(0, 2, 3, 6), r.output().getShape());
      assertEquals(new Shape(0, 2, 3, 5), r.weights().getShape());
    }
  }

  @Test
  void zeroHeadsAreRefusedWithTheHeadCounts() {
    try (NDManager m = manager.newSubManager()) {
      NDArray empty = ones(m, 1, 0, 3, 4);
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class, () -> Attention.attention(empty, empty, empty));
      assertTrue(e.getMessage().contains("key/value heads (0)"), e.getMessage());
    }
  }

  @Test
  void zeroHeadSizeWithAnExplicitScaleGivesUniformWeights() {
    try (NDManager m = manager.newSubManager()) {
      NDArray v = m.arange(0f, 8f).reshape(4, 2); // rows (0, 1), (2, 3), (4, 5), (6, 7)
      AttentionResult r =
          Attention.attention(
              ones(m, 3, 0), ones(m, 4, 0), v, AttentionOptions.builder().optScale(1).build());
      assertClose("weights", filled(12, 0.25), doubles(r.weights()), 1e-7, 0);
      assertClose("output", new double[] {3, 4, 3, 4, 3, 4}, doubles(r.output()), 1e-6, 0);
    }
  }

  @Test
  void zeroHeadSizeWithTheDefaultScaleIsNaNAsInIeeeArithmetic() {
    // The default scale 1/√D is +∞ for D = 0, and 0·∞ is NaN: the ONNX formula and the float64
    // reference give NaN too. The call must not fail.
    try (NDManager m = manager.newSubManager()) {
      AttentionResult r = Attention.attention(ones(m, 3, 0), ones(m, 4, 0), ones(m, 4, 2));
      Tensor empty3 = new Tensor(new double[0], new int[] {1, 1, 3, 0});
      Tensor empty4 = new Tensor(new double[0], new int[] {1, 1, 4, 0});
      ReferenceAttention.Result expected =
          ReferenceAttention.attention(
              empty3,
              empty4,
              new Tensor(filled(8, 1), new int[] {1, 1, 4, 2}),
              ReferenceAttention.Options.defaults());
      assertClose("weights", expected.weights().data(), doubles(r.weights()), 0, 0);
      assertTrue(Double.isNaN(doubles(r.weights())[0]));
    }
  }

  private static double[] filled(int size, double value) {
    double[] data = new double[size];
    Arrays.fill(data, value);
    return data;
  }

  static Stream<Arguments> poisonedCases() {
    return IntStream.range(0, 120)
        .mapToObj(
            seed ->
                new Arguments(
                    RandomAttentionCase.generate(
                        7000 + seed, seed % 2 == 0 ? DataType.FLOAT32 : DataType.FLOAT64),
                    7000 + seed));
  }

  /** A random case and the seed that places NaN and ±∞ in its inputs. */
  record Arguments(RandomAttentionCase c, long seed) {
    @Override
    public String toString() {
      return c + " poison=" + seed;
    }
  }

  /**
   * NaN and ±∞ anywhere in query, key or value propagate as IEEE arithmetic does: the float64
   * reference, computing the same formula in plain Java, gives NaN and ±∞ at the same places.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("poisonedCases")
  void nanAndInfinityPropagateLikeTheReference(Arguments a) {
    RandomAttentionCase c = a.c();
    Random random = new Random(a.seed());
    try (NDManager m = manager.newSubManager()) {
      NDArray mask = c.mask(m);
      // A boolean mask replaces the scores of masked keys by −∞, so a NaN score there is dropped,
      // while the reference adds −∞ (NaN + −∞ = NaN): with boolean masks poison only the values,
      // where both agree (0·NaN = NaN). booleanMaskDropsNaNScoresOfMaskedKeys pins the difference.
      boolean booleanMask = mask != null && mask.getDataType() == DataType.BOOLEAN;
      NDArray q = booleanMask ? c.query(m) : poison(m, c.query(m), random);
      NDArray k = booleanMask ? c.key(m) : poison(m, c.key(m), random);
      NDArray v = poison(m, c.value(m), random);
      AttentionResult actual = Attention.attention(q, k, v, c.options(mask));
      ReferenceAttention.Result expected =
          ReferenceAttention.attention(
              new Tensor(doubles(q), c.query4d()),
              new Tensor(doubles(k), c.key4d()),
              new Tensor(doubles(v), c.value4d()),
              c.referenceOptions(mask));
      double atol = c.dtype() == DataType.FLOAT64 ? 1e-12 : 1e-5;
      assertClose(c + " output", expected.output().data(), doubles(actual.output()), atol, 0);
      assertClose(c + " weights", expected.weights().data(), doubles(actual.weights()), atol, 0);
    }
  }

  /**
   * Pins the library's reading of a boolean mask: a masked key takes no part, even when its score
   * is NaN or +∞. The ONNX reference and PyTorch's math kernel turn the mask into an additive −∞
   * instead, where NaN + (−∞) = NaN and +∞ + (−∞) = NaN poison the whole row.
   */
  @Test
  void booleanMaskDropsNaNScoresOfMaskedKeys() {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = ones(m, 1, 2);
      NDArray k =
          m.create(new float[] {1, 1, Float.NaN, 1, Float.POSITIVE_INFINITY, 1}, new Shape(3, 2));
      NDArray v = m.create(new float[] {1, 2, 3}, new Shape(3, 1));
      NDArray keepFirst = m.create(new boolean[] {true, false, false});
      AttentionResult r =
          Attention.attention(q, k, v, AttentionOptions.builder().optMask(keepFirst).build());
      assertClose("weights", new double[] {1, 0, 0}, doubles(r.weights()), 0, 0);
      assertClose("output", new double[] {1}, doubles(r.output()), 0, 0);
      NDArray additive =
          m.create(new float[] {0, Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY});
      AttentionResult added =
          Attention.attention(q, k, v, AttentionOptions.builder().optMask(additive).build());
      assertTrue(added.output().isNaN().all().getBoolean(), "a float −∞ mask adds: NaN + −∞ = NaN");
    }
  }

  private static final double[] POISONS = {
    Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY
  };

  /** Replaces one to three random elements with NaN, +∞ or −∞ (or none, one time in four). */
  private static NDArray poison(NDManager m, NDArray array, Random random) {
    double[] data = doubles(array);
    int count = data.length == 0 || random.nextInt(4) == 0 ? 0 : 1 + random.nextInt(3);
    for (int n = 0; n < count; n++) {
      data[random.nextInt(data.length)] = POISONS[random.nextInt(POISONS.length)];
    }
    return TestTensors.create(m, data, array.getDataType(), array.getShape().getShape());
  }

  @ParameterizedTest
  @EnumSource(
      value = DataType.class,
      names = {"INT8", "UINT8", "INT32", "INT64", "BOOLEAN"})
  void nonFloatingInputsAreRefusedByName(DataType type) {
    try (NDManager m = manager.newSubManager()) {
      NDArray x = m.zeros(new Shape(3, 4), type);
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> Attention.attention(x, x, x));
      assertTrue(e.getMessage().contains(type.toString()), e.getMessage());
    }
  }

  @Test
  void stringInputsAreRefused() {
    try (NDManager m = manager.newSubManager()) {
      NDArray text =
          m.create(new String[] {"a", "b", "c", "d"}, StandardCharsets.UTF_8, new Shape(2, 2));
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> Attention.attention(text, text, text));
      assertTrue(e.getMessage().contains("string"), e.getMessage());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"query", "key", "value"})
  void oneInputOfAnotherFloatTypeIsNamed(String which) {
    try (NDManager m = manager.newSubManager()) {
      NDArray f32 = ones(m, 3, 4);
      NDArray f64 = f32.toType(DataType.FLOAT64, true);
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Attention.attention(
                      "query".equals(which) ? f64 : f32,
                      "key".equals(which) ? f64 : f32,
                      "value".equals(which) ? f64 : f32));
      assertTrue(e.getMessage().contains("float64"), e.getMessage());
    }
  }

  @Test
  void aFloatMaskOfAnotherPrecisionIsConverted() {
    try (NDManager m = manager.newSubManager()) {
      NDArray mask =
          m.create(new double[] {0, Double.NEGATIVE_INFINITY, 0}).toType(DataType.FLOAT16, false);
      AttentionResult r =
          Attention.attention(
              ones(m, 2, 4),
              ones(m, 3, 4),
              ones(m, 3, 2),
              AttentionOptions.builder().optMask(mask).build());
      assertClose(
          "weights", new double[] {0.5, 0, 0.5, 0.5, 0, 0.5}, doubles(r.weights()), 1e-7, 0);
    }
  }
}
