package io.github.djlattention.cli;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.io.Npy;
import io.github.djlattention.io.Npz;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Options;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code compute} end to end: .npy files in, .npz out, compared with the seed's golden tensors and
 * with the float64 reference.
 */
class ComputeCommandTest {

  private static final Path SEED = Path.of("models", "seed");

  /** The seed document printed 4 decimals: half a unit of the last place. */
  private static final double FOUR_DECIMALS = 0.5e-4;

  private static final double FLOAT32 = 1e-5;

  @TempDir Path dir;

  private NDManager manager;

  @BeforeEach
  void setUp() {
    manager = TestTensors.manager();
  }

  @AfterEach
  void tearDown() {
    manager.close();
  }

  @Test
  void scaleOneReproducesTheSeedSoftmaxTable() {
    Path out = dir.resolve("out.npz");
    CliRun run = compute(seedArgs(out, "--scale", "1"));
    Map<String, NDArray> expected = Npz.read(manager, SEED.resolve("expected.npz"));
    Map<String, NDArray> actual = Npz.read(manager, out);
    assertEquals(List.of("output", "weights"), List.copyOf(actual.keySet()));
    assertEquals(new Shape(3, 3), actual.get("weights").getShape());
    assertEquals(DataType.FLOAT32, actual.get("weights").getDataType());
    assertClose(
        "weights vs weights_unscaled",
        doubles(expected.get("weights_unscaled")),
        doubles(actual.get("weights")),
        FOUR_DECIMALS,
        0);
    assertClose(
        "output vs output_scale1",
        doubles(expected.get("output_scale1")),
        doubles(actual.get("output")),
        FOUR_DECIMALS,
        0);
    assertTrue(run.out().contains("scale 1.0"), run::toString);
  }

  @Test
  void defaultScaleIsOneOverRootOfHeadSize() {
    Path out = dir.resolve("out.npz");
    compute(seedArgs(out));
    Map<String, NDArray> expected = Npz.read(manager, SEED.resolve("expected.npz"));
    assertClose(
        "weights vs weights_scaled (1/sqrt(4))",
        doubles(expected.get("weights_scaled")),
        doubles(Npz.read(manager, out).get("weights")),
        FOUR_DECIMALS,
        0);
  }

  @Test
  void summaryIsOneLineWithShapesDtypeAndPath() {
    Path out = dir.resolve("out.npz");
    CliRun run = compute(seedArgs(out));
    assertEquals(1, run.out().lines().count(), run::toString);
    assertTrue(
        run.out().startsWith("wrote " + out + ": output (3, 3), weights (3, 3), float32"),
        run::toString);
    assertEquals("", run.err());
  }

  @Test
  void verboseAddsALineWithTheEngineAndTheScaleUsed() {
    CliRun run = compute(seedArgs(dir.resolve("out.npz"), "--verbose"));
    List<String> lines = run.out().lines().toList();
    assertEquals(2, lines.size(), run::toString);
    assertTrue(lines.get(1).startsWith("engine PyTorch "), run::toString);
    assertTrue(lines.get(1).contains("scale used 0.5;"), run::toString);
  }

  @Test
  void float16InputsGiveFloat16Outputs() {
    Case c = new Case(new Random(15), new int[] {3, 4}, new int[] {5, 4}, new int[] {5, 2});
    c.writeAs(DataType.FLOAT16);
    Path out = dir.resolve("f16.npz");
    compute(c.args(out));
    Map<String, NDArray> actual = Npz.read(manager, out);
    assertEquals(DataType.FLOAT16, actual.get("weights").getDataType());
    ReferenceAttention.Result expected =
        ReferenceAttention.attention(c.q4(), c.k4(), c.v4(), Options.defaults());
    assertClose("weights", expected.weights().data(), doubles(actual.get("weights")), 2e-3, 0);
  }

  @Test
  void causalMatchesTheReference() {
    Case c =
        new Case(new Random(11), new int[] {2, 5, 4}, new int[] {2, 5, 4}, new int[] {2, 5, 3});
    Path out = dir.resolve("causal.npz");
    compute(c.args(out, "--causal"));
    Map<String, NDArray> actual = Npz.read(manager, out);
    ReferenceAttention.Result expected =
        ReferenceAttention.attention(c.q4(), c.k4(), c.v4(), new Options(null, true, null, null));
    assertClose("output", expected.output().data(), doubles(actual.get("output")), FLOAT32, 0);
    assertClose("weights", expected.weights().data(), doubles(actual.get("weights")), FLOAT32, 0);
    assertEquals(new Shape(2, 5, 5), actual.get("weights").getShape());
    assertEquals(0.0, actual.get("weights").getFloat(1, 0, 1), "query 0 must not see key 1");
  }

  @Test
  void booleanMaskWithGroupedHeadsMatchesTheReference() {
    Random random = new Random(12);
    Case c =
        new Case(random, new int[] {2, 4, 3, 8}, new int[] {2, 2, 6, 8}, new int[] {2, 2, 6, 5});
    boolean[] keep = new boolean[3 * 6];
    for (int n = 0; n < keep.length; n++) {
      keep[n] = n % 6 == 0 || random.nextBoolean(); // every query keeps key 0
    }
    Path mask = dir.resolve("mask.npy");
    Npy.write(mask, manager.create(keep, new Shape(3, 6))); // (S, T), broadcast over B and H
    Path out = dir.resolve("masked.npz");
    compute(c.args(out, "--mask", mask.toString(), "--scale", "0.5"));
    Map<String, NDArray> actual = Npz.read(manager, out);
    Options options = new Options(Options.additive(keep, new int[] {1, 1, 3, 6}), false, 0.5, null);
    ReferenceAttention.Result expected =
        ReferenceAttention.attention(c.q4(), c.k4(), c.v4(), options);
    assertEquals(new Shape(2, 4, 3, 5), actual.get("output").getShape());
    assertEquals(new Shape(2, 4, 3, 6), actual.get("weights").getShape());
    assertClose("output", expected.output().data(), doubles(actual.get("output")), FLOAT32, 0);
    assertClose("weights", expected.weights().data(), doubles(actual.get("weights")), FLOAT32, 0);
  }

  @Test
  void floatMaskAndCausalAndSoftcapMatchTheReference() {
    Random random = new Random(13);
    Case c = new Case(random, new int[] {4, 6}, new int[] {4, 6}, new int[] {4, 2});
    double[] bias = TestTensors.uniform(random, 4 * 4);
    Path mask = dir.resolve("bias.npy");
    Npy.write(mask, manager.create(bias, new Shape(4, 4)).toType(DataType.FLOAT32, false));
    Path out = dir.resolve("bias.npz");
    compute(c.args(out, "--mask", mask.toString(), "--causal", "--softcap", "2"));
    double[] bias32 = doubles(Npy.read(manager, mask));
    Options options = new Options(new Tensor(bias32, new int[] {1, 1, 4, 4}), true, null, 2.0);
    ReferenceAttention.Result expected =
        ReferenceAttention.attention(c.q4(), c.k4(), c.v4(), options);
    Map<String, NDArray> actual = Npz.read(manager, out);
    assertClose("output", expected.output().data(), doubles(actual.get("output")), FLOAT32, 0);
    assertClose("weights", expected.weights().data(), doubles(actual.get("weights")), FLOAT32, 0);
  }

  @Test
  void float64InputsGiveFloat64Outputs() {
    Case c = new Case(new Random(14), new int[] {3, 4}, new int[] {5, 4}, new int[] {5, 2});
    c.writeAs(DataType.FLOAT64);
    Path out = dir.resolve("f64.npz");
    compute(c.args(out));
    Map<String, NDArray> actual = Npz.read(manager, out);
    assertEquals(DataType.FLOAT64, actual.get("output").getDataType());
    ReferenceAttention.Result expected =
        ReferenceAttention.attention(c.q4(), c.k4(), c.v4(), Options.defaults());
    assertClose("weights", expected.weights().data(), doubles(actual.get("weights")), 1e-12, 0);
  }

  private CliRun compute(String... args) {
    CliRun run = CliRun.of(args);
    assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
    return run;
  }

  private static String[] seedArgs(Path out, String... extra) {
    String[] base = {
      "compute",
      "--q",
      SEED.resolve("q.npy").toString(),
      "--k",
      SEED.resolve("k.npy").toString(),
      "--v",
      SEED.resolve("v_identity.npy").toString(),
      "--out",
      out.toString()
    };
    return concat(base, extra);
  }

  private static String[] concat(String[] a, String[] b) {
    String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, all, a.length, b.length);
    return all;
  }

  /** Random q, k, v written as float32 .npy files in the temp dir, and their 4-D reference. */
  private final class Case {
    private final Tensor q;
    private final Tensor k;
    private final Tensor v;

    Case(Random random, int[] qShape, int[] kShape, int[] vShape) {
      q = random(random, qShape);
      k = random(random, kShape);
      v = random(random, vShape);
      writeAs(DataType.FLOAT32);
    }

    /** Writes the files; the reference keeps the values the files hold. */
    void writeAs(DataType dtype) {
      write("q.npy", q, dtype);
      write("k.npy", k, dtype);
      write("v.npy", v, dtype);
    }

    private void write(String name, Tensor t, DataType dtype) {
      long[] shape = java.util.Arrays.stream(t.shape()).asLongStream().toArray();
      Npy.write(dir.resolve(name), TestTensors.create(manager, t.data(), dtype, shape));
    }

    String[] args(Path out, String... extra) {
      String[] base = {
        "compute",
        "--q",
        dir.resolve("q.npy").toString(),
        "--k",
        dir.resolve("k.npy").toString(),
        "--v",
        dir.resolve("v.npy").toString(),
        "--out",
        out.toString()
      };
      return concat(base, extra);
    }

    Tensor q4() {
      return to4d(q);
    }

    Tensor k4() {
      return to4d(k);
    }

    Tensor v4() {
      return to4d(v);
    }
  }

  /** Random values rounded to float32, so the reference sees what the files hold. */
  private static Tensor random(Random random, int[] shape) {
    int size = java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b);
    double[] data = TestTensors.uniform(random, size);
    for (int n = 0; n < size; n++) {
      data[n] = (float) data[n];
    }
    return new Tensor(data, shape);
  }

  /** (S, D) → (1, 1, S, D); (B, S, D) → (B, 1, S, D); (B, H, S, D) unchanged. */
  private static Tensor to4d(Tensor t) {
    int[] s = t.shape();
    switch (s.length) {
      case 2:
        return new Tensor(t.data(), new int[] {1, 1, s[0], s[1]});
      case 3:
        return new Tensor(t.data(), new int[] {s[0], 1, s[1], s[2]});
      default:
        return t;
    }
  }
}
