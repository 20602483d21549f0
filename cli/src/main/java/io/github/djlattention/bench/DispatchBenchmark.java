package io.github.djlattention.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.bench.BenchmarkReport.DispatchResult;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.FastAttention;
import io.github.djlattention.ops.FastAttention.Kernel;
import io.github.djlattention.ops.FastAttention.Precision;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The dispatch series of {@code bench} ({@code --dispatch}): every float32 kernel of the fast path
 * that can serve a shape, pinned through {@link FastAttention#output(NDArray, NDArray, NDArray,
 * AttentionOptions, Precision, Kernel)} and timed side by side in interleaved rounds, beside the
 * kernel the dispatcher picks for it. One row per shape of each class: small calls, prefill, decode
 * and the few-query shapes between decode and prefill where the dispatcher's threshold lies, and
 * the causal LLM prefill. The table in docs/performance.md is this series' output; the dispatcher's
 * rule is checked against it (its pick over the fastest kernel's time).
 *
 * <p>Every pinned kernel's output is compared with the dispatcher's before timing.
 */
final class DispatchBenchmark {

  /**
   * The kernels measured: those that compute float32 inference on this engine, and the native
   * kernels' AVX2 variants beside their AVX-512 ones where the CPU has AVX-512 (elsewhere {@code
   * DECODE} and {@code NATIVE} are those variants already).
   */
  static final List<Kernel> KERNELS =
      FastAttention.float32InstructionSet().equals("AVX-512")
          ? List.of(
              Kernel.DECODE,
              Kernel.DECODE_AVX2,
              Kernel.NATIVE,
              Kernel.NATIVE_AVX2,
              Kernel.TORCHSCRIPT)
          : List.of(Kernel.DECODE, Kernel.NATIVE, Kernel.TORCHSCRIPT);

  /** A kernel whose first call takes longer than this is not timed at that shape. */
  private static final double SLOWEST_MS = 1500;

  /**
   * One shape of the series.
   *
   * @param shapeClass small, prefill, few queries, decode, causal prefill
   * @param heads H
   * @param kvHeads G
   * @param queries S
   * @param keys T
   * @param headDim D
   * @param causal whether the causal mask applies
   */
  record Case(
      String shapeClass,
      long heads,
      long kvHeads,
      long queries,
      long keys,
      long headDim,
      boolean causal) {

    String label() {
      return String.format(
          Locale.ROOT,
          "1×%d×%d×%d×%d×%d%s",
          heads,
          kvHeads,
          queries,
          keys,
          headDim,
          causal ? " causal" : "");
    }
  }

  private final boolean quick;
  private final PrintWriter log;

  DispatchBenchmark(boolean quick, PrintWriter log) {
    this.quick = quick;
    this.log = log;
  }

  /** The shapes of the series ({@code quick}: without the longest prefill shapes). */
  List<Case> cases() {
    List<Case> cases = new ArrayList<>();
    for (long s : List.of(1L, 16L, 64L)) {
      cases.add(new Case("small", 8, 8, s, s, 64, false));
    }
    for (long s : quick ? List.of(128L, 512L, 1024L) : List.of(128L, 512L, 1024L, 4096L)) {
      cases.add(new Case("prefill", 8, 8, s, s, 64, false));
    }
    for (long s : List.of(4L, 8L, 12L, 16L, 32L, 64L)) {
      cases.add(new Case("few queries", 32, 8, s, 4096, 128, false));
    }
    for (long t : List.of(1024L, 4096L, 16384L)) {
      cases.add(new Case("decode", 32, 8, 1, t, 128, false));
    }
    if (!quick) {
      cases.add(new Case("causal prefill", 32, 8, 2048, 2048, 128, true));
    }
    return cases;
  }

  /** Times every case. */
  List<DispatchResult> run() {
    List<DispatchResult> rows = new ArrayList<>();
    for (Case c : cases()) {
      rows.add(row(c));
    }
    return rows;
  }

  private DispatchResult row(Case c) {
    Random random = new Random(c.queries() * 31 + c.keys());
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      NDArray q = uniform(manager, random, c.heads(), c.queries(), c.headDim()); // (1, H, S, D)
      NDArray k = uniform(manager, random, c.kvHeads(), c.keys(), c.headDim()); // (1, G, T, D)
      NDArray v = uniform(manager, random, c.kvHeads(), c.keys(), c.headDim()); // (1, G, T, D)
      AttentionOptions options =
          AttentionOptions.builder().optCausal(c.causal()).optReturnWeights(false).build();
      Kernel chosen = FastAttention.chosenKernel(q, k, v, options, Precision.INPUT);
      float[] expected = FastAttention.output(q, k, v, options).toFloatArray();
      Map<Kernel, Runnable> timed = new LinkedHashMap<>();
      Map<Kernel, String> untimed = new LinkedHashMap<>();
      for (Kernel kernel : KERNELS) {
        Runnable call =
            () -> {
              try (NDManager scope = manager.newSubManager()) {
                FastAttention.output(q, k, v, options, Precision.INPUT, kernel).attach(scope);
              }
            };
        float[] out;
        long start = System.nanoTime();
        try (NDManager scope = manager.newSubManager()) {
          NDArray result = FastAttention.output(q, k, v, options, Precision.INPUT, kernel);
          result.attach(scope);
          out = result.toFloatArray();
        } catch (IllegalArgumentException e) {
          untimed.put(kernel, "cannot serve: " + e.getMessage());
          continue;
        }
        double firstMs = (System.nanoTime() - start) / 1e6;
        double diff = BenchData.maxAbsDiff(expected, out);
        if (!(diff <= 1e-5)) {
          throw new IllegalStateException(
              String.format(
                  Locale.ROOT,
                  "%s: the %s kernel differs from the dispatcher's %s by %.2e",
                  c.label(),
                  kernel,
                  chosen,
                  diff));
        }
        if (firstMs > SLOWEST_MS && kernel != chosen) {
          untimed.put(kernel, String.format(Locale.ROOT, "first call %.0f ms, not timed", firstMs));
          continue;
        }
        timed.put(kernel, call);
      }
      long keysRead = c.queries() * c.keys();
      int rounds = quick ? 5 : 11;
      int perBlock = keysRead <= 1L << 14 ? 20 : keysRead <= 1L << 20 ? 5 : 1;
      double[] ms =
          AttentionBenchmark.medians(
              rounds, perBlock, 200_000_000L, timed.values().toArray(new Runnable[0]));
      Map<String, Double> byKernel = new LinkedHashMap<>();
      Kernel fastest = null;
      double fastestMs = Double.POSITIVE_INFINITY;
      int n = 0;
      for (Kernel kernel : timed.keySet()) {
        byKernel.put(kernel.name(), ms[n]);
        if (ms[n] < fastestMs) {
          fastestMs = ms[n];
          fastest = kernel;
        }
        n++;
      }
      double chosenMs = byKernel.getOrDefault(chosen.name(), Double.NaN);
      StringBuilder line = new StringBuilder();
      for (Map.Entry<String, Double> e : byKernel.entrySet()) {
        line.append(String.format(Locale.ROOT, " %s %.3f ms,", e.getKey(), e.getValue()));
      }
      for (Map.Entry<Kernel, String> e : untimed.entrySet()) {
        line.append(String.format(Locale.ROOT, " %s %s,", e.getKey(), e.getValue()));
      }
      say(
          "dispatch %s %s:%s fastest %s, dispatcher picks %s (%.2f of the fastest)%n",
          c.shapeClass(), c.label(), line, fastest, chosen, chosenMs / fastestMs);
      Map<String, String> notes = new LinkedHashMap<>();
      untimed.forEach((kernel, why) -> notes.put(kernel.name(), why));
      return new DispatchResult(
          c.shapeClass(),
          c.heads(),
          c.kvHeads(),
          c.queries(),
          c.keys(),
          c.headDim(),
          c.causal(),
          byKernel,
          notes,
          fastest == null ? null : fastest.name(),
          chosen.name(),
          chosenMs / fastestMs);
    }
  }

  private static NDArray uniform(
      NDManager manager, Random random, long heads, long length, long dim) {
    float[] data = new float[Math.toIntExact(heads * length * dim)];
    for (int n = 0; n < data.length; n++) {
      data[n] = random.nextFloat() * 2 - 1;
    }
    return manager.create(data, new Shape(1, heads, length, dim));
  }

  private void say(String format, Object... args) {
    log.printf(Locale.ROOT, format, args);
    log.flush();
  }
}
