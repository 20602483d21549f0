package io.github.djlattention.ops;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

/**
 * A linear map y = x·Wᵀ + b for few rows of x, as a generated token's projections and a short
 * prompt's are: one to {@link #MAX_ROWS} rows against a weight W (out, in) stored as {@code
 * torch.nn.Linear} and DJL's {@link Linear} store it.
 *
 * <p>libtorch's general matrix product is slow for such shapes on this project's machine: for one
 * row (a GEMV) it read W at about half the memory's rate (a 4096 × 4096 float32 weight: 4.0–4.6 ms
 * against 2.0–2.3 ms to sum it), and from 4 to 128 rows it reached 20 to 130 GFLOP/s where the
 * kernel reached 45 to 178 (docs/performance.md). The project's C kernel ({@code
 * core/src/main/c/linear_kernel.c}, in the same library as the attention kernels, on the same
 * threads) computes dot products along the contiguous axis of x and W, nothing packed: one row
 * against four rows of W at a time, and from four rows tiles of 4 rows by 4 features; the threads
 * take blocks of 16 output features from one counter.
 *
 * <p>It computes only what libtorch's product would, in float32 with its own summation order, and
 * only where nothing is recorded and it is faster: float32 PyTorch-engine CPU arrays, at most
 * {@link #MAX_ROWS} rows, at least {@link #MIN_WEIGHT_ELEMENTS} weights, and nothing libtorch would
 * record (its grad mode off, or no input requiring gradients; DJL turns grad mode on while a {@code
 * GradientCollector} is open), so a training step keeps libtorch's differentiable product. Every
 * other call, and every call with {@code -Ddjl.attention.linear=false} or where the native library
 * is not available, is {@link Linear#linear(NDArray, NDArray, NDArray)}. The caller's arrays are
 * only read; the result belongs to x's manager, as DJL's ops place theirs.
 */
public final class FewRowLinear {

  /**
   * The most rows of x (the product of its leading axes) the kernel takes: up to 128 it was faster
   * than libtorch at every size measured (128 × 512 × 512: 0.44 ms against 0.48); at 256 rows
   * libtorch's blocked product won at 512 × 512 (0.76–0.84 ms against 0.84–0.89).
   */
  public static final long MAX_ROWS = 128;

  /**
   * The fewest weight elements (out · in) for which the kernel is used: below them libtorch's
   * product is as fast or faster (the call's fixed cost dominates). Measured on this project's
   * machine (medians of 300 calls after 1,500, both on two threads): one row, 256 × 256 libtorch
   * 0.010 ms against the kernel's 0.018; 512 × 512 0.027–0.029 against 0.019–0.023; 1024 × 1024
   * 0.077 against 0.040; 4096 × 4096 5.2 against 2.2 (docs/performance.md).
   */
  public static final long MIN_WEIGHT_ELEMENTS = 1L << 18;

  /**
   * System property: {@code false} turns the kernel off; {@code true} takes it wherever it fits,
   * whatever {@link #preferred} says (for tests and measurements).
   */
  static final String ENABLED_PROPERTY = "djl.attention.linear";

  private FewRowLinear() {}

  /**
   * Computes x·Wᵀ + b.
   *
   * @param x (…, in)
   * @param weight (out, in)
   * @param bias (out), or null for none
   * @return (…, out), owned by x's manager
   * @throws IllegalArgumentException as {@link Linear#linear(NDArray, NDArray, NDArray)}, when the
   *     shapes do not fit
   */
  public static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
    if (!serves(x, weight, bias)) {
      return bias == null
          ? Linear.linear(x, weight).singletonOrThrow()
          : Linear.linear(x, weight, bias).singletonOrThrow();
    }
    return run(x, weight, bias, false);
  }

  /** Runs the kernel on a product it {@link #fits} (tests call it below the size threshold). */
  static NDArray compute(NDArray x, NDArray weight, NDArray bias) {
    return compute(x, weight, bias, false);
  }

  /**
   * As {@link #compute(NDArray, NDArray, NDArray)}; {@code avx2} runs the AVX2 variant also where
   * the CPU has AVX-512 (it always runs where the CPU has AVX2 but not AVX-512).
   */
  static NDArray compute(NDArray x, NDArray weight, NDArray bias, boolean avx2) {
    if (!fits(x, weight, bias)) {
      throw new IllegalArgumentException(
          "the few-row linear kernel does not take x "
              + x.getShape()
              + ", W "
              + weight.getShape()
              + (bias == null ? "" : ", b " + bias.getShape())
              + " here");
    }
    return run(x, weight, bias, avx2);
  }

  /** Runs the kernel on a product already checked to fit. */
  private static NDArray run(NDArray x, NDArray weight, NDArray bias, boolean avx2) {
    Shape shape = x.getShape();
    long in = weight.getShape().get(1);
    long out = weight.getShape().get(0);
    long rows = shape.size() / in;
    NDManager manager = x.getManager();
    NDArray y = manager.create(shape.slice(0, shape.dimension() - 1).add(out)); // (…, out)
    boolean done = false;
    try (NDManager scope = manager.newSubManager()) {
      // contiguous copies, where DJL makes them, go to the scope: the caller's arrays stay theirs
      NDArray xView = Attention.borrow(scope, x);
      NDArray weightView = Attention.borrow(scope, weight);
      NDArray biasView = Attention.borrow(scope, bias);
      long job =
          plan(
              NativeInputs.buffer(xView),
              NativeInputs.buffer(weightView),
              biasView == null ? null : NativeInputs.buffer(biasView),
              NativeInputs.buffer(y),
              rows,
              in,
              out,
              avx2);
      int workers = NativeAttentionKernel.workers();
      new NativeJob(
              FewRowLinear::items,
              handle -> workOpenMp(handle, workers),
              FewRowLinear::work,
              FewRowLinear::release)
          .run(
              job,
              NativeAttentionKernel.usesOpenMp(),
              workers,
              "the few-row linear kernel",
              "x " + shape + ", W " + weight.getShape(),
              "rows, in, out",
              new long[] {rows, in, out});
      done = true;
      return y;
    } finally {
      if (!done) {
        y.close(); // nothing half-written reaches the caller
      }
    }
  }

  /**
   * Returns whether the kernel computes this product (else {@link #linear} is libtorch's): it is on
   * and loaded, the arrays are float32 PyTorch-engine CPU arrays whose shapes fit (x (…, in) with
   * at most {@link #MAX_ROWS} rows, W (out, in), b (out)), each under 2 GiB, libtorch would record
   * nothing, and the kernel was measured faster for this size on this kind of CPU ({@link
   * #preferred}). {@code -Ddjl.attention.linear=true} takes the kernel wherever it fits.
   *
   * @param x (…, in)
   * @param weight (out, in)
   * @param bias (out), or null
   * @return whether {@link #linear} runs the C kernel
   */
  public static boolean serves(NDArray x, NDArray weight, NDArray bias) {
    if (!fits(x, weight, bias)) {
      return false;
    }
    if ("true".equalsIgnoreCase(System.getProperty(ENABLED_PROPERTY))) {
      return true;
    }
    long weights = weight.getShape().size();
    return preferred(x.getShape().size() / weight.getShape().get(1), weights);
  }

  /** The kinds of CPU whose crossovers against libtorch's product were measured. */
  enum CpuKind {
    /** An Intel CPU with AVX-512 (measured on a Xeon with AMX, whose oneDNN product is strong). */
    INTEL_AVX512,
    /** Another CPU with AVX-512 (measured on an AMD EPYC, Zen 4). */
    AVX512,
    /** A CPU with AVX2 and FMA but not AVX-512: the AVX2 variant (measured on an AMD EPYC). */
    AVX2;

    /** This machine's kind, from the instruction set the library finds and the CPU's vendor. */
    static CpuKind here() {
      if (NativeAttentionKernel.cpuLevelFound() < NativeAttentionKernel.LEVEL_AVX512) {
        return AVX2;
      }
      return Cpu.INTEL ? INTEL_AVX512 : AVX512;
    }
  }

  /**
   * Whether the dispatcher prefers the kernel for {@code rows} rows against {@code weights} weight
   * elements on this CPU ({@link #preferred(long, long, CpuKind)} of {@link CpuKind#here()}).
   */
  static boolean preferred(long rows, long weights) {
    return preferred(rows, weights, CpuKind.here());
  }

  /**
   * Whether the dispatcher prefers the kernel for {@code rows} rows against {@code weights} weight
   * elements on a CPU of this kind: the crossovers against libtorch's product measured on the
   * machines this project has run on (docs/performance.md, issue 14's third, fifth and sixth
   * passes).
   *
   * <ul>
   *   <li>{@link CpuKind#INTEL_AVX512}: 9 to 32 rows (E = 512: 0.084 and 0.134 ms at 16 and 32 rows
   *       against libtorch's 0.132 and 0.174), and 2 to 8 rows against at least 2²² weights (4096 ×
   *       4096, 8 rows: 3.1 ms against 4.8). libtorch's product was faster at one row (E = 512:
   *       0.018 ms against 0.028; E = 4096: 1.35 against 1.46), at 8 rows of E = 512 (0.039 against
   *       0.053) and from 64 rows (E = 512: 0.214 against 0.257; E = 4096: 10.3 against 13.7).
   *   <li>{@link CpuKind#AVX512}: 1 to {@link #MAX_ROWS} rows against at least {@link
   *       #MIN_WEIGHT_ELEMENTS} weights, where the kernel was faster at every size measured.
   *   <li>{@link CpuKind#AVX2} (the AVX2 variant, on an AMD EPYC without AVX-512): every row count
   *       against at least 2²² weights (4096 × 4096: 0.20 to 0.78 of libtorch's time from 1 to 128
   *       rows), 1 to 16 rows against at least 2²⁰ (2048 × 512: 0.42 to 0.93) and 2 to 16 against
   *       at least 2¹⁸ (512 × 512: 0.52 to 0.98 from 2 to 8 rows, 0.88 to 1.08 at 16); libtorch's
   *       product was faster at one row of 512 × 512 (1.42) and from 32 rows below 2²² weights (512
   *       × 512: 1.07 to 1.13; 2048 × 512: 1.16).
   * </ul>
   */
  static boolean preferred(long rows, long weights, CpuKind kind) {
    if (weights < MIN_WEIGHT_ELEMENTS || rows < 1 || rows > MAX_ROWS) {
      return false;
    }
    switch (kind) {
      case INTEL_AVX512:
        return rows <= 32 && (rows > 8 || (rows > 1 && weights >= 1L << 22));
      case AVX2:
        return weights >= 1L << 22 || (rows <= 16 && (rows > 1 || weights >= 1L << 20));
      default:
        return true;
    }
  }

  /** The CPU's vendor, read once from /proc/cpuinfo (Linux, where the kernel runs). */
  private static final class Cpu {
    private static final boolean INTEL = "GenuineIntel".equals(vendor());

    private static String vendor() {
      try (java.util.stream.Stream<String> lines =
          java.nio.file.Files.lines(java.nio.file.Path.of("/proc/cpuinfo"))) {
        return lines
            .filter(line -> line.startsWith("vendor_id"))
            .map(line -> line.substring(line.indexOf(':') + 1).trim())
            .findFirst()
            .orElse("");
      } catch (java.io.IOException | java.io.UncheckedIOException | SecurityException e) {
        return ""; // not Linux, or unreadable: the rule measured on the AMD
      }
    }
  }

  /** {@link #serves} without the size threshold: what the kernel can compute. */
  static boolean fits(NDArray x, NDArray weight, NDArray bias) {
    if ("false".equalsIgnoreCase(System.getProperty(ENABLED_PROPERTY))
        || NativeAttentionKernel.status() != null) {
      return false;
    }
    for (NDArray array : new NDArray[] {x, weight, bias}) {
      if (array != null
          && (!(array instanceof PtNDArray)
              || array.getDataType() != DataType.FLOAT32
              || !Device.cpu().equals(array.getDevice())
              || array.getShape().size() * Float.BYTES > NativeInputs.MAX_TENSOR_BYTES)) {
        return false;
      }
    }
    Shape shape = x.getShape();
    Shape w = weight.getShape();
    if (w.dimension() != 2 || shape.dimension() < 1 || w.get(0) <= 0 || w.get(1) <= 0) {
      return false;
    }
    long in = w.get(1);
    if (shape.get(shape.dimension() - 1) != in) {
      return false; // libtorch names the misfit
    }
    long rows = shape.size() / in;
    if (rows < 1 || rows > MAX_ROWS) {
      return false;
    }
    if (bias != null && (bias.getShape().dimension() != 1 || bias.getShape().get(0) != w.get(0))) {
      return false;
    }
    return !records(x, weight, bias); // nothing would be recorded: the kernel changes no meaning
  }

  /**
   * Whether libtorch would record this product for autograd: grad mode is on for this thread (it is
   * per thread, on by default in threads libtorch did not start, and DJL turns it on while a
   * gradient collector is open) and an input requires gradients.
   */
  private static boolean records(NDArray x, NDArray weight, NDArray bias) {
    if (!JniUtils.isGradMode()) {
      return false;
    }
    return JniUtils.requiresGrad((PtNDArray) x)
        || JniUtils.requiresGrad((PtNDArray) weight)
        || (bias != null && JniUtils.requiresGrad((PtNDArray) bias));
  }

  private static native long plan(
      java.nio.ByteBuffer x,
      java.nio.ByteBuffer weight,
      java.nio.ByteBuffer bias,
      java.nio.ByteBuffer y,
      long rows,
      long in,
      long out,
      boolean avx2);

  private static native long items(long job);

  private static native long work(long job);

  private static native long workOpenMp(long job, int workers);

  private static native void release(long job);
}
