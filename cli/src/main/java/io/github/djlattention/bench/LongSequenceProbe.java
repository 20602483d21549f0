package io.github.djlattention.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * The child JVM of the long-sequence probe: one float32 attention of (1, H, S, D) with S = T large,
 * through {@link Attention#attention} without weights (the fast path).
 *
 * <p>Protocol on stdin/stdout, so the parent can read this process's peak RSS while nothing but the
 * attention has run: print {@code computed <seconds>}, wait for a line on stdin, then check a few
 * query rows of every head against the float64 {@link ReferenceAttention} and print {@code checked
 * <maxAbsDiff> <rows>}.
 *
 * <p>Shape legend: H heads, S query length = T key length, D head size.
 */
public final class LongSequenceProbe {

  /** The random seed of the inputs. */
  static final long SEED = 16384;

  private LongSequenceProbe() {}

  /**
   * Runs the probe.
   *
   * @param args S, H, D
   */
  public static void main(String[] args) {
    long seq = Long.parseLong(args[0]);
    long heads = Long.parseLong(args[1]);
    long headDim = Long.parseLong(args[2]);
    Engine engine = Engine.getEngine("PyTorch");
    engine.setRandomSeed((int) SEED);
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      Shape shape = new Shape(1, heads, seq, headDim);
      NDArray q = manager.randomUniform(-1, 1, shape); // (1, H, S, D)
      NDArray k = manager.randomUniform(-1, 1, shape); // (1, H, T, D)
      NDArray v = manager.randomUniform(-1, 1, shape); // (1, H, T, D)
      AttentionOptions fast = AttentionOptions.builder().optReturnWeights(false).build();
      long start = System.nanoTime();
      NDArray output = Attention.attention(q, k, v, fast).output(); // (1, H, S, D)
      double seconds = (System.nanoTime() - start) / 1e9;
      System.out.printf(Locale.ROOT, "computed %.3f%n", seconds);
      System.out.flush();
      awaitLine();
      long[] rows = {0, seq / 3, 2 * seq / 3, seq - 1};
      double worst = 0;
      for (long h = 0; h < heads; h++) {
        worst = Math.max(worst, checkRows(q, k, v, output, h, rows));
      }
      System.out.printf(Locale.ROOT, "checked %.3e %d%n", worst, rows.length);
    }
  }

  /** The largest |fast − reference| over the given query rows of head h. */
  private static double checkRows(
      NDArray q, NDArray k, NDArray v, NDArray output, long h, long[] rows) {
    int t = (int) k.getShape().get(2);
    int d = (int) q.getShape().get(3);
    double[] queryRows = new double[rows.length * d];
    double[] fastRows = new double[rows.length * d];
    for (int r = 0; r < rows.length; r++) {
      NDIndex row = new NDIndex(0, h, rows[r]);
      System.arraycopy(doubles(q.get(row)), 0, queryRows, r * d, d);
      System.arraycopy(doubles(output.get(row)), 0, fastRows, r * d, d);
    }
    ReferenceAttention.Options options = ReferenceAttention.Options.defaults();
    // Rows are independent: the reference of a few query rows against all keys is exact.
    double[] expected =
        ReferenceAttention.attention(
                new Tensor(queryRows, new int[] {1, 1, rows.length, d}),
                new Tensor(doubles(k.get(new NDIndex(0, h))), new int[] {1, 1, t, d}),
                new Tensor(doubles(v.get(new NDIndex(0, h))), new int[] {1, 1, t, d}),
                options)
            .output()
            .data();
    double worst = 0;
    for (int n = 0; n < expected.length; n++) {
      worst = Math.max(worst, Math.abs(expected[n] - fastRows[n]));
    }
    return worst;
  }

  private static double[] doubles(NDArray array) {
    return array.toType(DataType.FLOAT64, false).toDoubleArray();
  }

  private static void awaitLine() {
    try {
      new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
