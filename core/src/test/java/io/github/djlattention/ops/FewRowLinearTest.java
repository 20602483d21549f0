package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import io.github.djlattention.testing.TestTensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The few-row linear kernel against a float64 reference and libtorch's product: every row count it
 * takes, feature sizes around the 16-lane vectors (tails), leading axes, strided inputs, extreme
 * values, the caller's arrays left alone, shared arrays across threads, and the dispatch: grad mode
 * and the size threshold keep libtorch's product.
 */
class FewRowLinearTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  /** Whether the tests run the kernel's AVX2 variant also where the CPU has AVX-512. */
  boolean avx2() {
    return false;
  }

  /** The kernel under test on a product it fits. */
  private NDArray compute(NDArray x, NDArray w, NDArray b) {
    return FewRowLinear.compute(x, w, b, avx2());
  }

  private static void assumeKernel() {
    assumeTrue(
        NativeAttentionKernel.status() == null,
        () -> "the native library is not available here: " + NativeAttentionKernel.status());
  }

  @TestFactory
  Stream<DynamicTest> agreesWithTheFloat64ReferenceAndLibtorch() {
    List<DynamicTest> tests = new ArrayList<>();
    long[] ins = {1, 7, 15, 16, 17, 33, 100, 515};
    long[] outs = {1, 2, 3, 5, 16, 17, 40};
    int seed = 0;
    // every row count through the three paths and their tails, then the tiles' tails up to the top
    long[] rowCounts = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 33, 63, FewRowLinear.MAX_ROWS};
    for (long rows : rowCounts) {
      for (long in : ins) {
        long out = outs[(int) ((rows + in) % outs.length)];
        for (boolean bias : new boolean[] {true, false}) {
          int caseSeed = seed++;
          long r = rows;
          tests.add(
              DynamicTest.dynamicTest(
                  "rows " + rows + ", in " + in + ", out " + out + (bias ? ", bias" : ""),
                  () -> check(caseSeed, new Shape(r, in), out, bias, 1)));
        }
      }
    }
    return tests.stream();
  }

  @Test
  void leadingAxesAndStridedInputs() {
    assumeKernel();
    check(101, new Shape(2, 3, 40), 24, true, 1); // six rows over two leading axes
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(7);
      NDArray wide = uniform(scope, random, new Shape(40, 3)); // x is its transpose: strided
      NDArray x = wide.transpose();
      NDArray w = uniform(scope, random, new Shape(21, 40));
      NDArray b = uniform(scope, random, new Shape(21));
      assertClose(reference(x, w, b), compute(x, w, b), x, w, b);
      NDArray wT = uniform(scope, random, new Shape(40, 21)).transpose(); // a strided weight
      assertClose(reference(x, wT, b), compute(x, wT, b), x, wT, b);
    }
  }

  @Test
  void extremeFiniteValuesStayFiniteAndNanPropagates() {
    assumeKernel();
    check(202, new Shape(3, 64), 9, true, 1e17f); // products near 1e34, sums below FLT_MAX
    check(203, new Shape(13, 64), 9, true, 1e17f); // the same through the 4 x 4 tiles
    // a NaN in row 1 reaches every output of row 1 and nothing else, also of the rows that share
    // its tile (two rows: two rows of W at a time; five and nine: tiles with a tail of one row)
    for (int rows : new int[] {2, 5, 9}) {
      try (NDManager scope = manager.newSubManager()) {
        Random random = new Random(3);
        NDArray x = uniform(scope, random, new Shape(rows, 20));
        x.set(new ai.djl.ndarray.index.NDIndex("1, 5"), Float.NaN);
        NDArray w = uniform(scope, random, new Shape(6, 20));
        float[] y = compute(x, w, null).toFloatArray();
        for (int m = 0; m < rows; m++) {
          for (int o = 0; o < 6; o++) {
            float value = y[m * 6 + o];
            String where = rows + " rows, y[" + m + "][" + o + "] = " + value;
            assertTrue(m == 1 ? Float.isNaN(value) : Float.isFinite(value), where);
          }
        }
      }
    }
  }

  @Test
  void theCallersArraysAreLeftAloneAndTheResultIsXsManagers() {
    assumeKernel();
    try (NDManager caller = manager.newSubManager()) {
      Random random = new Random(11);
      NDArray x = uniform(caller, random, new Shape(1, 2, 33));
      NDArray w = uniform(caller, random, new Shape(17, 33));
      NDArray b = uniform(caller, random, new Shape(17));
      float[] xBefore = x.toFloatArray();
      float[] wBefore = w.toFloatArray();
      NDArray y = compute(x, w, b);
      assertSame(x.getManager(), y.getManager(), "the result belongs to x's manager");
      assertEquals(new Shape(1, 2, 17), y.getShape());
      assertArrayEquals(xBefore, x.toFloatArray());
      assertArrayEquals(wBefore, w.toFloatArray());
      assertSame(caller, x.getManager(), "x stays in the caller's manager");
      assertSame(caller, w.getManager());
      assertSame(caller, b.getManager());
    }
  }

  @Test
  void sharedArraysAcrossThreadsGiveTheSameResult() throws Exception {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(5);
      NDArray x = uniform(scope, random, new Shape(4, 300));
      NDArray w = uniform(scope, random, new Shape(130, 300));
      NDArray b = uniform(scope, random, new Shape(130));
      float[] expected = compute(x, w, b).toFloatArray();
      ExecutorService pool = Executors.newFixedThreadPool(4);
      try {
        List<Future<float[]>> results = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
          results.add(
              pool.submit(
                  () -> {
                    try (NDManager own = scope.newSubManager()) {
                      NDArray y = compute(x, w, b);
                      y.attach(own);
                      return y.toFloatArray();
                    }
                  }));
        }
        for (Future<float[]> result : results) {
          assertArrayEquals(expected, result.get());
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }

  /**
   * The measured preference: 9 to 32 rows against 2^18 weights or more on every CPU kind, never
   * below 2^18 weights or outside 1 to MAX_ROWS rows; {@code -Ddjl.attention.linear=true} takes the
   * kernel wherever it fits, {@code false} nowhere.
   */
  @Test
  void thePreferenceFollowsTheMeasuredRowsAndThePropertyOverridesIt() {
    for (FewRowLinear.CpuKind kind : FewRowLinear.CpuKind.values()) {
      for (long rows : new long[] {9, 16}) {
        assertTrue(FewRowLinear.preferred(rows, 1L << 18, kind), kind + ": " + rows + " rows");
      }
      assertFalse(FewRowLinear.preferred(16, (1L << 18) - 1, kind), kind.toString());
      assertFalse(FewRowLinear.preferred(0, 1L << 20, kind), kind.toString());
      assertFalse(FewRowLinear.preferred(FewRowLinear.MAX_ROWS + 1, 1L << 24, kind), kind.name());
    }
    // the rows each kind measured faster on libtorch's side
    assertFalse(FewRowLinear.preferred(1, 1L << 24, FewRowLinear.CpuKind.INTEL_AVX512));
    assertFalse(FewRowLinear.preferred(64, 1L << 24, FewRowLinear.CpuKind.INTEL_AVX512));
    assertTrue(FewRowLinear.preferred(32, 1L << 18, FewRowLinear.CpuKind.INTEL_AVX512));
    assertFalse(FewRowLinear.preferred(1, 1L << 18, FewRowLinear.CpuKind.AVX2));
    assertTrue(FewRowLinear.preferred(1, 1L << 20, FewRowLinear.CpuKind.AVX2));
    assertFalse(FewRowLinear.preferred(32, 1L << 20, FewRowLinear.CpuKind.AVX2));
    assertTrue(FewRowLinear.preferred(128, 1L << 22, FewRowLinear.CpuKind.AVX2));
    assertTrue(FewRowLinear.preferred(128, 1L << 18, FewRowLinear.CpuKind.AVX512));
    assertTrue(FewRowLinear.preferred(1, 1L << 18, FewRowLinear.CpuKind.AVX512));
    assumeKernel();
    String before = System.getProperty(FewRowLinear.ENABLED_PROPERTY);
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(10);
      NDArray x = uniform(scope, random, new Shape(1, 64));
      NDArray tiny = uniform(scope, random, new Shape(8, 64)); // far below 2^18
      assertFalse(FewRowLinear.serves(x, tiny, null));
      System.setProperty(FewRowLinear.ENABLED_PROPERTY, "true");
      assertTrue(FewRowLinear.serves(x, tiny, null), "pinned: wherever it fits");
      System.setProperty(FewRowLinear.ENABLED_PROPERTY, "false");
      assertFalse(FewRowLinear.serves(x, tiny, null), "turned off");
    } finally {
      if (before == null) {
        System.clearProperty(FewRowLinear.ENABLED_PROPERTY);
      } else {
        System.setProperty(FewRowLinear.ENABLED_PROPERTY, before);
      }
    }
  }

  @Test
  void libtorchsProductKeepsGradientsAndSmallWeights() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(9);
      NDArray x = uniform(scope, random, new Shape(1, 1, 1024));
      NDArray sixteen = uniform(scope, random, new Shape(16, 1024)); // preferred on every CPU kind
      NDArray big = uniform(scope, random, new Shape(1024, 1024)); // 2^20 weights: served
      NDArray small = uniform(scope, random, new Shape(128, 1024)); // below 2^18
      assertTrue(FewRowLinear.serves(sixteen, big, null));
      assertEquals(FewRowLinear.preferred(1, 1L << 20), FewRowLinear.serves(x, big, null));
      assertFalse(FewRowLinear.serves(x, small, null), "libtorch is faster for small weights");
      assertFalse(
          FewRowLinear.serves(sixteen, small, null), "libtorch is faster for small weights");
      NDArray many = uniform(scope, random, new Shape(FewRowLinear.MAX_ROWS, 1024));
      NDArray quarter = uniform(scope, random, new Shape(256, 1024)); // 2^18
      assertTrue(FewRowLinear.serves(sixteen, quarter, null), "2^18 weights are enough");
      assertEquals(
          FewRowLinear.preferred(FewRowLinear.MAX_ROWS, 1L << 18),
          FewRowLinear.serves(many, quarter, null));
      NDArray rows = uniform(scope, random, new Shape(FewRowLinear.MAX_ROWS + 1, 1024));
      assertFalse(FewRowLinear.serves(rows, big, null), "more rows than the kernel takes");
      big.setRequiresGradient(true);
      try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
        assertFalse(FewRowLinear.serves(sixteen, big, null), "grad mode on: libtorch records it");
        NDArray y = FewRowLinear.linear(x, big, null);
        collector.backward(y.sum());
      }
      NDArray gradient = big.getGradient();
      // d(sum(x W^T))/dW[o][k] = x[k] for every o
      float[] g = gradient.get("0").toFloatArray();
      assertArrayEquals(x.toFloatArray(), g, 1e-6f);
    }
  }

  @Test
  void aMisfitIsRefusedByName() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      NDArray x = scope.ones(new Shape(2, 5));
      NDArray w = scope.ones(new Shape(3, 4));
      assertFalse(FewRowLinear.fits(x, w, null));
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> compute(x, w, null));
      assertTrue(e.getMessage().contains("(2, 5)"), e.getMessage());
      assertThrows(RuntimeException.class, () -> FewRowLinear.linear(x, w, null)); // libtorch's
    }
  }

  /** One seeded product against the float64 reference and libtorch's product. */
  private void check(int seed, Shape xShape, long out, boolean withBias, float scale) {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(seed);
      long in = xShape.get(xShape.dimension() - 1);
      NDArray x = uniform(scope, random, xShape).mul(scale);
      NDArray w = uniform(scope, random, new Shape(out, in)).mul(scale);
      NDArray b = withBias ? uniform(scope, random, new Shape(out)).mul(scale * scale) : null;
      NDArray y = compute(x, w, b);
      assertEquals(xShape.slice(0, xShape.dimension() - 1).add(out), y.getShape());
      assertClose(reference(x, w, b), y, x, w, b);
      NDArray torch =
          b == null
              ? Linear.linear(x, w).singletonOrThrow()
              : Linear.linear(x, w, b).singletonOrThrow();
      assertClose(reference(x, w, b), torch, x, w, b); // the bound holds libtorch too
    }
  }

  /** y = x Wᵀ + b in float64. */
  private static double[] reference(NDArray x, NDArray w, NDArray b) {
    long in = w.getShape().get(1);
    long out = w.getShape().get(0);
    double[] xs = x.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).toDoubleArray();
    double[] ws = w.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).toDoubleArray();
    double[] bs =
        b == null ? null : b.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).toDoubleArray();
    int rows = (int) (xs.length / in);
    double[] y = new double[(int) (rows * out)];
    for (int m = 0; m < rows; m++) {
      for (int o = 0; o < out; o++) {
        double s = bs == null ? 0 : bs[o];
        for (int k = 0; k < in; k++) {
          s += xs[(int) (m * in + k)] * ws[(int) (o * in + k)];
        }
        y[(int) (m * out + o)] = s;
      }
    }
    return y;
  }

  /** |y − ref| within float32's rounding of the sum of |terms| (in · 2⁻²³ of it, generously). */
  private static void assertClose(double[] ref, NDArray y, NDArray x, NDArray w, NDArray b) {
    long in = w.getShape().get(1);
    long out = w.getShape().get(0);
    double[] xs = x.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).abs().toDoubleArray();
    double[] ws = w.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).abs().toDoubleArray();
    double[] bs =
        b == null
            ? null
            : b.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).abs().toDoubleArray();
    float[] got = y.toFloatArray();
    assertEquals(ref.length, got.length);
    for (int n = 0; n < ref.length; n++) {
      int m = (int) (n / out);
      int o = (int) (n % out);
      double magnitude = bs == null ? 0 : bs[o];
      for (int k = 0; k < in; k++) {
        magnitude += xs[(int) (m * in + k)] * ws[(int) (o * in + k)];
      }
      double bound = (in + 2) * 0x1p-23 * magnitude + Float.MIN_NORMAL;
      assertTrue(
          Math.abs(got[n] - ref[n]) <= bound,
          "element " + n + ": " + got[n] + " against " + ref[n] + " (bound " + bound + ")");
    }
  }

  private static NDArray uniform(NDManager scope, Random random, Shape shape) {
    float[] data = new float[(int) shape.size()];
    for (int n = 0; n < data.length; n++) {
      data[n] = random.nextFloat() * 2 - 1;
    }
    return scope.create(data, shape);
  }
}
