package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The in-place KV cache against the float64 reference: a prefill followed by decoding steps, each
 * step's output compared with attention over the whole sequence so far with the causal mask aligned
 * to the bottom right; per-sequence lengths after a padded prefill; sliding windows; the
 * step-by-step chain on the same cache; a full cache refused with nothing written.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads, S new positions, L a sequence's
 * length, C capacity, D head size.
 */
class KvCacheTest {

  private static final int B = 2;
  private static final int H = 4;
  private static final int G = 2;
  private static final int D = 16;

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  /** capacity, prefill length, decode steps, queries per step, left window, right window. */
  static Stream<Arguments> loops() {
    return Stream.of(
        Arguments.of(40, 5, 10, 1, -1, -1),
        Arguments.of(17, 1, 16, 1, -1, -1), // up to the last position of the capacity
        Arguments.of(64, 7, 6, 3, -1, -1), // speculative steps of 3 queries
        Arguments.of(40, 6, 10, 1, 3, -1), // sliding window over the cache
        Arguments.of(40, 6, 5, 2, 4, 0),
        Arguments.of(1100, 600, 3, 1, -1, -1)); // keys across the decode kernel's 512-key blocks
  }

  @ParameterizedTest(name = "C={0} prefill={1} steps={2}x{3} window={4},{5}")
  @MethodSource("loops")
  void aGenerationLoopAgreesWithAttentionOverTheWholeSequence(
      int capacity, int prefill, int steps, int perStep, int left, int right) {
    for (boolean stepByStep : new boolean[] {false, true}) {
      try (NDManager scope = manager.newSubManager();
          KvCache cache = cache(scope, capacity, 1)) {
        Random random = new Random(capacity * 31L + prefill);
        int total = prefill + steps * perStep;
        double[] allKeys = TestTensors.uniform(random, B * G * total * D);
        double[] allValues = TestTensors.uniform(random, B * G * total * D);
        int position = 0;
        for (int step = 0; step <= steps; step++) {
          int s = step == 0 ? prefill : perStep;
          NDArray q = random(scope, random, B, H, s, D);
          NDArray k = slice(scope, allKeys, total, position, s);
          NDArray v = slice(scope, allValues, total, position, s);
          AttentionOptions options =
              AttentionOptions.builder()
                  .optCache(cache.layer(0))
                  .optCausal(true)
                  .optWindow(left, right)
                  .optReturnWeights(false)
                  .build();
          NDArray out =
              stepByStep
                  ? Attention.attentionStepByStep(q, k, v, options).output()
                  : Attention.attention(q, k, v, options).output();
          position += s;
          assertArrayEquals(new long[] {position, position}, cache.layer(0).lengths());
          // the reference: the whole sequence so far, the queries at its last s positions
          double[] expected =
              ReferenceAttention.attention(
                      TestTensors.tensor(doubles(q), B, H, s, D),
                      prefixOf(allKeys, total, position),
                      prefixOf(allValues, total, position),
                      new ReferenceAttention.Options(
                          null, true, null, null, position - s, null, left, right))
                  .output()
                  .data();
          String what = (stepByStep ? "chain" : "fast path") + " step " + step;
          assertEquals(new Shape(B, H, s, D), out.getShape(), what);
          assertClose(what, expected, doubles(out), 1e-5, 1e-5);
        }
      }
    }
  }

  /**
   * A float16 cache: its buffers are not in the compute type (float32), so the fast path reads them
   * through converted views, where a float32 cache's buffers are read where they lie; both agree
   * with the float64 reference, here to float16's rounding of the keys, values and output.
   */
  @Test
  void aFloat16CacheIsReadThroughConvertedViewsAndAgreesWithTheReference() {
    int capacity = 40;
    int total = 12;
    try (NDManager scope = manager.newSubManager();
        KvCache cache =
            KvCache.builder()
                .setManager(scope)
                .setLayers(1)
                .setBatchSize(B)
                .setKvHeads(G)
                .setHeadSize(D)
                .setCapacity(capacity)
                .optDataType(DataType.FLOAT16)
                .build()) {
      Random random = new Random(16);
      double[] allKeys = halves(TestTensors.uniform(random, B * G * total * D));
      double[] allValues = halves(TestTensors.uniform(random, B * G * total * D));
      for (int position = 0; position < total; position++) {
        double[] query = halves(TestTensors.uniform(random, B * H * D));
        NDArray q = TestTensors.create(scope, query, DataType.FLOAT16, B, H, 1, D);
        NDArray k = slice(scope, allKeys, total, position, 1).toType(DataType.FLOAT16, false);
        NDArray v = slice(scope, allValues, total, position, 1).toType(DataType.FLOAT16, false);
        AttentionOptions options =
            AttentionOptions.builder()
                .optCache(cache.layer(0))
                .optCausal(true)
                .optReturnWeights(false)
                .build();
        NDArray out = Attention.attention(q, k, v, options).output();
        assertEquals(DataType.FLOAT16, out.getDataType());
        double[] expected =
            ReferenceAttention.attention(
                    TestTensors.tensor(query, B, H, 1, D),
                    prefixOf(allKeys, total, position + 1),
                    prefixOf(allValues, total, position + 1),
                    new ReferenceAttention.Options(null, true, null, null, position, null, -1, -1))
                .output()
                .data();
        assertClose("float16 step " + position, expected, doubles(out), 2e-3, 2e-3);
      }
    }
  }

  /** The values rounded to float16 by libtorch (exact in float32 and float64). */
  private static double[] halves(double[] values) {
    try (NDManager scope = manager.newSubManager()) {
      NDArray rounded =
          TestTensors.create(scope, values, DataType.FLOAT32, values.length)
              .toType(DataType.FLOAT16, false);
      return doubles(rounded);
    }
  }

  /**
   * Two layers of one cache at different lengths, called in turn (as a model's layers are): each
   * layer's fast-path call sees its own valid counts, which every layer rewrites in place.
   */
  @Test
  void layersCalledInTurnEachSeeTheirOwnLength() {
    try (NDManager scope = manager.newSubManager();
        KvCache cache = cache(scope, 64, 2)) {
      Random random = new Random(11);
      int total = 40;
      double[][] keys = new double[2][];
      double[][] values = new double[2][];
      int[] position = {3, 17}; // the layers' prefills differ
      for (int layer = 0; layer < 2; layer++) {
        keys[layer] = TestTensors.uniform(random, B * G * total * D);
        values[layer] = TestTensors.uniform(random, B * G * total * D);
        NDArray k = slice(scope, keys[layer], total, 0, position[layer]);
        NDArray v = slice(scope, values[layer], total, 0, position[layer]);
        cache.layer(layer).keys().set(new NDIndex(":, :, :{}", position[layer]), k);
        cache.layer(layer).values().set(new NDIndex(":, :, :{}", position[layer]), v);
        cache.layer(layer).setLengths(position[layer], position[layer]);
      }
      for (int step = 0; step < 6; step++) {
        for (int layer = 0; layer < 2; layer++) {
          NDArray q = random(scope, random, B, H, 1, D);
          NDArray k = slice(scope, keys[layer], total, position[layer], 1);
          NDArray v = slice(scope, values[layer], total, position[layer], 1);
          AttentionOptions options =
              AttentionOptions.builder()
                  .optCache(cache.layer(layer))
                  .optCausal(true)
                  .optReturnWeights(false)
                  .build();
          NDArray out = Attention.attention(q, k, v, options).output();
          position[layer]++;
          double[] expected =
              ReferenceAttention.attention(
                      TestTensors.tensor(doubles(q), B, H, 1, D),
                      prefixOf(keys[layer], total, position[layer]),
                      prefixOf(values[layer], total, position[layer]),
                      new ReferenceAttention.Options(
                          null, true, null, null, position[layer] - 1, null, -1, -1))
                  .output()
                  .data();
          assertClose("layer " + layer + " step " + step, expected, doubles(out), 1e-5, 1e-5);
        }
      }
    }
  }

  @ParameterizedTest(name = "rows copied in place: {0}")
  @ValueSource(booleans = {true, false})
  void sequencesOfDifferentLengthsEachAttendOverTheirOwnPrefix(boolean copy) {
    String before = System.getProperty(KvCache.COPY_PROPERTY);
    System.setProperty(KvCache.COPY_PROPERTY, Boolean.toString(copy)); // false: indexed assignment
    try {
      sequencesOfDifferentLengths();
    } finally {
      if (before == null) {
        System.clearProperty(KvCache.COPY_PROPERTY);
      } else {
        System.setProperty(KvCache.COPY_PROPERTY, before);
      }
    }
  }

  /**
   * Buffers of 4 MiB: made uninitialized and zeroed natively after the huge-page advice, or by
   * {@code zeros} with the property off. Either way every element starts at zero, and a cached call
   * gives what the plain call over the same keys gives.
   */
  @ParameterizedTest(name = "huge pages asked: {0}")
  @ValueSource(booleans = {true, false})
  void buffersStartZeroedWithOrWithoutHugePages(boolean huge) {
    String before = System.getProperty(HugePages.ENABLED_PROPERTY);
    System.setProperty(HugePages.ENABLED_PROPERTY, Boolean.toString(huge));
    int capacity = 16384; // B G C D floats = 4 MiB per buffer
    try (NDManager scope = manager.newSubManager();
        KvCache cache = cache(scope, capacity, 2)) {
      long bytes = 2L * 2 * B * G * capacity * D * Float.BYTES; // 2 layers, keys and values
      if (!huge) {
        assertEquals(0, cache.hugePageBytes());
      } else if (NativeAttentionKernel.libraryLoaded()
          && Files.isDirectory(Path.of("/sys/kernel/mm/transparent_hugepage"))) {
        long advised = cache.hugePageBytes();
        assertTrue(advised > 0 && advised <= bytes, "advised " + advised + " of " + bytes);
        assertEquals(0, advised % HugePages.PAGE_BYTES, "whole huge pages only");
      }
      for (int i = 0; i < 2; i++) {
        for (NDArray buffer : new NDArray[] {cache.layer(i).keys(), cache.layer(i).values()}) {
          assertTrue(buffer.eq(0).all().getBoolean(), "layer " + i + " starts at zero");
        }
      }
      Random random = new Random(9);
      NDArray q = random(scope, random, B, H, 5, D);
      NDArray k = random(scope, random, B, G, 5, D);
      NDArray v = random(scope, random, B, G, 5, D);
      AttentionOptions plain = AttentionOptions.builder().optReturnWeights(false).build();
      AttentionOptions cached = plain.toBuilder().optCache(cache.layer(1)).build();
      assertClose(
          "cached call",
          doubles(Attention.attention(q, k, v, plain).output()),
          doubles(Attention.attention(q, k, v, cached).output()),
          1e-6,
          1e-6);
    } finally {
      if (before == null) {
        System.clearProperty(HugePages.ENABLED_PROPERTY);
      } else {
        System.setProperty(HugePages.ENABLED_PROPERTY, before);
      }
    }
  }

  private void sequencesOfDifferentLengths() {
    try (NDManager scope = manager.newSubManager();
        KvCache cache = cache(scope, 20, 1)) {
      Random random = new Random(5);
      int[] prompt = {4, 6}; // right-padded to 6
      double[] allKeys = TestTensors.uniform(random, B * G * 20 * D);
      double[] allValues = TestTensors.uniform(random, B * G * 20 * D);
      KvCache.Layer layer = cache.layer(0);
      AttentionOptions options =
          AttentionOptions.builder()
              .optCache(layer)
              .optCausal(true)
              .optReturnWeights(false)
              .build();
      NDArray q0 = random(scope, random, B, H, 6, D);
      Attention.attention(
          q0, slice(scope, allKeys, 20, 0, 6), slice(scope, allValues, 20, 0, 6), options);
      layer.setLengths(prompt[0], prompt[1]); // sequence 0 ends at its prompt
      assertEquals(4, layer.length(0));
      // sequence 0's next tokens overwrite its padding: its keys continue at position 4
      double[] keys = sequenceKeys(allKeys, prompt);
      double[] values = sequenceKeys(allValues, prompt);
      long[] lengths = {4, 6};
      for (int step = 0; step < 5; step++) {
        NDArray q = random(scope, random, B, H, 1, D);
        NDArray k = perSequence(scope, keys, lengths);
        NDArray v = perSequence(scope, values, lengths);
        double[] out = doubles(Attention.attention(q, k, v, options).output()); // (B, H, 1, D)
        for (int b = 0; b < B; b++) {
          lengths[b]++;
          int length = (int) lengths[b];
          double[] qb = doubles(q.get(new NDIndex("{}:{}", b, b + 1)));
          double[] expected =
              ReferenceAttention.attention(
                      TestTensors.tensor(qb, 1, H, 1, D),
                      TestTensors.tensor(rows(keys, b, length), 1, G, length, D),
                      TestTensors.tensor(rows(values, b, length), 1, G, length, D),
                      new ReferenceAttention.Options(
                          null, true, null, null, length - 1, null, -1, -1))
                  .output()
                  .data();
          double[] actual = new double[H * D];
          System.arraycopy(out, b * H * D, actual, 0, H * D);
          assertClose("sequence " + b + " step " + step, expected, actual, 1e-5, 1e-5);
        }
        assertArrayEquals(lengths, layer.lengths());
      }
    }
  }

  @Test
  void aFullCacheIsRefusedAndNothingIsWritten() {
    try (NDManager scope = manager.newSubManager();
        KvCache cache = cache(scope, 6, 2)) {
      Random random = new Random(9);
      KvCache.Layer layer = cache.layer(1);
      AttentionOptions options =
          AttentionOptions.builder()
              .optCache(layer)
              .optCausal(true)
              .optReturnWeights(false)
              .build();
      Attention.attention(
          random(scope, random, B, H, 4, D),
          random(scope, random, B, G, 4, D),
          random(scope, random, B, G, 4, D),
          options);
      double[] keysBefore = doubles(layer.keys());
      IllegalStateException e =
          assertThrows(
              IllegalStateException.class,
              () ->
                  Attention.attention(
                      random(scope, random, B, H, 3, D),
                      random(scope, random, B, G, 3, D),
                      random(scope, random, B, G, 3, D),
                      options));
      assertEquals(
          "the KV cache of layer 1 is full: sequence 0 holds 4 of 6 positions, and 3 more do not"
              + " fit (no position was written)",
          e.getMessage());
      assertArrayEquals(new long[] {4, 4}, layer.lengths());
      assertArrayEquals(keysBefore, doubles(layer.keys()), 0.0);
      assertArrayEquals(new long[] {0, 0}, cache.layer(0).lengths(), "layers are independent");
      // two more fit exactly
      Attention.attention(
          random(scope, random, B, H, 2, D),
          random(scope, random, B, G, 2, D),
          random(scope, random, B, G, 2, D),
          options);
      assertArrayEquals(new long[] {6, 6}, layer.lengths());
      cache.reset();
      assertArrayEquals(new long[] {0, 0}, layer.lengths());
    }
  }

  @Test
  void theWeightsComeFromTheChainOverTheCapacityAndMatchTheFastPath() {
    try (NDManager scope = manager.newSubManager();
        KvCache fast = cache(scope, 12, 1);
        KvCache chain = cache(scope, 12, 1)) {
      Random random = new Random(13);
      NDArray q = random(scope, random, B, H, 3, D);
      NDArray k = random(scope, random, B, G, 3, D);
      NDArray v = random(scope, random, B, G, 3, D);
      AttentionOptions options = AttentionOptions.builder().optCausal(true).build();
      AttentionResult withWeights =
          Attention.attention(q, k, v, options.toBuilder().optCache(chain.layer(0)).build());
      NDArray output =
          Attention.attention(
                  q,
                  k,
                  v,
                  options.toBuilder().optCache(fast.layer(0)).optReturnWeights(false).build())
              .output();
      assertEquals(new Shape(B, H, 3, 12), withWeights.weights().getShape(), "over the capacity");
      assertClose("fast vs chain", doubles(withWeights.output()), doubles(output), 1e-6, 1e-6);
      double[] weights = doubles(withWeights.weights());
      for (int row = 0; row < B * H * 3; row++) {
        for (int j = 3; j < 12; j++) {
          assertEquals(0.0, weights[row * 12 + j], "positions past the length get no weight");
        }
      }
    }
  }

  @Test
  void callsThatDoNotFitAreRefusedBeforeAnythingIsWritten() {
    try (NDManager scope = manager.newSubManager();
        KvCache cache = cache(scope, 8, 1)) {
      KvCache.Layer layer = cache.layer(0);
      NDArray q = scope.ones(new Shape(B, H, 1, D));
      NDArray kv = scope.ones(new Shape(B, G, 1, D));
      AttentionOptions options = AttentionOptions.builder().optCache(layer).build();
      IllegalArgumentException shape =
          assertThrows(
              IllegalArgumentException.class,
              () -> Attention.attention(q, scope.ones(new Shape(B, 1, 1, D)), kv, options));
      assertTrue(shape.getMessage().contains("takes a query (B, H, S, D)"), shape.getMessage());
      IllegalArgumentException dtype =
          assertThrows(
              IllegalArgumentException.class,
              () -> Attention.attention(q, kv.toType(DataType.FLOAT64, false), kv, options));
      assertTrue(dtype.getMessage().contains("float64"), dtype.getMessage());
      IllegalArgumentException mask =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  Attention.attention(
                      q, kv, kv, options.toBuilder().optMask(scope.ones(new Shape(1, 5))).build()));
      assertTrue(mask.getMessage().contains("does not broadcast"), mask.getMessage());
      IllegalArgumentException training =
          assertThrows(
              IllegalArgumentException.class,
              () -> Attention.attention(q, kv, kv, options.toBuilder().optTraining(true).build()));
      assertTrue(training.getMessage().contains("serves inference"), training.getMessage());
      assertArrayEquals(new long[] {0, 0}, layer.lengths(), "nothing was appended");
      assertThrows(
          IllegalArgumentException.class,
          () -> AttentionOptions.builder().optCache(layer).optKvCache(kv, kv).build());
      assertThrows(IllegalArgumentException.class, () -> layer.setLengths(9, 0));
      assertThrows(IllegalArgumentException.class, () -> layer.setLengths(1));
      cache.close();
      assertThrows(IllegalStateException.class, () -> Attention.attention(q, kv, kv, options));
    }
  }

  private static KvCache cache(NDManager m, int capacity, int layers) {
    return KvCache.builder()
        .setManager(m)
        .setLayers(layers)
        .setBatchSize(B)
        .setKvHeads(G)
        .setHeadSize(D)
        .setCapacity(capacity)
        .build();
  }

  /** Positions [from, from + s) of (B, G, total, D) data, as (B, G, s, D). */
  private static NDArray slice(NDManager m, double[] all, int total, int from, int s) {
    double[] rows = new double[B * G * s * D];
    for (int bg = 0; bg < B * G; bg++) {
      System.arraycopy(all, (bg * total + from) * D, rows, bg * s * D, s * D);
    }
    return TestTensors.create(m, rows, DataType.FLOAT32, B, G, s, D);
  }

  /** Positions [0, length) of (B, G, total, D) data, rounded to float32 as the cache holds them. */
  private static ReferenceAttention.Tensor prefixOf(double[] all, int total, int length) {
    double[] rows = new double[B * G * length * D];
    for (int bg = 0; bg < B * G; bg++) {
      for (int n = 0; n < length * D; n++) {
        rows[bg * length * D + n] = (float) all[bg * total * D + n];
      }
    }
    return TestTensors.tensor(rows, B, G, length, D);
  }

  /**
   * Each sequence's keys as the cache will hold them after the padded prefill and the decoding
   * steps: (B, G, 20, D), sequence b's first prompt[b] positions from the prefill, then its new
   * positions (rows 6 … of the data, one per step).
   */
  private static double[] sequenceKeys(double[] all, int[] prompt) {
    double[] keys = new double[B * G * 20 * D];
    for (int b = 0; b < B; b++) {
      for (int g = 0; g < G; g++) {
        int bg = b * G + g;
        for (int t = 0; t < 20; t++) {
          int source = t < prompt[b] ? t : 6 + (t - prompt[b]);
          for (int d = 0; d < D; d++) {
            keys[(bg * 20 + t) * D + d] = source < 20 ? (float) all[(bg * 20 + source) * D + d] : 0;
          }
        }
      }
    }
    return keys;
  }

  /** Each sequence's next position (its current length) of per-sequence data, as (B, G, 1, D). */
  private static NDArray perSequence(NDManager m, double[] keys, long[] lengths) {
    double[] rows = new double[B * G * D];
    for (int b = 0; b < B; b++) {
      for (int g = 0; g < G; g++) {
        System.arraycopy(keys, ((b * G + g) * 20 + (int) lengths[b]) * D, rows, (b * G + g) * D, D);
      }
    }
    return TestTensors.create(m, rows, DataType.FLOAT32, B, G, 1, D);
  }

  /** Sequence b's first `length` positions of per-sequence data, as (G, length, D). */
  private static double[] rows(double[] keys, int b, int length) {
    double[] out = new double[G * length * D];
    for (int g = 0; g < G; g++) {
      System.arraycopy(keys, (b * G + g) * 20 * D, out, g * length * D, length * D);
    }
    return out;
  }

  private static NDArray random(NDManager m, Random random, long... shape) {
    int size = (int) new Shape(shape).size();
    return TestTensors.create(m, TestTensors.uniform(random, size), DataType.FLOAT32, shape);
  }
}
