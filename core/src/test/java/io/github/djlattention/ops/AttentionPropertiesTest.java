package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import io.github.djlattention.testing.RandomAttentionCase;
import io.github.djlattention.testing.TestTensors;
import java.util.Random;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Property tests over seeded random cases ({@link RandomAttentionCase}: ranks 2-4, cross-attention
 * lengths, grouped heads, boolean and float masks of random broadcast shapes, causal, scale,
 * softcap): agreement with the float64 {@link ReferenceAttention}, and invariants that hold for any
 * input.
 *
 * <ul>
 *   <li>every weight row sums to 1, or to 0 exactly when the reference row is fully masked;
 *   <li>permuting keys and values together (and the mask's key axis) permutes the weights the same
 *       way and leaves the output unchanged;
 *   <li>adding a constant per query row to the mask (softmax shift invariance) changes nothing, and
 *       a boolean mask equals its additive 0/−∞ form;
 *   <li>logits of magnitude ≥ 10⁴ neither overflow nor give NaN.
 * </ul>
 *
 * <p>The seed of each case is in its name; seeds differ from those of {@link
 * AttentionVsReferenceTest}.
 */
class AttentionPropertiesTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  private static Stream<RandomAttentionCase> cases(long from, int count) {
    return LongStream.range(from, from + count)
        .mapToObj(
            seed ->
                RandomAttentionCase.generate(
                    seed, seed % 4 == 3 ? DataType.FLOAT64 : DataType.FLOAT32));
  }

  static Stream<RandomAttentionCase> referenceCases() {
    return cases(100_000, 1500);
  }

  static Stream<RandomAttentionCase> permutationCases() {
    return cases(200_000, 500);
  }

  static Stream<RandomAttentionCase> shiftCases() {
    return cases(300_000, 500);
  }

  static Stream<RandomAttentionCase> extremeCases() {
    return cases(400_000, 300);
  }

  private static double atol(RandomAttentionCase c) {
    return c.dtype() == DataType.FLOAT64 ? 1e-12 : 1e-5;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("referenceCases")
  void agreesWithTheReferenceAndRowsSumToOneOrZero(RandomAttentionCase c) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = c.query(m);
      NDArray k = c.key(m);
      NDArray v = c.value(m);
      NDArray mask = c.mask(m);
      AttentionResult actual = Attention.attention(q, k, v, c.options(mask));
      ReferenceAttention.Result expected = c.reference(q, k, v, mask);
      double[] weights = doubles(actual.weights());
      assertClose(c + " output", expected.output().data(), doubles(actual.output()), atol(c), 0);
      assertClose(c + " weights", expected.weights().data(), weights, atol(c), 0);
      double[] reference = expected.weights().data();
      int keys = (int) c.weightsShape()[c.rank() - 1];
      for (int row = 0; row * keys < weights.length; row++) {
        double sum = 0;
        boolean fullyMasked = true;
        for (int j = row * keys; j < (row + 1) * keys; j++) {
          sum += weights[j];
          fullyMasked &= reference[j] == 0;
        }
        assertEquals(fullyMasked ? 0 : 1, sum, fullyMasked ? 0 : 4 * atol(c), c + " row " + row);
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("permutationCases")
  void permutingKeysAndValuesTogetherChangesNothing(RandomAttentionCase c) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = c.query(m);
      NDArray k = c.key(m);
      NDArray v = c.value(m);
      NDArray mask = c.mask(m);
      // Causal masking ties keys to positions; without it the keys are a set.
      AttentionOptions options = c.options(mask).toBuilder().optCausal(false).build();
      AttentionResult before = Attention.attention(q, k, v, options);

      int rank = c.rank();
      int keys = (int) k.getShape().get(rank - 2);
      int[] perm = permutation(keys, new Random(c.hashCode()));
      NDArray kp = permuteAxis(m, k, rank - 2, perm);
      NDArray vp = permuteAxis(m, v, rank - 2, perm);
      NDArray maskp = mask;
      if (mask != null && mask.getShape().get(mask.getShape().dimension() - 1) == keys) {
        maskp = permuteAxis(m, mask, mask.getShape().dimension() - 1, perm);
      }
      AttentionResult after =
          Attention.attention(q, kp, vp, options.toBuilder().optMask(maskp).build());

      double tol = 10 * atol(c);
      assertClose(c + " output", doubles(before.output()), doubles(after.output()), tol, 0);
      NDArray expectedWeights = permuteAxis(m, before.weights(), rank - 1, perm);
      assertClose(c + " weights", doubles(expectedWeights), doubles(after.weights()), tol, 0);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("shiftCases")
  void addingAConstantPerRowToTheMaskChangesNothing(RandomAttentionCase c) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = c.query(m);
      NDArray k = c.key(m);
      NDArray v = c.value(m);
      NDArray mask = c.mask(m);
      AttentionOptions options = c.options(mask);
      AttentionResult plain = Attention.attention(q, k, v, options);

      // One constant per (batch, head, query) row; the weights' shape with the key axis 1.
      long[] rowShape = c.weightsShape();
      rowShape[rowShape.length - 1] = 1;
      double range = c.dtype() == DataType.FLOAT64 ? 1e4 : 20;
      Random random = new Random(c.hashCode());
      double[] shifts = new double[(int) new Shape(rowShape).size()];
      for (int n = 0; n < shifts.length; n++) {
        shifts[n] = (2 * random.nextDouble() - 1) * range;
      }
      NDArray shift = TestTensors.create(m, shifts, c.dtype(), rowShape);
      NDArray additive = mask == null ? m.zeros(new Shape(1), c.dtype()) : additive(m, mask, c);
      NDArray shifted = additive.add(shift); // broadcasts to (…, S, T) or (…, S, 1)
      AttentionResult moved =
          Attention.attention(q, k, v, options.toBuilder().optMask(shifted).build());

      double tol = c.dtype() == DataType.FLOAT64 ? 1e-9 : 2e-5;
      assertClose(c + " output", doubles(plain.output()), doubles(moved.output()), tol, 0);
      assertClose(c + " weights", doubles(plain.weights()), doubles(moved.weights()), tol, 0);
    }
  }

  /** A boolean mask as 0 where kept and −∞ where masked; a float mask as it is. */
  private static NDArray additive(NDManager m, NDArray mask, RandomAttentionCase c) {
    if (mask.getDataType() != DataType.BOOLEAN) {
      return mask;
    }
    NDArray zero = m.zeros(new Shape(1), c.dtype());
    NDArray minusInf = m.full(new Shape(1), Float.NEGATIVE_INFINITY).toType(c.dtype(), false);
    return NDArrays.where(
        mask, zero.broadcast(mask.getShape()), minusInf.broadcast(mask.getShape()));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("extremeCases")
  void logitsOfMagnitudeTenThousandStayFinite(RandomAttentionCase c) {
    try (NDManager m = manager.newSubManager()) {
      NDArray q = c.query(m);
      NDArray k = c.key(m);
      NDArray v = c.value(m);
      NDArray mask = c.mask(m);
      // Scores q·k·scale reach about ±10⁴·D; a float mask gets ±10⁴ entries too.
      if (mask != null && mask.getDataType() != DataType.BOOLEAN) {
        mask = mask.sign().mul(1e4).add(mask);
      }
      AttentionOptions options =
          c.options(mask).toBuilder().optScale(1e4).optSoftcap(0).optMask(mask).build();
      AttentionResult actual = Attention.attention(q, k, v, options);
      double[] output = doubles(actual.output());
      double[] weights = doubles(actual.weights());
      double[] values = doubles(v);
      double low = 0;
      double high = 0;
      for (double value : values) {
        low = Math.min(low, value);
        high = Math.max(high, value);
      }
      for (double w : weights) {
        assertTrue(w >= 0 && w <= 1, c + ": weight " + w);
      }
      for (double o : output) {
        // a convex combination of values (or 0 for a fully masked row)
        assertTrue(o >= low - 1e-3 && o <= high + 1e-3, c + ": output " + o);
      }
      int keys = (int) c.weightsShape()[c.rank() - 1];
      for (int row = 0; row * keys < weights.length; row++) {
        double sum = 0;
        for (int j = row * keys; j < (row + 1) * keys; j++) {
          sum += weights[j];
        }
        assertTrue(sum == 0 || Math.abs(sum - 1) < 1e-4, c + ": row " + row + " sums to " + sum);
      }
      if (c.dtype() == DataType.FLOAT64) {
        ReferenceAttention.Options referenceOptions =
            new ReferenceAttention.Options(c.referenceOptions(mask).mask(), c.causal(), 1e4, null);
        ReferenceAttention.Result expected =
            ReferenceAttention.attention(
                new Tensor(doubles(q), c.query4d()),
                new Tensor(doubles(k), c.key4d()),
                new Tensor(values, c.value4d()),
                referenceOptions);
        assertClose(c + " output", expected.output().data(), output, 1e-8, 0);
      }
    }
  }

  private static int[] permutation(int size, Random random) {
    int[] perm = new int[size];
    for (int n = 0; n < size; n++) {
      perm[n] = n;
    }
    for (int n = size - 1; n > 0; n--) {
      int other = random.nextInt(n + 1);
      int swap = perm[n];
      perm[n] = perm[other];
      perm[other] = swap;
    }
    return perm;
  }

  /** Returns {@code a} with index j along {@code axis} taken from index perm[j]. */
  private static NDArray permuteAxis(NDManager m, NDArray a, int axis, int[] perm) {
    long[] shape = a.getShape().getShape();
    boolean bool = a.getDataType() == DataType.BOOLEAN;
    double[] data = bool ? doubles(a.toType(DataType.FLOAT32, false)) : doubles(a);
    long inner = 1;
    for (int i = axis + 1; i < shape.length; i++) {
      inner *= shape[i];
    }
    int length = (int) shape[axis];
    long outer = data.length / Math.max(1, inner * length);
    double[] out = new double[data.length];
    for (long o = 0; o < outer; o++) {
      for (int j = 0; j < length; j++) {
        long from = (o * length + perm[j]) * inner;
        long to = (o * length + j) * inner;
        System.arraycopy(data, (int) from, out, (int) to, (int) inner);
      }
    }
    NDArray result = m.create(out, new Shape(shape));
    return bool ? result.toType(DataType.BOOLEAN, false) : result.toType(a.getDataType(), false);
  }
}
