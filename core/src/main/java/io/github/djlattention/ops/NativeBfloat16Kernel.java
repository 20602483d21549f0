package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import java.nio.ByteBuffer;

/**
 * The bfloat16 kernels of {@link FastAttention}: attention whose two matrix products run on
 * bfloat16 numbers with float32 accumulation, for calls that ask for {@link
 * FastAttention.Precision#BFLOAT16}, on x86-64 CPUs with AVX512_BF16. One C source, {@code
 * src/main/c/attention_bf16.c} (built into the same library as {@link NativeAttentionKernel}), and
 * two instances that differ only in the unit that runs the products:
 *
 * <ul>
 *   <li>{@link #INSTANCE} ({@code NATIVE_BFLOAT16}): AVX512_BF16's {@code vdpbf16ps}, register
 *       blocked;
 *   <li>{@link #AMX} ({@code NATIVE_AMX}): the AMX tiles' {@code tdpbf16ps} (16 × 16 float32 sums
 *       per instruction), on CPUs with AMX-BF16 whose OS grants the process the tile data.
 * </ul>
 *
 * Both pack, round, mask and normalize the same way (the softmax, the mask and the rounding of the
 * weights run on AVX-512 in both); the sums of the products differ only in their float32 order. The
 * CPU's support is checked at run time (CPUID, the OS's register state and, for AMX, Linux's {@code
 * arch_prctl(ARCH_REQ_XCOMP_PERM)}), so the library runs on any x86-64 CPU and each kernel only
 * where its instructions exist.
 *
 * <p>What they compute: softmax(softcap(scale·Q̃·K̃ᵀ) + mask)·Ṽ per head, where Q̃, K̃ and Ṽ are
 * the float32 (or float16) inputs rounded to bfloat16 (8 significant bits, to nearest even), with
 * the same masks, causal mask, softcap, grouped-query heads and zero rows as the float32 kernel.
 * The products are exact and summed in float32; the scores, the mask (kept in float32, not
 * rounded), the softcap and the online softmax are float32; the softmax's weights are rounded to
 * bfloat16 before their product with Ṽ and its denominator is the sum of the rounded weights. Each
 * query row and each key/value head is scaled by a power of two before it is rounded (and the power
 * taken out afterwards), so that rounding never overflows or flushes a small input to zero (the
 * bfloat16 instructions treat subnormal numbers as zero). Error against float64: about 2^-8 of the
 * output's scale (see docs/performance.md); the float32 kernel's is about 2^-24.
 *
 * <p>Threads, scratch memory and the work split are those of {@link NativeAttentionKernel}
 * (libtorch's OpenMP team, or the kernel helper threads). The dispatcher takes the AMX kernel where
 * it runs; on other CPUs with AVX512_BF16 the AVX512_BF16 kernel. {@code
 * -Ddjl.attention.native.amx=false} turns the AMX kernel off, and the AVX512_BF16 kernel is then
 * not preferred on an AMX CPU (libtorch's bfloat16 path, which uses the tiles through oneDNN,
 * measured faster there: docs/performance.md) unless {@code -Ddjl.attention.native.bfloat16=true};
 * {@code -Ddjl.attention.native.bfloat16=false} turns off both, {@code
 * -Ddjl.attention.native=false} every native kernel.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads, S query length, T key length, D head
 * size, Dv value head size.
 */
final class NativeBfloat16Kernel extends TensorKernel {

  /** The kernel with its products on AVX512_BF16, for the dispatcher's list. */
  static final NativeBfloat16Kernel INSTANCE = new NativeBfloat16Kernel(false);

  /** The kernel with its products on AMX tiles, for the dispatcher's list. */
  static final NativeBfloat16Kernel AMX = new NativeBfloat16Kernel(true);

  /** System property that turns both kernels off when set to {@code false}. */
  static final String ENABLED_PROPERTY = "djl.attention.native.bfloat16";

  /** System property that turns the AMX kernel off when set to {@code false}. */
  static final String AMX_PROPERTY = "djl.attention.native.amx";

  /** Asks the CPU once, after the library loaded; holds why it cannot run the kernel, or null. */
  private static final class Cpu {
    private static final String UNSUPPORTED = check();

    /** Whether the CPU has AMX-BF16 tiles that the OS supports. */
    private static final boolean AMX = UNSUPPORTED == null && cpuHasAmx();

    /** Whether Linux granted this process the tile data (asked once, here). */
    private static final boolean AMX_GRANTED = AMX && amxSupported();

    private static String check() {
      try {
        return cpuSupported()
            ? null
            : "this CPU lacks AVX512_BF16 (avx512_bf16 with AVX-512 F, BW, DQ and VL)";
      } catch (UnsatisfiedLinkError e) {
        return "the native library has no bfloat16 kernel: " + e.getMessage();
      }
    }
  }

  /** Looks up libtorch's OpenMP runtime once, after the library loaded. */
  private static final class OpenMp {
    private static final boolean FOUND = findOpenMp();
  }

  /** How a planned job of this kernel runs. */
  private static final NativeJob JOB =
      new NativeJob(
          NativeBfloat16Kernel::items,
          NativeBfloat16Kernel::workOpenMp,
          NativeBfloat16Kernel::work,
          NativeBfloat16Kernel::release);

  /** Whether the products run on AMX tiles (else on AVX512_BF16). */
  private final boolean tiles;

  private NativeBfloat16Kernel(boolean tiles) {
    this.tiles = tiles;
  }

  /** Returns whether the kernel is loaded, supported by this CPU and not turned off. */
  static boolean available() {
    return status() == null;
  }

  /** Returns why the kernel is not used, or null when it is. */
  static String status() {
    if ("false".equalsIgnoreCase(System.getProperty(ENABLED_PROPERTY))) {
      return "turned off by -D" + ENABLED_PROPERTY + "=false";
    }
    // also loads the library on first use; the CPU check below names a missing AVX-512
    String library = NativeAttentionKernel.status();
    if (library != null) {
      return "the native library is not available: " + library;
    }
    return Cpu.UNSUPPORTED;
  }

  /** Returns whether the AMX kernel is loaded, supported by this CPU and OS and not turned off. */
  static boolean amxAvailable() {
    return amxStatus() == null;
  }

  /** Returns why the AMX kernel is not used, or null when it is. */
  static String amxStatus() {
    String status = status();
    if (status != null) {
      return status;
    }
    if ("false".equalsIgnoreCase(System.getProperty(AMX_PROPERTY))) {
      return "turned off by -D" + AMX_PROPERTY + "=false";
    }
    if (!Cpu.AMX) {
      return "this CPU has no AMX-BF16 tiles that the OS supports (CPUID, XCR0)";
    }
    return Cpu.AMX_GRANTED
        ? null
        : "Linux did not grant this process the AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM)";
  }

  /** Returns why this instance does not run, or null when it does. */
  String kernelStatus() {
    return tiles ? amxStatus() : status();
  }

  /** Returns whether this instance runs here. */
  boolean runs() {
    return kernelStatus() == null;
  }

  /** Names the unit that runs the products: "AMX" or "AVX512_BF16". */
  String unit() {
    return tiles ? "AMX" : "AVX512_BF16";
  }

  @Override
  public String name() {
    return tiles ? "NATIVE_AMX" : "NATIVE_BFLOAT16";
  }

  @Override
  public boolean recordsGradients() {
    return false; // it writes its output outside autograd
  }

  /**
   * The AMX kernel is preferred wherever it runs: 4.2 to 5.4 times the AVX512_BF16 kernel at S =
   * 4096 on the Intel Xeon of issue 14's fifth pass (3.4 to 4.3 times float32 there;
   * docs/performance.md). The AVX512_BF16 kernel is preferred on CPUs without AMX; on CPUs with AMX
   * tiles (where the AMX kernel is turned off or not granted) libtorch's bfloat16 path runs on them
   * through oneDNN and was measured faster than {@code vdpbf16ps}, so it is kept unless {@code
   * -Ddjl.attention.native.bfloat16=true}.
   */
  @Override
  public boolean preferredFor(AttentionCall call) {
    return tiles || preferredOnThisCpu();
  }

  /** Whether the dispatcher picks the AVX512_BF16 kernel for the bfloat16 calls it can serve. */
  static boolean preferredOnThisCpu() {
    return "true".equalsIgnoreCase(System.getProperty(ENABLED_PROPERTY)) || !hasAmx();
  }

  /**
   * Whether the CPU has AMX-BF16 tiles that the OS supports (false where the kernel cannot run).
   */
  static boolean hasAmx() {
    return status() == null && Cpu.AMX;
  }

  /**
   * Names what keeps the call from the kernel, or returns null when it takes it: it must be loaded
   * and supported by the CPU, the call must ask for bfloat16 products on float16 or float32 inputs,
   * and take PyTorch-engine CPU arrays that are not empty and at most 2 GiB each.
   */
  @Override
  public String unsupported(AttentionCall call) {
    String status = kernelStatus();
    if (status != null) {
      return "the " + unit() + " bfloat16 kernel is not available: " + status;
    }
    if (!call.bfloat16()) {
      return "the bfloat16 kernels compute only calls that ask for bfloat16 products"
          + " (Precision.BFLOAT16) on float16 or float32 inputs, got "
          + call.precision()
          + " on "
          + call.dtype();
    }
    return NativeInputs.unsupportedArrays(call, "bfloat16");
  }

  @Override
  NDArray run(Tensors t, AttentionCall call, NDManager scope) {
    // The fast path aligns the causal mask to the top left: query i sees keys j <= i.
    return compute(
        t.query(),
        t.key(),
        t.value(),
        t.mask(),
        call.causal(),
        0,
        call.scale(),
        call.softcap(),
        scope);
  }

  /**
   * Runs the attention.
   *
   * @param query (B, H, S, D) float32
   * @param key (B, G, T, D) float32
   * @param value (B, G, T, Dv) float32
   * @param mask 4-D, each axis 1 or the size of (B, H, S, T): boolean (true = the key takes part)
   *     or float32 (added to the scores); or null
   * @param causal whether query i sees only keys j ≤ i + causalOffset
   * @param causalOffset 0 for the causal mask aligned to the top left (the fast path's), T − S for
   *     one aligned to the bottom right (queries that follow a cache of T − S keys)
   * @param scale the score factor
   * @param softcap the softcap c (scores become c·tanh(scores/c)), or null
   * @param manager the manager of the result
   * @return the output (B, H, S, Dv) float32
   * @throws IllegalStateException when the kernel is not available, or cannot allocate its memory
   */
  NDArray compute(
      NDArray query,
      NDArray key,
      NDArray value,
      NDArray mask,
      boolean causal,
      long causalOffset,
      double scale,
      Double softcap,
      NDManager manager) {
    String status = kernelStatus();
    if (status != null) {
      throw new IllegalStateException(
          "the " + unit() + " bfloat16 attention kernel is not available: " + status);
    }
    Shape q = query.getShape();
    Shape k = key.getShape();
    long[] dims = {
      q.get(0), q.get(1), k.get(1), q.get(2), k.get(2), q.get(3), value.getShape().get(3)
    }; // B, H, G, S, T, D, Dv
    NDArray output = manager.create(new Shape(dims[0], dims[1], dims[3], dims[6])); // (B,H,S,Dv)
    int workers = Math.min(JniUtils.getNumThreads(), Runtime.getRuntime().availableProcessors());
    boolean done = false;
    try {
      long job =
          plan(
              NativeInputs.buffer(query),
              NativeInputs.buffer(key),
              NativeInputs.buffer(value),
              NativeInputs.buffer(output),
              dims,
              (float) scale,
              softcap == null ? 0f : softcap.floatValue(),
              causal,
              causalOffset,
              workers,
              tiles,
              mask == null ? null : NativeInputs.buffer(mask),
              NativeInputs.maskType(mask, "bfloat16"),
              NativeInputs.maskStrides(mask),
              mask == null ? 0 : mask.getShape().size());
      JOB.run(
          job,
          usesOpenMp(),
          workers,
          "the " + unit() + " bfloat16 attention kernel",
          q,
          "B, H, G, S, T, D, Dv",
          dims);
      done = true;
      return output;
    } finally {
      if (!done) {
        output.close(); // nothing half-written reaches the caller
      }
    }
  }

  /** Returns whether calls run on libtorch's OpenMP team (rather than the helper threads). */
  static boolean usesOpenMp() {
    return !"java".equalsIgnoreCase(System.getProperty(NativeAttentionKernel.THREADS_PROPERTY))
        && OpenMp.FOUND;
  }

  private static native boolean cpuSupported();

  private static native boolean cpuHasAmx();

  private static native boolean amxSupported();

  private static native long plan(
      ByteBuffer query,
      ByteBuffer key,
      ByteBuffer value,
      ByteBuffer output,
      long[] dims,
      float scale,
      float softcap,
      boolean causal,
      long causalOffset,
      int workers,
      boolean amx,
      ByteBuffer mask,
      int maskType,
      long[] maskStrides,
      long maskElements);

  private static native long items(long job);

  private static native boolean findOpenMp();

  private static native long workOpenMp(long job);

  private static native long work(long job);

  private static native void release(long job);
}
