package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.FastAttention.Kernel;
import io.github.djlattention.ops.FastAttention.Precision;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.testing.TestTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The native kernel against the float64 {@link ReferenceAttention}: shapes that cross its 64-row
 * query blocks, 512-key blocks, 16-key panels and 64-column value tiles by one, grouped heads, the
 * causal mask with S ≠ T, strided inputs, special values and concurrent callers. On a Linux x86-64
 * CPU with AVX2 and FMA, in a build that compiled the kernel, it must be available (a build that
 * lost it fails here); elsewhere these tests are skipped visibly. {@link
 * Avx2NativeAttentionKernelTest} runs the same cases on the AVX2 variant.
 */
class NativeAttentionKernelTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  /** The kernel the cases pin: {@link Kernel#NATIVE}, the variant this CPU runs. */
  Kernel kernel() {
    return Kernel.NATIVE;
  }

  /** The flags of /proc/cpuinfo on Linux x86-64, else an empty string. */
  private static String cpuFlags() throws IOException {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "");
    Path cpuinfo = Path.of("/proc/cpuinfo");
    boolean linuxX86 = os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64"));
    return linuxX86 && Files.isReadable(cpuinfo) ? Files.readString(cpuinfo) : "";
  }

  private static void assumeKernel() {
    assumeTrue(
        NativeAttentionKernel.available(),
        () -> "native kernel not available: " + NativeAttentionKernel.status());
  }

  @Test
  void kernelIsAvailableOnLinuxWithAvx2AndNamesItsInstructionSet() throws IOException {
    String flags = cpuFlags();
    assumeTrue(
        flags.contains(" avx2") && flags.contains(" fma"),
        "not a Linux x86-64 machine with AVX2 and FMA");
    // set by the build: false with -DskipNative (or outside Maven)
    assumeTrue(Boolean.getBoolean("djl.attention.native.built"), "built without the kernel");
    assertNull(NativeAttentionKernel.status(), "the native kernel should load here");
    String expected = flags.contains(" avx512f") ? "AVX-512" : "AVX2";
    assertEquals(expected, NativeAttentionKernel.instructionSet());
    assertEquals("native " + expected + " kernel", FastAttention.float32Kernel().split(" on ")[0]);
  }

  /** B, H, G, S, T, D, Dv, causal. */
  static Stream<Arguments> shapes() {
    return Stream.of(
        Arguments.of(1, 1, 1, 1, 1, 1, 1, false),
        Arguments.of(1, 2, 2, 3, 5, 4, 3, true),
        Arguments.of(2, 4, 2, 63, 64, 16, 8, false),
        Arguments.of(2, 4, 2, 64, 63, 16, 8, true),
        Arguments.of(1, 3, 1, 65, 17, 8, 65, true),
        Arguments.of(1, 2, 2, 130, 600, 17, 80, true),
        Arguments.of(1, 2, 1, 33, 1030, 8, 5, true),
        Arguments.of(1, 1, 1, 200, 10, 96, 64, true),
        Arguments.of(1, 2, 2, 129, 513, 64, 129, false),
        Arguments.of(1, 8, 8, 128, 128, 64, 64, false),
        Arguments.of(1, 6, 3, 100, 100, 32, 32, true));
  }

  @ParameterizedTest(name = "B={0} H={1} G={2} S={3} T={4} D={5} Dv={6} causal={7}")
  @MethodSource("shapes")
  void agreesWithTheFloat64Reference(
      int b, int h, int g, int s, int t, int d, int dv, boolean causal) {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(1000L * s + 31L * t + d + (causal ? 7 : 0));
      double scale = 0.3 + random.nextDouble();
      double[] q = TestTensors.uniform(random, b * h * s * d);
      double[] k = TestTensors.uniform(random, b * g * t * d);
      double[] v = TestTensors.uniform(random, b * g * t * dv);
      NDArray query = TestTensors.create(scope, q, DataType.FLOAT32, b, h, s, d);
      NDArray key = TestTensors.create(scope, k, DataType.FLOAT32, b, g, t, d);
      NDArray value = TestTensors.create(scope, v, DataType.FLOAT32, b, g, t, dv);
      AttentionOptions options =
          AttentionOptions.builder().optCausal(causal).optScale(scale).build();
      NDArray actual = native32(query, key, value, options);
      ReferenceAttention.Result expected = // from the float32 values the kernel sees
          ReferenceAttention.attention(
              new ReferenceAttention.Tensor(doubles(query), new int[] {b, h, s, d}),
              new ReferenceAttention.Tensor(doubles(key), new int[] {b, g, t, d}),
              new ReferenceAttention.Tensor(doubles(value), new int[] {b, g, t, dv}),
              new ReferenceAttention.Options(null, causal, scale, null));
      assertEquals(new Shape(b, h, s, dv), actual.getShape());
      assertClose("native output", expected.output().data(), doubles(actual), 1e-5, 0);
    }
  }

  /** Mask shapes (broadcast over B, H, S or T), kind, causal, S, T (across key blocks). */
  static Stream<Arguments> masks() {
    Stream.Builder<Arguments> cases = Stream.builder();
    long[][] shapes = {
      {2, 1, 1, 600}, // key padding (B, 1, 1, T)
      {1, 6, 70, 600}, // per head and row
      {70, 600}, // (S, T)
      {2, 6, 70, 1}, // one value per row: a whole row on or off
      {600} // (T)
    };
    for (long[] shape : shapes) {
      for (String kind : new String[] {"bool", "float"}) {
        for (boolean causal : new boolean[] {false, true}) {
          cases.add(Arguments.of(shape, kind, causal, null));
        }
      }
      cases.add(Arguments.of(shape, "float", true, 1.5)); // softcap, then the mask
    }
    cases.add(Arguments.of(null, "none", false, 0.7)); // softcap alone
    cases.add(Arguments.of(null, "none", true, 30.0));
    return cases.build();
  }

  @ParameterizedTest(name = "mask {0} {1} causal={2} softcap={3}")
  @MethodSource("masks")
  void masksAndSoftcapAgreeWithTheStepByStepChain(
      long[] maskShape, String kind, boolean causal, Double softcap) {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(java.util.Arrays.hashCode(maskShape) * 31L + kind.hashCode());
      NDArray q = random(scope, random, 2, 6, 70, 16).mul(4); // (B, H, S, D), scores up to ±64
      NDArray k = random(scope, random, 2, 3, 600, 16); // (B, G, T, D): 600 keys, two blocks
      NDArray v = random(scope, random, 2, 3, 600, 8);
      AttentionOptions.Builder builder = AttentionOptions.builder().optCausal(causal);
      if (maskShape != null) {
        NDArray draw = random(scope, random, maskShape);
        // about a tenth of the keys hidden; a (…, 1) mask hides whole rows
        builder.optMask(
            kind.equals("bool")
                ? draw.gt(-0.8)
                : NDArrays.where(
                    draw.gt(-0.8), draw, scope.create(Float.NEGATIVE_INFINITY))); // −∞ hides
      }
      if (softcap != null) {
        builder.optSoftcap(softcap);
      }
      AttentionOptions options = builder.build();
      double[] expected = doubles(Attention.attentionStepByStep(q, k, v, options).output());
      String what = kind + " " + (maskShape == null ? "" : new Shape(maskShape)) + " " + softcap;
      assertClose(what, expected, doubles(native32(q, k, v, options)), 1e-5, 0);
    }
  }

  @Test
  void rowsTheMaskHidesGetZerosEvenWithNanScores() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(8);
      double[] k = TestTensors.uniform(random, 40 * 8);
      k[5 * 8] = Double.NaN; // key 5 has a NaN score in every row
      NDArray key = TestTensors.create(scope, k, DataType.FLOAT32, 1, 1, 40, 8);
      NDArray q = random(scope, random, 1, 1, 40, 8);
      NDArray v = random(scope, random, 1, 1, 40, 8);
      boolean[] keep = new boolean[40 * 40];
      float[] bias = new float[40 * 40];
      for (int i = 0; i < 40; i++) {
        for (int j = 0; j < 40; j++) {
          keep[i * 40 + j] = i % 7 != 3 && j != 5; // rows 3, 10, … see no key; key 5 hidden
          bias[i * 40 + j] = keep[i * 40 + j] ? 0f : Float.NEGATIVE_INFINITY;
        }
      }
      for (NDArray mask :
          new NDArray[] {
            scope.create(keep, new Shape(40, 40)), scope.create(bias, new Shape(40, 40))
          }) {
        AttentionOptions options = AttentionOptions.builder().optMask(mask).build();
        double[] actual = doubles(native32(q, key, v, options));
        for (int i = 3; i < 40; i += 7) {
          for (int e = 0; e < 8; e++) {
            assertEquals(0.0, actual[i * 8 + e], mask.getDataType() + " row " + i);
          }
        }
        // Elsewhere the step-by-step chain's values: the hidden key's NaN does not reach the
        // other rows. (On the hidden rows the chain gives NaN with the additive mask, NaN + −∞.)
        double[] chain = doubles(Attention.attentionStepByStep(q, key, v, options).output());
        for (int i = 3; i < 40; i += 7) {
          java.util.Arrays.fill(chain, i * 8, i * 8 + 8, 0.0);
        }
        assertClose(mask.getDataType().toString(), chain, actual, 1e-5, 0);
      }
    }
  }

  @Test
  void stridedInputsGiveTheSameResultAsContiguousOnes() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(3);
      // (B, S, H, D) transposed to (B, H, S, D): a strided view
      NDArray q = random(scope, random, 2, 70, 4, 16).transpose(0, 2, 1, 3);
      NDArray k = random(scope, random, 2, 90, 2, 16).transpose(0, 2, 1, 3);
      NDArray v = random(scope, random, 2, 90, 2, 8).transpose(0, 2, 1, 3);
      AttentionOptions options = AttentionOptions.builder().optCausal(true).build();
      NDArray strided = native32(q, k, v, options);
      NDArray contiguous =
          native32(q.duplicate().flatten().reshape(q.getShape()), k, v, options); // copies
      assertArrayEquals(doubles(contiguous), doubles(strided), 0.0);
      double[] chain = doubles(Attention.attentionStepByStep(q, k, v, options).output());
      assertClose("strided vs chain", chain, doubles(strided), 1e-5, 0);
    }
  }

  /**
   * Head sizes on both sides of every 16 columns and key counts on both sides of a 16-key panel,
   * the keys strided (sequence first, rows G·D apart, transposed to heads first): the packed key
   * panels (the AVX-512 variant transposes 16 × 16 blocks in registers, the AVX2 one packs element
   * by element) must hold every key column and zeros past the last key.
   */
  @ParameterizedTest(name = "D={0} T={1}")
  @MethodSource("packedKeyShapes")
  void keyPanelsHoldEveryColumnAtEveryHeadSize(int d, int t) {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(100L * d + t);
      NDArray q = random(scope, random, 1, 2, 19, d); // (B, H, S, D)
      NDArray k = random(scope, random, 1, t, 2, d).transpose(0, 2, 1, 3); // strided rows
      NDArray v = random(scope, random, 1, 2, t, 24);
      AttentionOptions options = AttentionOptions.builder().build();
      NDArray actual = native32(q, k, v, options);
      ReferenceAttention.Result expected =
          ReferenceAttention.attention(
              new ReferenceAttention.Tensor(doubles(q), new int[] {1, 2, 19, d}),
              new ReferenceAttention.Tensor(doubles(k), new int[] {1, 2, t, d}),
              new ReferenceAttention.Tensor(doubles(v), new int[] {1, 2, t, 24}),
              new ReferenceAttention.Options(null, false, null, null));
      assertClose("D=" + d + " T=" + t, expected.output().data(), doubles(actual), 1e-5, 0);
    }
  }

  /** D, T. */
  static Stream<Arguments> packedKeyShapes() {
    Stream.Builder<Arguments> cases = Stream.builder();
    for (int d : new int[] {1, 3, 15, 16, 17, 31, 33, 48, 63, 65, 80, 129}) {
      for (int t : new int[] {1, 15, 16, 17, 47, 530}) {
        cases.add(Arguments.of(d, t));
      }
    }
    return cases.build();
  }

  @Test
  void float16InputsComputeInFloat32() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(4);
      NDArray q = random(scope, random, 1, 2, 40, 8).toType(DataType.FLOAT16, false);
      NDArray k = random(scope, random, 1, 2, 40, 8).toType(DataType.FLOAT16, false);
      NDArray v = random(scope, random, 1, 2, 40, 8).toType(DataType.FLOAT16, false);
      AttentionOptions options = AttentionOptions.defaults();
      NDArray actual = native32(q, k, v, options);
      assertEquals(DataType.FLOAT16, actual.getDataType());
      double[] chain = doubles(Attention.attentionStepByStep(q, k, v, options).output());
      assertClose("float16", chain, doubles(actual), 2e-3, 1e-2);
    }
  }

  @Test
  void nanAndInfinityReachTheRowsThatSeeThem() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(5);
      int s = 70;
      double[] k = TestTensors.uniform(random, s * 4);
      k[10 * 4] = Double.NaN; // key 10: every row that sees it gets NaN
      double[] q = TestTensors.uniform(random, s * 4);
      q[3 * 4] = Double.POSITIVE_INFINITY; // query 3: its scores are ±inf or NaN
      NDArray query = TestTensors.create(scope, q, DataType.FLOAT32, 1, 1, s, 4);
      NDArray key = TestTensors.create(scope, k, DataType.FLOAT32, 1, 1, s, 4);
      NDArray value = random(scope, random, 1, 1, s, 4);
      for (boolean causal : new boolean[] {false, true}) {
        AttentionOptions options = AttentionOptions.builder().optCausal(causal).build();
        double[] actual = doubles(native32(query, key, value, options));
        double[] chain =
            doubles(Attention.attentionStepByStep(query, key, value, options).output());
        for (int i = 0; i < actual.length; i++) {
          assertEquals(
              Double.isNaN(chain[i]),
              Double.isNaN(actual[i]),
              "causal "
                  + causal
                  + " row "
                  + i / 4
                  + ": chain "
                  + chain[i]
                  + ", native "
                  + actual[i]);
        }
        assertClose("causal " + causal, chain, actual, 1e-5, 0);
      }
    }
  }

  @Test
  void concurrentCallersGetTheSingleThreadedResult() throws Exception {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(6);
      NDArray q = random(scope, random, 1, 4, 300, 32);
      NDArray k = random(scope, random, 1, 2, 300, 32);
      NDArray v = random(scope, random, 1, 2, 300, 32);
      AttentionOptions options = AttentionOptions.builder().optCausal(true).build();
      double[] expected = doubles(native32(q, k, v, options));
      ExecutorService callers = Executors.newFixedThreadPool(4);
      try {
        List<Future<double[]>> results = new ArrayList<>();
        for (int call = 0; call < 40; call++) {
          results.add(
              callers.submit(
                  () -> {
                    // each caller its own arrays: a DJL array belongs to one manager at a time
                    try (NDManager own = scope.newSubManager()) {
                      NDArray ownQ = own.create(q.toFloatArray(), q.getShape());
                      NDArray ownK = own.create(k.toFloatArray(), k.getShape());
                      NDArray ownV = own.create(v.toFloatArray(), v.getShape());
                      return doubles(native32(ownQ, ownK, ownV, options));
                    }
                  }));
        }
        for (Future<double[]> result : results) {
          assertArrayEquals(expected, result.get(), 0.0); // bit-identical
        }
      } finally {
        callers.shutdownNow();
      }
    }
  }

  @Test
  void itsOwnThreadsGiveTheSameBitsAsLibtorchsOpenMpTeam() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      Random random = new Random(7);
      NDArray q = random(scope, random, 2, 6, 200, 32);
      NDArray k = random(scope, random, 2, 3, 333, 32);
      NDArray v = random(scope, random, 2, 3, 333, 16);
      AttentionOptions options = AttentionOptions.builder().optCausal(true).build();
      double[] team = doubles(native32(q, k, v, options));
      withProperty(
          NativeAttentionKernel.THREADS_PROPERTY,
          "java",
          () -> {
            assertTrue(!NativeAttentionKernel.usesOpenMp());
            assertArrayEquals(team, doubles(native32(q, k, v, options)), 0.0);
          });
    }
  }

  @Test
  void usesLibtorchsOpenMpTeamWhenItsLibgompIsLoaded() throws IOException {
    assumeKernel();
    String maps = Files.readString(Path.of("/proc/self/maps"));
    assumeTrue(maps.contains("libgomp"), "libtorch loaded no libgomp here");
    assertTrue(NativeAttentionKernel.usesOpenMp(), FastAttention.float32Kernel());
  }

  @Test
  void emptyTensorsTakeAnotherKernel() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      AttentionOptions options = AttentionOptions.builder().optReturnWeights(false).build();
      for (long[] shape : new long[][] {{0, 2, 5, 4}, {1, 2, 5, 0}}) { // B = 0, D = Dv = 0
        NDArray x = scope.zeros(new Shape(shape));
        NDArray out = Attention.attention(x, x, x, options).output();
        assertEquals(new Shape(shape), out.getShape());
        IllegalArgumentException e =
            assertThrows(IllegalArgumentException.class, () -> native32(x, x, x, options));
        assertTrue(e.getMessage().contains("no empty tensors"), e.getMessage());
      }
    }
  }

  @Test
  void optionsTheKernelLacksAreRefusedWhenItIsForced() {
    assumeKernel();
    try (NDManager scope = manager.newSubManager()) {
      NDArray x = scope.ones(new Shape(1, 1, 4, 4));
      NDArray doubles = x.toType(DataType.FLOAT64, false);
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  FastAttention.output(
                      doubles,
                      doubles,
                      doubles,
                      AttentionOptions.defaults(),
                      Precision.INPUT,
                      kernel(),
                      1 << 20));
      assertEquals("the native kernel computes in float32 only", e.getMessage());
    }
  }

  @Test
  void thePropertyTurnsTheKernelOff() {
    withProperty(
        NativeAttentionKernel.ENABLED_PROPERTY,
        "false",
        () -> {
          assertEquals(
              "turned off by -Ddjl.attention.native=false", NativeAttentionKernel.status());
          try (NDManager scope = manager.newSubManager()) {
            NDArray x = scope.ones(new Shape(1, 1, 4, 4));
            AttentionOptions options = AttentionOptions.builder().optReturnWeights(false).build();
            // the fast path still answers, with the TorchScript kernel
            assertClose(
                "off",
                doubles(scope.ones(new Shape(1, 1, 4, 4))),
                doubles(Attention.attention(x, x, x, options).output()),
                1e-6,
                0);
          }
        });
  }

  /** Runs {@code body} with a system property set, then puts the property back as it was. */
  private static void withProperty(String key, String value, Runnable body) {
    String before = System.getProperty(key);
    try {
      System.setProperty(key, value);
      body.run();
    } finally {
      if (before == null) {
        System.clearProperty(key);
      } else {
        System.setProperty(key, before);
      }
    }
  }

  private NDArray native32(NDArray query, NDArray key, NDArray value, AttentionOptions options) {
    return FastAttention.output(
        query, key, value, options, Precision.INPUT, kernel(), FastAttention.DEFAULT_TILE_ELEMENTS);
  }

  private static NDArray random(NDManager m, Random random, long... shape) {
    int size = (int) new Shape(shape).size();
    return TestTensors.create(m, TestTensors.uniform(random, size), DataType.FLOAT32, shape);
  }
}
