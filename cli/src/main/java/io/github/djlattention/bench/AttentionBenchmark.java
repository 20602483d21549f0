package io.github.djlattention.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import io.github.djlattention.bench.BenchmarkReport.Bfloat16Result;
import io.github.djlattention.bench.BenchmarkReport.Ceilings;
import io.github.djlattention.bench.BenchmarkReport.DecodeResult;
import io.github.djlattention.bench.BenchmarkReport.DispatchResult;
import io.github.djlattention.bench.BenchmarkReport.Environment;
import io.github.djlattention.bench.BenchmarkReport.GenerationResult;
import io.github.djlattention.bench.BenchmarkReport.LlmPrefillResult;
import io.github.djlattention.bench.BenchmarkReport.LongSequenceResult;
import io.github.djlattention.bench.BenchmarkReport.ReadCeiling;
import io.github.djlattention.bench.BenchmarkReport.ShapeResult;
import io.github.djlattention.bench.BenchmarkReport.SmallCallResult;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.CpuPeak;
import io.github.djlattention.ops.FastAttention;
import io.github.djlattention.ops.FastAttention.Kernel;
import io.github.djlattention.ops.FastAttention.Precision;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The {@code bench} command's work: the project's attention against ONNX Runtime's fused {@code
 * Attention} operator (opset 23) and {@code com.microsoft.MultiHeadAttention} on float32 (B=1, H=8,
 * S=T, D=64, non-causal: {@code com.microsoft.GroupQueryAttention}, causal-only on the CPU in 1.26,
 * does not apply), naming the stronger, side by side in one process, with the float32 matmul
 * ceiling of libtorch measured in the same run, the opt-in bfloat16 mode against float32 and
 * float64, a long sequence run in a child JVM whose peak RSS is read from {@code
 * /proc/<pid>/status}, and the decode series of {@link DecodeBenchmark} with its read-bandwidth
 * ceilings, ending with the generation loop of {@link GenerationBenchmark} (tokens per second of a
 * whole attention layer against ONNX Runtime's).
 *
 * <p>Timing: after a warm-up, each round calls the project twice and ONNX Runtime twice and times
 * the second call of each pair, so both see the same machine load and neither pays for the other's
 * thread pool still spinning; the reported time is the median over rounds. Both use every core:
 * libtorch's intra-op pool as configured and ONNX Runtime's with one thread per core. The
 * step-by-step chain, a reference, is timed in the same rounds below S = 4096 and in rounds of its
 * own from there (its gigabytes of scores slowed the project's calls beside it).
 *
 * <p>Shape legend: B batch, H heads, S query length = T key length, D head size.
 */
public final class AttentionBenchmark {

  /** Batch, heads and head size of every benchmarked shape. */
  static final long BATCH = 1;

  static final long HEADS = 8;
  static final long HEAD_DIM = 64;

  /** The sequence lengths of the table. */
  static final List<Long> SEQUENCES = List.of(128L, 512L, 1024L, 4096L);

  /** The sequence length of the bfloat16 comparison. */
  static final long BFLOAT16_SEQ = 4096;

  /** The sequence length of the long-sequence probe. */
  static final long LONG_SEQ = 16384;

  /** Side of the square float32 matmul that measures the ceiling. */
  static final long CEILING_SIZE = 2048;

  /** Warm-up time of each task before it is timed. */
  static final long WARM_UP_NANOS = 1_000_000_000L;

  private static final AttentionOptions NO_WEIGHTS =
      AttentionOptions.builder().optReturnWeights(false).build();

  /** Which series a run times. */
  public enum Series {
    /** Every series: prefill, bfloat16, the long sequence, small calls, decode. */
    ALL,
    /** The decode series and its read ceilings alone. */
    DECODE,
    /** The small-call series alone. */
    SMALL,
    /** The dispatch series alone: each kernel per shape class. */
    DISPATCH
  }

  private final boolean quick;
  private final Series series;
  private final PrintWriter log;

  /**
   * Creates a benchmark of every series.
   *
   * @param quick fewer rounds (finishes in about a minute on a quiet 2-core machine)
   * @param log where progress lines and the table go
   */
  public AttentionBenchmark(boolean quick, PrintWriter log) {
    this(quick, Series.ALL, log);
  }

  /**
   * Creates a benchmark.
   *
   * @param quick fewer rounds
   * @param series which series to time (the decode series includes the generation loop)
   * @param log where progress lines and the table go
   */
  public AttentionBenchmark(boolean quick, Series series, PrintWriter log) {
    this.quick = quick;
    this.series = series;
    this.log = log;
  }

  /**
   * Runs everything and prints the table.
   *
   * @return the measurements
   * @throws IllegalStateException when ONNX Runtime or the child JVM fails, or the project and ONNX
   *     Runtime disagree by more than 1e-4
   */
  public BenchmarkReport run() {
    long started = System.nanoTime();
    double loadBefore = loadAverage();
    Engine.getEngine("PyTorch");
    int cores = Runtime.getRuntime().availableProcessors();
    int torchThreads = JniUtils.getNumThreads();
    String kernel = FastAttention.float32Kernel();
    say(
        "bench: %d cores, libtorch %d intra-op threads, ONNX Runtime %d, load %.2f%s%n"
            + "bench: the project's float32 attention runs the %s%n",
        cores, torchThreads, cores, loadBefore, quick ? ", quick" : "", kernel);
    List<ShapeResult> results = new ArrayList<>();
    Bfloat16Result bfloat16 = null;
    LongSequenceResult longSequence = null;
    LlmPrefillResult llmPrefill = null;
    double ceiling = 0;
    double peak = 0;
    if (series == Series.ALL) {
      peak = fmaPeak(cores);
      double ceilingBefore = ceiling();
      List<ShapeResult> rows = new ArrayList<>();
      for (long seq : SEQUENCES) {
        rows.add(compareWithOrt(seq, cores));
      }
      llmPrefill = new LlmPrefillBenchmark(quick, log).run(cores);
      bfloat16 = bfloat16(BFLOAT16_SEQ);
      ceiling = Math.max(ceilingBefore, ceiling());
      for (ShapeResult row : rows) {
        results.add(withCeilings(row, ceiling, peak));
      }
      longSequence = longSequence(LONG_SEQ);
    }
    List<SmallCallResult> small =
        series == Series.ALL || series == Series.SMALL
            ? new SmallCallBenchmark(quick, log).run()
            : List.of();
    List<ReadCeiling> reads = new ArrayList<>();
    boolean decodes = series == Series.ALL || series == Series.DECODE;
    List<DecodeResult> decode =
        decodes ? new DecodeBenchmark(quick, log).run(cores, reads) : List.of();
    GenerationResult generation = decodes ? GenerationBenchmark.llama(quick, log).run(cores) : null;
    List<DispatchResult> dispatch =
        series == Series.DISPATCH ? new DispatchBenchmark(quick, log).run() : List.of();
    Environment environment =
        new Environment(
            kernel,
            cores,
            torchThreads,
            cores,
            loadBefore,
            loadAverage(),
            quick,
            (System.nanoTime() - started) / 1e9);
    BenchmarkReport report =
        new BenchmarkReport(
            results,
            ceiling,
            bfloat16,
            longSequence,
            environment,
            decode,
            new Ceilings(ceiling, peak, reads),
            generation,
            small,
            dispatch,
            llmPrefill);
    printTable(report);
    return report;
  }

  /**
   * From this length the step-by-step chain is timed apart from the other calls (or, quick, not).
   */
  private static final long CHAIN_APART = 4096;

  private int rounds(long seq) {
    if (seq >= 4096) {
      return quick ? 5 : 11;
    }
    return quick ? 7 : 21;
  }

  /** Timed calls per block: enough that short calls add up to a few milliseconds. */
  private static int perBlock(long seq) {
    return seq >= 4096 ? 1 : seq >= 1024 ? 3 : 10;
  }

  /**
   * The float32 matmul rate (GFLOP/s) of a CEILING_SIZE³ product: the faster of DJL's libtorch and
   * ONNX Runtime ({@link OrtMatMul}), timed in the same rounds. libtorch's CPU build chooses its
   * GEMM by CPU vendor: on the project's AMD machine its product ran slower than the attention
   * kernel itself computes, which made percentages of it meaningless.
   */
  private double ceiling() {
    int threads = Runtime.getRuntime().availableProcessors();
    Random random = new Random(CEILING_SIZE);
    long[] square = {CEILING_SIZE, CEILING_SIZE};
    float[] left = uniform(random, square);
    float[] right = uniform(random, square);
    try (NDManager manager = NDManager.newBaseManager("PyTorch");
        OrtMatMul ort = new OrtMatMul(CEILING_SIZE, left, right, threads)) {
      NDArray a = manager.create(left, new Shape(square));
      NDArray b = manager.create(right, new Shape(square));
      float expected = a.get("0:1").matMul(b.get(":, 0:1")).getFloat(0, 0);
      float ortFirst = ort.runFirst();
      if (!(Math.abs(ortFirst - expected) <= 1e-3f * Math.max(1f, Math.abs(expected)))) {
        throw new IllegalStateException(
            "ONNX Runtime's MatMul gives " + ortFirst + " where libtorch gives " + expected);
      }
      Runnable product =
          () -> {
            try (NDManager scope = manager.newSubManager()) {
              a.matMul(b).attach(scope); // (N, N)
            }
          };
      double[] ms = medians(quick ? 5 : 11, 1, product, ort::runFirst);
      double flops = 2.0 * CEILING_SIZE * CEILING_SIZE * CEILING_SIZE;
      double torch = flops / ms[0] / 1e6;
      double onnx = flops / ms[1] / 1e6;
      say(
          "ceiling: %d^3 float32 matmul: libtorch %.2f ms = %.1f GFLOP/s, ONNX Runtime %.2f ms ="
              + " %.1f GFLOP/s%n",
          CEILING_SIZE, ms[0], torch, ms[1], onnx);
      return Math.max(torch, onnx);
    }
  }

  /**
   * The float32 multiply-add peak of {@code cores} threads on registers alone ({@link CpuPeak}),
   * best of 3 runs; 0 where the native library is not loaded.
   */
  private double fmaPeak(int cores) {
    try {
      double peak = CpuPeak.float32FmaGflops(cores, quick ? 150 : 300, 3);
      say(
          "ceiling: float32 FMA peak %.1f GFLOP/s (%d threads of register-bound %d-bit"
              + " multiply-adds, no memory access: no float32 kernel computes faster)%n",
          peak, cores, CpuPeak.vectorBits());
      return peak;
    } catch (IllegalStateException e) {
      say("ceiling: float32 FMA peak not measured: %s%n", e.getMessage());
      return 0;
    }
  }

  private ShapeResult compareWithOrt(long seq, int threads) {
    long[] shape = {BATCH, HEADS, seq, HEAD_DIM};
    float[] query = uniform(new Random(seq), shape);
    float[] key = uniform(new Random(seq + 1), shape);
    float[] value = uniform(new Random(seq + 2), shape);
    try (NDManager manager = NDManager.newBaseManager("PyTorch");
        OrtFusedAttention ort = new OrtFusedAttention(shape, query, key, value, threads);
        OrtMultiHeadAttention mha = new OrtMultiHeadAttention(shape, query, key, value, threads)) {
      NDArray q = manager.create(query, new Shape(shape)); // (B, H, S, D)
      NDArray k = manager.create(key, new Shape(shape)); // (B, H, T, D)
      NDArray v = manager.create(value, new Shape(shape)); // (B, H, T, D)
      float[] projectOut = Attention.attention(q, k, v, NO_WEIGHTS).output().toFloatArray();
      float[] chainOut = Attention.attentionStepByStep(q, k, v, NO_WEIGHTS).output().toFloatArray();
      double diff = BenchData.maxAbsDiff(projectOut, ort.run());
      double mhaDiff = BenchData.maxAbsDiff(projectOut, mha.run());
      double chainDiff = BenchData.maxAbsDiff(projectOut, chainOut);
      if (!(diff <= 1e-4) || !(mhaDiff <= 1e-4) || !(chainDiff <= 1e-5)) {
        throw new IllegalStateException(
            String.format(
                Locale.ROOT,
                "at S=%d the fast path differs from ONNX Runtime's Attention by %.2e, its"
                    + " MultiHeadAttention by %.2e, from the step-by-step chain by %.2e",
                seq,
                diff,
                mhaDiff,
                chainDiff));
      }
      Runnable project =
          () -> {
            try (NDManager scope = manager.newSubManager()) {
              Attention.attention(q, k, v, NO_WEIGHTS).output().attach(scope);
            }
          };
      Runnable chain =
          () -> {
            try (NDManager scope = manager.newSubManager()) {
              Attention.attentionStepByStep(q, k, v, NO_WEIGHTS).output().attach(scope);
            }
          };
      // The chain holds the (B, H, S, T) scores several times over: --quick skips timing it at
      // 4096, and a full run times it there in rounds of its own, after the others: interleaved,
      // the project's median at S = 4096 was 468 and 508 ms in two full runs against 329 and 347
      // in the same runs' bfloat16 series (issue 14, seventh pass).
      boolean timeChain = !quick || seq < CHAIN_APART;
      Runnable multiHead = mha::runDiscardingOutput;
      double[] ms =
          timeChain && seq < CHAIN_APART
              ? medians(
                  rounds(seq), perBlock(seq), project, ort::runDiscardingOutput, multiHead, chain)
              : medians(rounds(seq), perBlock(seq), project, ort::runDiscardingOutput, multiHead);
      Double chainMs =
          !timeChain ? null : seq < CHAIN_APART ? ms[3] : medians(rounds(seq), 1, chain)[0];
      double gflops = flops(seq) / ms[0] / 1e6;
      StrongestOrt strongest = StrongestOrt.of("Attention-23", ms[1], "MultiHeadAttention", ms[2]);
      say(
          "S=%d: project %.3f ms, ORT Attention-23 %.3f ms, MultiHeadAttention %.3f ms (strongest"
              + " %s, ratio %.2f), step-by-step %s ms; max |project - ORT| %.2e,"
              + " |project - step-by-step| %.2e%n",
          seq,
          ms[0],
          ms[1],
          ms[2],
          strongest.name(),
          strongest.ratio(ms[0]),
          millis(chainMs),
          diff,
          chainDiff);
      return new ShapeResult(
          BATCH,
          HEADS,
          seq,
          HEAD_DIM,
          ms[0],
          ms[1],
          ms[0] / ms[1],
          gflops,
          0,
          0,
          diff,
          chainMs,
          chainDiff,
          ms[2],
          strongest.name(),
          strongest.ms(),
          strongest.ratio(ms[0]),
          0,
          0,
          0,
          0);
    }
  }

  /**
   * Runs the bfloat16 series alone ({@code bench --bfloat16}) and prints it.
   *
   * @return the measurement
   */
  public Bfloat16Result runBfloat16() {
    double loadBefore = loadAverage();
    Engine.getEngine("PyTorch");
    say(
        "bench: %d cores, libtorch %d intra-op threads, load %.2f%s%n"
            + "bench: float32 runs the %s; bfloat16 the %s%n",
        Runtime.getRuntime().availableProcessors(),
        JniUtils.getNumThreads(),
        loadBefore,
        quick ? ", quick" : "",
        FastAttention.float32Kernel(),
        FastAttention.bfloat16Kernel());
    Bfloat16Result result = bfloat16(BFLOAT16_SEQ);
    say("load average: %.2f before, %.2f after%n", loadBefore, loadAverage());
    return result;
  }

  /**
   * The bfloat16 mode against float32 and float64 at S = T = seq: the native AMX and AVX512_BF16
   * kernels (each where the CPU runs it) and libtorch's bfloat16 path, each pinned and timed in the
   * same interleaved rounds; the dispatcher's pick is reported as the bfloat16 mode.
   */
  private Bfloat16Result bfloat16(long seq) {
    Shape shape = new Shape(BATCH, HEADS, seq, HEAD_DIM);
    String kernel = FastAttention.bfloat16Kernel();
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      long[] dims = shape.getShape();
      NDArray q = manager.create(uniform(new Random(seq), dims), shape); // (B, H, S, D)
      NDArray k = manager.create(uniform(new Random(seq + 1), dims), shape); // (B, H, T, D)
      NDArray v = manager.create(uniform(new Random(seq + 2), dims), shape); // (B, H, T, D)
      double[] exact =
          FastAttention.output(
                  q.toType(DataType.FLOAT64, false),
                  k.toType(DataType.FLOAT64, false),
                  v.toType(DataType.FLOAT64, false),
                  NO_WEIGHTS)
              .toDoubleArray();
      double largest = Arrays.stream(exact).map(Math::abs).max().orElse(1);
      Supplier<NDArray> float32 = () -> FastAttention.output(q, k, v, NO_WEIGHTS, Precision.INPUT);
      double float32Err = BenchData.maxAbsDiff(exact, doubles(float32.get()));
      // the kernels in the order of the report; a kernel this CPU does not run is left out
      Kernel[] kernels = {Kernel.NATIVE_AMX, Kernel.NATIVE_BFLOAT16, Kernel.TORCHSCRIPT};
      Double[] errors = new Double[kernels.length];
      List<Runnable> tasks = new ArrayList<>(List.of(timed(manager, float32)));
      for (int i = 0; i < kernels.length; i++) {
        Kernel pinned = kernels[i];
        Supplier<NDArray> call =
            () -> FastAttention.output(q, k, v, NO_WEIGHTS, Precision.BFLOAT16, pinned);
        try {
          errors[i] = BenchData.maxAbsDiff(exact, doubles(call.get()));
        } catch (IllegalArgumentException notHere) {
          continue; // the kernel declines: the CPU lacks its instructions
        }
        tasks.add(timed(manager, call));
      }
      int rounds = rounds(seq);
      double[] timedMs = medians(rounds, perBlock(seq), tasks.toArray(new Runnable[0]));
      Double[] ms = new Double[kernels.length];
      for (int i = 0, next = 1; i < kernels.length; i++) {
        ms[i] = errors[i] == null ? null : timedMs[next++];
      }
      double float32Ms = timedMs[0];
      // the dispatcher's pick among the timed kernels, as it names it, not read from the text
      int picked =
          Arrays.asList(kernels)
              .indexOf(FastAttention.chosenKernel(q, k, v, NO_WEIGHTS, Precision.BFLOAT16));
      if (picked < 0 || ms[picked] == null) {
        throw new IllegalStateException(
            "the bfloat16 mode took a kernel this series does not time: " + kernel);
      }
      String[] names = {"native AMX", "native AVX512_BF16", "libtorch bfloat16"};
      StringBuilder line = new StringBuilder();
      for (int i = 0; i < kernels.length; i++) {
        line.append(
            ms[i] == null
                ? String.format(Locale.ROOT, "; no %s kernel on this CPU", names[i])
                : String.format(
                    Locale.ROOT,
                    "; %s %.3f ms (%.2fx, max |error| %.2e = %.2e of max |output|)",
                    names[i],
                    ms[i],
                    float32Ms / ms[i],
                    errors[i],
                    errors[i] / largest));
      }
      say(
          "bfloat16 S=%d, medians of %d interleaved rounds: float32 %.3f ms (max |error| vs float64"
              + " %.2e)%s; max |output| %.3e; the bfloat16 mode runs the %s%n",
          seq, rounds, float32Ms, float32Err, line, largest, kernel);
      return new Bfloat16Result(
          seq,
          float32Ms,
          ms[picked],
          float32Ms / ms[picked],
          float32Err,
          errors[picked],
          errors[picked] / largest,
          kernel,
          ms[0],
          ms[0] == null ? null : float32Ms / ms[0],
          errors[0],
          errors[0] == null ? null : errors[0] / largest,
          ms[1],
          ms[1] == null ? null : float32Ms / ms[1],
          errors[1],
          errors[1] == null ? null : errors[1] / largest,
          ms[2],
          float32Ms / ms[2],
          errors[2],
          errors[2] / largest,
          rounds);
    }
  }

  /**
   * Runs {@link LongSequenceProbe} in a child JVM and reads its VmHWM once the attention is done.
   */
  LongSequenceResult longSequence(long seq) {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> command =
        List.of(
            java,
            "-Xmx256m",
            "-Dai.djl.offline=true",
            "-cp",
            System.getProperty("java.class.path"),
            LongSequenceProbe.class.getName(),
            Long.toString(seq),
            Long.toString(HEADS),
            Long.toString(HEAD_DIM));
    say("long sequence: S=%d in a child JVM ...%n", seq);
    Process child;
    try {
      child = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    } catch (IOException e) {
      throw new UncheckedIOException("could not start the child JVM " + java, e);
    }
    try (BufferedReader out =
            new BufferedReader(
                new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
        Writer in = new OutputStreamWriter(child.getOutputStream(), StandardCharsets.UTF_8)) {
      String[] computed = expectLine(out, "computed", child);
      double seconds = Double.parseDouble(computed[1]);
      double peakMb = peakRssKb(child.pid()) / 1024.0;
      in.write("\n");
      in.flush();
      String[] checked = expectLine(out, "checked", child);
      if (!child.waitFor(60, TimeUnit.SECONDS)) {
        throw new IllegalStateException("the child JVM did not exit after the probe");
      }
      LongSequenceResult result =
          new LongSequenceResult(
              seq,
              HEADS,
              HEAD_DIM,
              seconds,
              peakMb,
              Double.parseDouble(checked[1]),
              Integer.parseInt(checked[2]));
      say(
          "long sequence: S=%d H=%d D=%d in %.2f s, child peak RSS (VmHWM) %.0f MiB,"
              + " max |fast - float64 reference| %.2e over %d rows per head%n",
          seq,
          HEADS,
          HEAD_DIM,
          seconds,
          peakMb,
          result.maxAbsDiffVsReference(),
          result.checkedRows());
      return result;
    } catch (IOException e) {
      throw new UncheckedIOException("lost the child JVM's output", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for the child JVM", e);
    } finally {
      child.destroy();
    }
  }

  private static String[] expectLine(BufferedReader out, String tag, Process child)
      throws IOException {
    String line = out.readLine();
    if (line == null || !line.startsWith(tag + " ")) {
      throw new IllegalStateException(
          "the child JVM (pid "
              + child.pid()
              + ") printed "
              + (line == null ? "nothing" : "'" + line + "'")
              + " where '"
              + tag
              + " ...' was expected");
    }
    return line.split(" ");
  }

  /** VmHWM of a live process, in KiB. */
  static long peakRssKb(long pid) {
    Path status = Path.of("/proc", Long.toString(pid), "status");
    try {
      for (String line : Files.readAllLines(status, StandardCharsets.UTF_8)) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("could not read " + status, e);
    }
    throw new IllegalStateException(status + " has no VmHWM line");
  }

  /**
   * Medians of interleaved runs: each round gives every task in turn a block of calls, the first
   * untimed (the other runtime's worker threads may still be spinning from its last call) and the
   * rest timed; each task is first warmed up for a second.
   *
   * @param rounds rounds
   * @param timedPerBlock timed calls per task and round
   * @return the median milliseconds of each task, in order
   */
  static double[] medians(int rounds, int timedPerBlock, Runnable... tasks) {
    return medians(rounds, timedPerBlock, WARM_UP_NANOS, tasks);
  }

  /** {@link #medians(int, int, Runnable...)} with a warm-up of {@code warmUpNanos} per task. */
  static double[] medians(int rounds, int timedPerBlock, long warmUpNanos, Runnable... tasks) {
    for (Runnable task : tasks) {
      // Warm up until the JIT has compiled the Java side: 2 calls and at least warmUpNanos.
      long start = System.nanoTime();
      for (int call = 0; call < 2 || System.nanoTime() - start < warmUpNanos; call++) {
        task.run();
      }
    }
    double[][] times = new double[tasks.length][rounds * timedPerBlock];
    for (int round = 0; round < rounds; round++) {
      for (int t = 0; t < tasks.length; t++) {
        tasks[t].run();
        for (int call = 0; call < timedPerBlock; call++) {
          long start = System.nanoTime();
          tasks[t].run();
          times[t][round * timedPerBlock + call] = (System.nanoTime() - start) / 1e6;
        }
      }
    }
    double[] medians = new double[tasks.length];
    for (int t = 0; t < tasks.length; t++) {
      Arrays.sort(times[t]);
      medians[t] = times[t][times[t].length / 2];
    }
    return medians;
  }

  private static Runnable timed(NDManager manager, Supplier<NDArray> call) {
    return () -> {
      try (NDManager scope = manager.newSubManager()) {
        call.get().attach(scope);
      }
    };
  }

  /** The row with the matmul ceiling and the FMA peak of the run (0: the peak not measured). */
  private static ShapeResult withCeilings(ShapeResult r, double ceiling, double peak) {
    double atPeakMs = peak > 0 ? flops(r.seq()) / peak / 1e6 : 0;
    double strongestGflops = flops(r.seq()) / r.strongestOrtMs() / 1e6;
    return new ShapeResult(
        r.batch(),
        r.heads(),
        r.seq(),
        r.headDim(),
        r.projectMs(),
        r.ortMs(),
        r.ratio(),
        r.projectGflops(),
        ceiling,
        100 * r.projectGflops() / ceiling,
        r.ortMaxAbsDiff(),
        r.stepByStepMs(),
        r.stepByStepMaxAbsDiff(),
        r.mhaMs(),
        r.strongestOrt(),
        r.strongestOrtMs(),
        r.ratioVsStrongest(),
        peak,
        peak > 0 ? 100 * r.projectGflops() / peak : 0,
        peak > 0 ? 100 * strongestGflops / peak : 0,
        atPeakMs / r.strongestOrtMs());
  }

  private void printTable(BenchmarkReport report) {
    if (!report.results().isEmpty()) {
      printPrefill(report);
    }
    LlmPrefillResult llm = report.llmPrefill();
    if (llm != null) {
      sayLine("");
      sayLine(
          "| LLM prefill (B×H×G×S×D, causal) | project ms | GQA ms | Attention-23 ms | strongest |"
              + " project/strongest |");
      sayLine("|---|---:|---:|---:|---|---:|");
      say(
          "| 1×%d×%d×%d×%d | %.3f | %.3f | %.3f | %s | %.2f |%n",
          llm.heads(),
          llm.kvHeads(),
          llm.seq(),
          llm.headDim(),
          llm.projectMs(),
          llm.gqaMs(),
          llm.attention23Ms(),
          llm.strongestOrt(),
          llm.ratioVsStrongest());
    }
    if (!report.smallCalls().isEmpty()) {
      printSmallCalls(report);
    }
    if (!report.decode().isEmpty()) {
      printDecode(report);
    }
    if (!report.dispatch().isEmpty()) {
      printDispatch(report);
    }
    say(
        "project kernel: %s%nload average: %.2f before, %.2f after; %.0f s in all%n",
        report.environment().kernel(),
        report.environment().loadBefore(),
        report.environment().loadAfter(),
        report.environment().seconds());
  }

  private void printDispatch(BenchmarkReport report) {
    sayLine("");
    StringBuilder header = new StringBuilder("| class | shape (B×H×G×S×T×D) |");
    StringBuilder rule = new StringBuilder("|---|---|");
    for (FastAttention.Kernel kernel : DispatchBenchmark.KERNELS) {
      header.append(' ').append(kernel).append(" ms |");
      rule.append("---:|");
    }
    sayLine(header.append(" fastest | dispatcher | dispatcher/fastest |").toString());
    sayLine(rule.append("---|---|---:|").toString());
    for (DispatchResult r : report.dispatch()) {
      StringBuilder line =
          new StringBuilder(
              String.format(
                  Locale.ROOT,
                  "| %s | 1×%d×%d×%d×%d×%d%s |",
                  r.shapeClass(),
                  r.heads(),
                  r.kvHeads(),
                  r.queries(),
                  r.keys(),
                  r.headDim(),
                  r.causal() ? " causal" : ""));
      for (FastAttention.Kernel kernel : DispatchBenchmark.KERNELS) {
        Double ms = r.kernelMs().get(kernel.name());
        line.append(ms == null ? " - |" : String.format(Locale.ROOT, " %.3f |", ms));
      }
      line.append(
          String.format(
              Locale.ROOT,
              " %s | %s | %.2f |",
              r.fastest(),
              r.dispatcher(),
              r.dispatcherVsFastest()));
      sayLine(line.toString());
    }
  }

  private void printSmallCalls(BenchmarkReport report) {
    sayLine("");
    sayLine(
        "| block call (B×S×E, H) | project block ms | DJL block ms | project/DJL |"
            + " projections ms | attention ms | rest ms |");
    sayLine("|---|---:|---:|---:|---:|---:|---:|");
    for (SmallCallResult r : report.smallCalls()) {
      say(
          "| %d×%d×%d, %d | %.4f | %.4f | %.2f | %.4f | %.4f | %.4f |%n",
          r.batch(),
          r.seq(),
          r.embedding(),
          r.heads(),
          r.projectMs(),
          r.djlMs(),
          r.ratio(),
          r.projectionsMs(),
          r.attentionMs(),
          r.restMs());
    }
  }

  private void printDecode(BenchmarkReport report) {
    sayLine("");
    sayLine(
        "| decode (B×H×G×S×T×D) | project, KV cache ms | GQA ms | Attention-23 ms | strongest |"
            + " project/strongest | read GB/s | % of read ceiling | % of the plain read in the"
            + " same rounds | % of the cache's own read | plain call ms | libtorch route ms |");
    sayLine("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for (DecodeResult r : report.decode()) {
      say(
          "| %d×%d×%d×%d×%d×%d | %.3f | %.3f | %.3f | %s | %.2f | %.1f | %.0f%% | %.0f%% | %.0f%% |"
              + " %.3f | %.3f |%n",
          r.batch(),
          r.heads(),
          r.kvHeads(),
          r.queries(),
          r.keys(),
          r.headDim(),
          r.projectMs(),
          r.gqaMs(),
          r.attention23Ms(),
          r.strongestOrt(),
          r.ratioVsStrongest(),
          r.readGbps(),
          r.percentOfReadCeiling(),
          r.percentOfSameRoundsRead(),
          r.percentOfCacheRead(),
          r.projectPlainMs(),
          r.projectLibtorchMs());
    }
    for (ReadCeiling c : report.ceilings().reads()) {
      say("read ceiling: %d MiB at %.1f GB/s%n", c.bytes() >> 20, c.gbps());
    }
    GenerationResult g = report.generation();
    if (g != null) {
      sayLine("");
      sayLine(
          "| generation loop (E×H×G×D, tokens) | project tokens/s | ORT GQA layer tokens/s |"
              + " project/ORT (higher is better) | project attention ms/token | max abs diff |");
      sayLine("|---|---:|---:|---:|---:|---:|");
      say(
          "| %d×%d×%d×%d, %d | %.1f | %.1f | %.2f | %.3f | %.2e |%n",
          g.embedding(),
          g.heads(),
          g.kvHeads(),
          g.headDim(),
          g.tokens(),
          g.projectTokensPerS(),
          g.ortTokensPerS(),
          g.ratio(),
          g.projectAttentionMsPerToken(),
          g.maxAbsDiff());
    }
  }

  private void printPrefill(BenchmarkReport report) {
    sayLine("");
    sayLine(
        "| shape (B×H×S×D) | project ms | Attention-23 ms | MultiHeadAttention ms | strongest |"
            + " project/strongest | project GFLOP/s | % of ceiling | % of FMA peak | strongest's"
            + " % of FMA peak | lowest ratio at the peak | step-by-step ms |");
    sayLine("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for (ShapeResult r : report.results()) {
      say(
          "| %d×%d×%d×%d | %.3f | %.3f | %.3f | %s | %.2f | %.1f | %.0f%% | %.0f%% | %.0f%% |"
              + " %.2f | %s |%n",
          r.batch(),
          r.heads(),
          r.seq(),
          r.headDim(),
          r.projectMs(),
          r.ortMs(),
          r.mhaMs(),
          r.strongestOrt(),
          r.ratioVsStrongest(),
          r.projectGflops(),
          r.percentOfCeiling(),
          r.percentOfFmaPeak(),
          r.strongestOrtPercentOfFmaPeak(),
          r.lowestRatioAtFmaPeak(),
          millis(r.stepByStepMs()));
    }
    Bfloat16Result b = report.bfloat16();
    LongSequenceResult l = report.longSequence();
    say(
        "%nceiling (%d³ float32 matmul, the faster of libtorch and ONNX Runtime): %.1f GFLOP/s;"
            + " float32 FMA peak of the cores %.1f GFLOP/s%n"
            + "bfloat16 mode, S=%d: %.3f ms vs float32 %.3f ms = %.2fx;"
            + " max |error| vs float64: bfloat16 %.2e, float32 %.2e (%s)%n"
            + "long sequence S=%d (H=%d, D=%d): %.2f s, child JVM peak RSS %.0f MiB,"
            + " max |error| vs float64 reference %.2e%n",
        CEILING_SIZE,
        report.ceilingGflops(),
        report.ceilings().fmaPeakGflops(),
        b.seq(),
        b.bfloat16Ms(),
        b.float32Ms(),
        b.speedup(),
        b.bfloat16MaxAbsErr(),
        b.float32MaxAbsErr(),
        b.kernel(),
        l.seq(),
        l.heads(),
        l.headDim(),
        l.seconds(),
        l.peakRssMb(),
        l.maxAbsDiffVsReference());
  }

  private void say(String format, Object... args) {
    log.printf(Locale.ROOT, format, args);
    log.flush();
  }

  private void sayLine(String line) {
    log.println(line);
    log.flush();
  }

  private static String millis(Double ms) {
    return ms == null ? "-" : String.format(Locale.ROOT, "%.3f", ms);
  }

  private static double flops(long seq) {
    return 4.0 * BATCH * HEADS * seq * seq * HEAD_DIM;
  }

  private static float[] uniform(Random random, long[] shape) {
    return BenchData.uniform(random, Arrays.stream(shape).reduce(1, (a, b) -> a * b));
  }

  private static double[] doubles(NDArray array) {
    return array.toType(DataType.FLOAT64, false).toDoubleArray();
  }

  private static double loadAverage() {
    return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
  }
}
