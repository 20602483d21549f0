package io.github.djlattention.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.bench.BenchmarkReport.DecodeResult;
import io.github.djlattention.bench.BenchmarkReport.ReadCeiling;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.HugePages;
import io.github.djlattention.ops.KvCache;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The decode series of {@code bench}: one generated token (one query) against a KV cache of T =
 * 1024, 4096 and 16384 positions, H = 32 query heads, G = 8 key/value heads, D = 128, float32, the
 * shape of a 7-8B LLM's attention layer; beside it, the read bandwidth of a buffer the size of the
 * step's keys and values, measured in the same run.
 *
 * <p>Timed side by side in rounds (as {@link AttentionBenchmark#medians}):
 *
 * <ul>
 *   <li>the project with its {@link KvCache}: {@code Attention.attention} with {@code optCache},
 *       which writes the step's key and value into the cache in place and attends over it (the
 *       cache's length is set back before each call, so every call is the same step);
 *   <li>the project's plain call on the whole K and V (no cache), and the same call with the decode
 *       kernel turned off ({@code -Ddjl.attention.decode=false}: libtorch's fused kernel), the two
 *       rows of the dispatch table in docs/performance.md;
 *   <li>ONNX Runtime's {@code com.microsoft.GroupQueryAttention} with past and present in one
 *       buffer (its LLM decoding kernel; always causal on the CPU in 1.26, which hides nothing from
 *       the last query) and the standard {@code Attention} (opset 23) on the whole K and V. {@code
 *       com.microsoft.MultiHeadAttention} takes no grouped-query heads (G &lt; H): it does not
 *       apply;
 *   <li>two reads of the step's size (libtorch's sum): over the cache's own K and V buffers, and
 *       over a separate buffer on huge pages like the read ceiling's, which is also timed alone
 *       before the rounds (the {@code ceilings} of the report).
 * </ul>
 *
 * <p>The strongest ONNX Runtime kernel of a row is the faster of the two that apply.
 */
final class DecodeBenchmark {

  /** Query heads, key/value heads and head size of the series. */
  static final long HEADS = 32;

  static final long KV_HEADS = 8;
  static final long HEAD_DIM = 128;

  /** The cache lengths of the series. */
  static final List<Long> LENGTHS = List.of(1024L, 4096L, 16384L);

  private static final String DECODE_PROPERTY = "djl.attention.decode";

  private final boolean quick;
  private final PrintWriter log;

  DecodeBenchmark(boolean quick, PrintWriter log) {
    this.quick = quick;
    this.log = log;
  }

  /** The series, one row per length, each with its read ceiling. */
  List<DecodeResult> run(int threads, List<ReadCeiling> ceilings) {
    List<DecodeResult> rows = new ArrayList<>();
    for (long keys : LENGTHS) {
      ReadCeiling ceiling = readCeiling(kvBytes(keys));
      ceilings.add(ceiling);
      rows.add(step(keys, threads, ceiling));
    }
    return rows;
  }

  /** The bytes of K and V a step reads: 2 · G · T · D floats. */
  static long kvBytes(long keys) {
    return 2 * KV_HEADS * keys * HEAD_DIM * Float.BYTES;
  }

  private int rounds() {
    return quick ? 5 : 15;
  }

  /**
   * The read bandwidth of a float32 buffer of {@code bytes}: libtorch's sum over it, on its
   * intra-op threads (vectorized, every core), median of rounds. The buffer is moved onto huge
   * pages first, where the kernel grants them, as the KV cache's buffers are: on this project's
   * machine a read of 4 KiB pages ran at about half the rate of huge ones, which made the step look
   * faster than the memory.
   */
  ReadCeiling readCeiling(long bytes) {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      NDArray buffer = plainBuffer(manager, bytes);
      long huge = HugePages.collapse(buffer);
      int perBlock = bytes <= (32L << 20) ? 5 : 2;
      double ms = AttentionBenchmark.medians(rounds(), perBlock, plainRead(manager, buffer))[0];
      double gbps = bytes / ms / 1e6;
      say(
          "read ceiling: %d MiB summed in %.3f ms = %.1f GB/s (%d MiB of it on huge pages)%n",
          bytes >> 20, ms, gbps, huge >> 20);
      return new ReadCeiling(bytes, ms, gbps);
    }
  }

  /** A float32 buffer of {@code bytes} of random data. */
  private static NDArray plainBuffer(NDManager manager, long bytes) {
    return manager.randomUniform(-1, 1, new Shape(bytes / Float.BYTES));
  }

  /** libtorch's sum over {@code buffer}: one read of it, on the intra-op threads. */
  private static Runnable plainRead(NDManager manager, NDArray buffer) {
    return () -> {
      try (NDManager scope = manager.newSubManager()) {
        buffer.sum().attach(scope);
      }
    };
  }

  private DecodeResult step(long keys, int threads, ReadCeiling ceiling) {
    Random random = new Random(keys);
    float[] query = BenchData.uniform(random, HEADS * HEAD_DIM); // (1, H, 1, D)
    float[] newKey = BenchData.uniform(random, KV_HEADS * HEAD_DIM); // (1, G, 1, D)
    float[] newValue = BenchData.uniform(random, KV_HEADS * HEAD_DIM);
    float[] pastKey = BenchData.uniform(random, KV_HEADS * keys * HEAD_DIM); // (1, G, T, D)
    float[] pastValue = BenchData.uniform(random, KV_HEADS * keys * HEAD_DIM);
    // the whole K and V after the step: the past with the new key at position T − 1
    float[] wholeKey = withLast(pastKey, newKey, keys);
    float[] wholeValue = withLast(pastValue, newValue, keys);
    long[] queryShape = {1, HEADS, 1, HEAD_DIM};
    long[] kvShape = {1, KV_HEADS, keys, HEAD_DIM};
    try (NDManager manager = NDManager.newBaseManager("PyTorch");
        KvCache cache =
            KvCache.builder()
                .setManager(manager)
                .setLayers(1)
                .setBatchSize(1)
                .setKvHeads(KV_HEADS)
                .setHeadSize(HEAD_DIM)
                .setCapacity(keys)
                .build();
        OrtGroupQueryAttention gqa =
            new OrtGroupQueryAttention(
                HEADS, KV_HEADS, keys, HEAD_DIM, query, newKey, newValue, pastKey, pastValue,
                threads);
        OrtFusedAttention standard =
            new OrtFusedAttention(queryShape, kvShape, query, wholeKey, wholeValue, threads)) {
      NDArray q = manager.create(query, new Shape(queryShape)); // (1, H, 1, D)
      NDArray k = manager.create(newKey, new Shape(1, KV_HEADS, 1, HEAD_DIM)); // (1, G, 1, D)
      NDArray v = manager.create(newValue, new Shape(1, KV_HEADS, 1, HEAD_DIM));
      NDArray kAll = manager.create(wholeKey, new Shape(kvShape)); // (1, G, T, D)
      NDArray vAll = manager.create(wholeValue, new Shape(kvShape));
      KvCache.Layer layer = cache.layer(0);
      // the cache holds the T − 1 past positions, written in place
      NDIndex past = new NDIndex(":, :, :{}", keys - 1);
      layer.keys().set(past, kAll.get(past));
      layer.values().set(past, vAll.get(past));
      AttentionOptions cached =
          AttentionOptions.builder()
              .optCache(layer)
              .optCausal(true) // the step's query at the last position: it sees every key
              .optReturnWeights(false)
              .build();
      AttentionOptions plain = AttentionOptions.builder().optReturnWeights(false).build();
      Runnable project =
          () -> {
            layer.setLengths(keys - 1);
            try (NDManager scope = manager.newSubManager()) {
              Attention.attention(q, k, v, cached).output().attach(scope);
            }
          };
      Runnable projectPlain =
          () -> {
            try (NDManager scope = manager.newSubManager()) {
              Attention.attention(q, kAll, vAll, plain).output().attach(scope);
            }
          };
      Runnable projectLibtorch =
          () -> {
            String before = System.getProperty(DECODE_PROPERTY);
            System.setProperty(DECODE_PROPERTY, "false");
            try (NDManager scope = manager.newSubManager()) {
              Attention.attention(q, kAll, vAll, plain).output().attach(scope);
            } finally {
              if (before == null) {
                System.clearProperty(DECODE_PROPERTY);
              } else {
                System.setProperty(DECODE_PROPERTY, before);
              }
            }
          };
      layer.setLengths(keys - 1);
      float[] ours = Attention.attention(q, k, v, cached).output().toFloatArray();
      float[] plainOut = Attention.attention(q, kAll, vAll, plain).output().toFloatArray();
      double diff = BenchData.maxAbsDiff(ours, gqa.run());
      double standardDiff = BenchData.maxAbsDiff(ours, standard.run());
      double plainDiff = BenchData.maxAbsDiff(ours, plainOut);
      if (!(diff <= 1e-4) || !(standardDiff <= 1e-4) || !(plainDiff <= 1e-5)) {
        throw new IllegalStateException(
            String.format(
                Locale.ROOT,
                "decode T=%d: the KV-cache path differs from GroupQueryAttention by %.2e, from"
                    + " Attention-23 by %.2e, from the plain call by %.2e",
                keys,
                diff,
                standardDiff,
                plainDiff));
      }
      // the same memory the step reads, summed in the same rounds: the cache's own K and V
      // buffers (capacity T, so exactly the step's bytes), on the pages they were given
      Runnable cacheRead =
          () -> {
            try (NDManager scope = manager.newSubManager()) {
              layer.keys().sum().attach(scope);
              layer.values().sum().attach(scope);
            }
          };
      // and a separate buffer of the same size on huge pages, as the read ceiling's, also in the
      // same rounds: the ceiling alone was timed a minute earlier, and this machine's bandwidth
      // varies from minute to minute (docs/performance.md, issue 14's twelfth pass)
      long bytes = kvBytes(keys);
      NDArray plainBuffer = plainBuffer(manager, bytes);
      HugePages.collapse(plainBuffer);
      int perBlock = keys >= 16384 ? 2 : keys >= 4096 ? 5 : 10;
      double[] ms =
          AttentionBenchmark.medians(
              rounds(),
              perBlock,
              project,
              gqa::runDiscardingOutput,
              standard::runDiscardingOutput,
              projectPlain,
              projectLibtorch,
              cacheRead,
              plainRead(manager, plainBuffer));
      StrongestOrt strongest = StrongestOrt.of("GroupQueryAttention", ms[1], "Attention-23", ms[2]);
      double gbps = bytes / ms[0] / 1e6;
      double cacheGbps = bytes / ms[5] / 1e6;
      double sameRoundsGbps = bytes / ms[6] / 1e6;
      say(
          "decode T=%d: project (KV cache) %.3f ms = %.1f GB/s (%.0f%% of the %.1f GB/s read;"
              + " %.0f%% of the cache's own buffers summed in the same rounds, %.1f GB/s;"
              + " %.0f%% of the plain read in the same rounds, %.1f GB/s);"
              + " GQA %.3f ms, Attention-23 %.3f ms, strongest %s: ratio %.2f;"
              + " plain call %.3f ms, libtorch route %.3f ms; max |project - GQA| %.2e%n",
          keys,
          ms[0],
          gbps,
          100 * gbps / ceiling.gbps(),
          ceiling.gbps(),
          100 * gbps / cacheGbps,
          cacheGbps,
          100 * gbps / sameRoundsGbps,
          sameRoundsGbps,
          ms[1],
          ms[2],
          strongest.name(),
          strongest.ratio(ms[0]),
          ms[3],
          ms[4],
          diff);
      return new DecodeResult(
          1,
          HEADS,
          KV_HEADS,
          1,
          keys,
          HEAD_DIM,
          ms[0],
          ms[3],
          ms[4],
          ms[1],
          ms[2],
          null,
          strongest.name(),
          strongest.ms(),
          strongest.ratio(ms[0]),
          bytes,
          gbps,
          ceiling.gbps(),
          100 * gbps / ceiling.gbps(),
          cacheGbps,
          100 * gbps / cacheGbps,
          sameRoundsGbps,
          100 * gbps / sameRoundsGbps,
          diff);
    }
  }

  /** (1, G, T, D) data with position T − 1 of each head replaced by the step's (1, G, 1, D). */
  private static float[] withLast(float[] past, float[] step, long keys) {
    float[] whole = past.clone();
    for (int g = 0; g < KV_HEADS; g++) {
      System.arraycopy(
          step,
          (int) (g * HEAD_DIM),
          whole,
          (int) ((g * keys + keys - 1) * HEAD_DIM),
          (int) HEAD_DIM);
    }
    return whole;
  }

  private void say(String format, Object... args) {
    log.printf(Locale.ROOT, format, args);
    log.flush();
  }
}
