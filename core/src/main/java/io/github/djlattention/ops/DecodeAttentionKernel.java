package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.nio.ByteBuffer;

/**
 * The decode kernel of {@link FastAttention}: float32 attention in C for few queries against many
 * keys ({@code src/main/c/decode_kernel.c}), the shape of generating text one token (or a few
 * speculative ones) at a time over a KV cache. It is in the same library as {@link
 * NativeAttentionKernel}, loaded the same way, on the same threads; it has an AVX-512 variant and
 * an AVX2 one ({@code decode_avx2.c}, for CPUs with AVX2 and FMA but not AVX-512), picked at run
 * time.
 *
 * <p>How: the R = H / G query heads of a key/value group and the S queries form the R·S rows of one
 * work item, so every key and value row is read once per group (not once per query head), straight
 * from the tensor (K is not repacked). With fewer groups than threads the keys are split into
 * chunks (split-K); each chunk keeps its row maximum, sum and unnormalized output, and the thread
 * that finishes a group's last chunk merges them (a log-sum-exp merge). Scores, softcap, mask and
 * softmax use the numerics of the native prefill kernel: the ONNX order of operations, −FLT_MAX
 * masks kept finite, values near the largest float summed without overflow, zeros for a row that
 * sees no key.
 *
 * <p>It also takes what the other kernels do not: per-batch valid key counts ({@link
 * AttentionOptions.Builder#optNonPadKeyLengths}, query i at position {@code count − S + i}, the
 * bottom-right causal alignment of a statically sized KV cache) and sliding windows, reading only
 * the keys a query can see.
 *
 * <p>Picked for S ≤ {@link #MAX_QUERIES} and for every call with valid key counts or a window;
 * {@code -Ddjl.attention.decode=false} turns it off.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads, S query length, T key length, D head
 * size, Dv value head size.
 */
final class DecodeAttentionKernel extends TensorKernel {

  /** The kernel, for the dispatcher's list: the AVX-512 variant where the CPU has it, else AVX2. */
  static final DecodeAttentionKernel INSTANCE = new DecodeAttentionKernel(false);

  /**
   * The AVX2 variant on every CPU that has AVX2 and FMA, also where the CPU has AVX-512: the tests
   * and {@code bench --decode} run it there beside the AVX-512 variant. Not in the dispatcher's
   * list.
   */
  static final DecodeAttentionKernel AVX2 = new DecodeAttentionKernel(true);

  /** System property that turns the kernel off when set to {@code false}. */
  static final String ENABLED_PROPERTY = "djl.attention.decode";

  /**
   * The most queries for which the dispatcher prefers this kernel without a window or counts: the
   * crossover {@code bench --dispatch} measured (H = 32, G = 8, D = 128, T = 4096) on both machines
   * this project has run on (docs/performance.md). On the AMD EPYC (Zen 4): this kernel 12.8–13.1
   * ms against the native kernel's 13.6–13.7 at S = 32, and 23.8–25.1 against 23.5–23.8 at S = 64,
   * in two runs. On the Intel Xeon with AMX: 14.7, 12.5 and 11.3 ms against 18.8, 15.1 and 14.7 at
   * S = 32 (1.21 to 1.30 times faster), and 32.4, 23.2 and 22.7 against 32.5, 23.4 and 23.1 at S =
   * 64 (within the noise), in three runs. 32 is the last length that every run gave it; it was 16
   * before the Intel runs, and 8 before the kernel's four-row Q·Kᵀ.
   */
  static final long MAX_QUERIES = 32;

  /** How a planned job of this kernel runs. */
  private static final NativeJob JOB =
      new NativeJob(
          DecodeAttentionKernel::items,
          DecodeAttentionKernel::workOpenMp,
          DecodeAttentionKernel::work,
          DecodeAttentionKernel::release);

  /** Whether this instance runs the AVX2 variant wherever the CPU has it. */
  private final boolean avx2;

  private DecodeAttentionKernel(boolean avx2) {
    this.avx2 = avx2;
  }

  @Override
  public String name() {
    return avx2 ? "DECODE_AVX2" : "DECODE";
  }

  @Override
  public boolean recordsGradients() {
    return false; // it writes its output outside autograd
  }

  @Override
  public String unsupported(AttentionCall call) {
    if ("false".equalsIgnoreCase(System.getProperty(ENABLED_PROPERTY))) {
      return "the decode kernel is turned off by -D" + ENABLED_PROPERTY + "=false";
    }
    return NativeAttentionKernel.unsupportedInputs(call, "decode", NativeAttentionKernel.status());
  }

  /**
   * Few queries, or a call with valid key counts or a window, which only this kernel reads; never
   * for {@link #AVX2}, which {@link #INSTANCE} runs where it is the variant to run. On a CPU
   * without AVX-512 the rule is the same since the native kernel got its AVX2 variant: {@code bench
   * --dispatch} measured that variant faster from S = 64 (R = 1: 0.200 against 0.245 ms; S = 128:
   * 0.471 against 0.566; R = 4, T = 4096: 55.2 against 61.5), where this kernel had been preferred
   * up to 128 rows per group against libtorch (docs/performance.md, issue 14's seventh pass).
   */
  @Override
  public boolean preferredFor(AttentionCall call) {
    return !avx2 && (call.shape().queryLength() <= MAX_QUERIES || call.positional());
  }

  /** The C kernel reads the arrays' memory and nothing else. */
  @Override
  boolean readsMemory() {
    return true;
  }

  /** Reads sequence-first calls where they lie: the C kernel takes either layout. */
  @Override
  public boolean readsSequenceFirst() {
    return true;
  }

  @Override
  NDArray run(Tensors t, AttentionCall call, NDManager scope) {
    NativeAttentionKernel.status(); // loads the library on first use
    long[] dims = NativeInputs.dims(call.shape()); // B, H, G, S, T, D, Dv
    NDArray output = scope.create(NativeInputs.outputShape(call));
    NDArray mask = t.mask();
    int workers = NativeAttentionKernel.workers();
    long job =
        plan(
            NativeInputs.buffer(t.query()),
            t.keyMemory() != null ? t.keyMemory() : NativeInputs.buffer(t.key()),
            t.valueMemory() != null ? t.valueMemory() : NativeInputs.buffer(t.value()),
            NativeInputs.buffer(output),
            dims,
            call.sequenceFirst(),
            (float) call.scale(),
            call.softcap() == null ? 0f : call.softcap().floatValue(),
            call.causal(),
            call.leftWindow(),
            call.rightWindow(),
            call.validKeys(),
            workers,
            avx2,
            mask == null ? null : NativeInputs.buffer(mask),
            NativeInputs.maskType(mask, "decode"),
            NativeInputs.maskStrides(mask),
            mask == null ? 0 : mask.getShape().size());
    JOB.run(
        job,
        NativeAttentionKernel.usesOpenMp(),
        workers,
        "the decode attention kernel",
        t.query().getShape(),
        "B, H, G, S, T, D, Dv",
        dims);
    return output; // in the scope: the base class returns a copy in the caller's dtype and rank
  }

  private static native long plan(
      ByteBuffer query,
      ByteBuffer key,
      ByteBuffer value,
      ByteBuffer output,
      long[] dims,
      boolean sequenceFirst,
      float scale,
      float softcap,
      boolean causal,
      long left,
      long right,
      long[] validKeys,
      int workers,
      boolean avx2,
      ByteBuffer mask,
      int maskType,
      long[] maskStrides,
      long maskElements);

  private static native long items(long job);

  private static native long work(long job);

  private static native long workOpenMp(long job);

  private static native void release(long job);
}
