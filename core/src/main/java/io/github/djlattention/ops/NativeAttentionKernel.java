package io.github.djlattention.ops;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.util.Utils;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The native kernel of {@link FastAttention}: float32 attention written in C for x86-64 CPUs with
 * AVX-512, or AVX2 and FMA ({@code src/main/c}: {@code attention_kernel.c}, and its AVX2 variant
 * {@code prefill_avx2.c}, picked at run time), built by Maven with gcc into the jar and loaded from
 * it. It reads and writes the PyTorch engine's tensors in place (no copies between Java and native
 * memory).
 *
 * <p>What it computes: softmax(softcap(scale·Q·Kᵀ) + mask)·V per head, with grouped-query heads,
 * the causal mask (query i sees keys j ≤ i), an optional softcap (c·tanh(x/c)) and a boolean or
 * additive mask broadcast to (B, H, S, T); a row whose keys the masks hide entirely gets zeros, as
 * in ONNX. How: per (batch, head, block of 64 query rows) the keys are visited in blocks of 512
 * with an online softmax, so the scores in flight are one 64×512 block per thread, which stays in
 * the L2 cache; both products are register-blocked micro-kernels (AVX-512, or eight lanes wide on a
 * CPU without it), and the exponential and tanh are polynomials evaluated in registers.
 *
 * <p>Threads: libtorch's intra-op thread count of them, each taking work items from its own range
 * first and then from the others' (so a descheduled thread slows the call down by the item it holds
 * only). They are libtorch's own OpenMP team, the calling thread among them, reached through the
 * libgomp that libtorch loaded: libtorch's workers spin for a while after each of its parallel ops,
 * and threads of our own would compete with them for the cores. Where no libgomp is loaded, or with
 * {@code -Ddjl.attention.native.threads=java}, the caller and daemon helper threads of {@link
 * KernelThreads} do the work instead.
 *
 * <p>It is used when the library loads and the CPU has AVX2 and FMA at least; {@code
 * -Ddjl.attention.native=false} turns it off. {@link #status()} says which and why, {@link
 * #instructionSet()} which variant runs.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads, S query length, T key length, D head
 * size, Dv value head size.
 */
final class NativeAttentionKernel extends TensorKernel {

  /** The kernel, for the dispatcher's list: the AVX-512 variant where the CPU has it, else AVX2. */
  static final NativeAttentionKernel INSTANCE = new NativeAttentionKernel(false);

  /**
   * The AVX2 variant on every CPU that has AVX2 and FMA, also where the CPU has AVX-512: the tests
   * and {@code bench --dispatch} run it there beside the AVX-512 variant. Not in the dispatcher's
   * list.
   */
  static final NativeAttentionKernel AVX2 = new NativeAttentionKernel(true);

  /** System property that turns the kernel off when set to {@code false}. */
  static final String ENABLED_PROPERTY = "djl.attention.native";

  /**
   * System property choosing the kernel's threads: {@code openmp} (libtorch's OpenMP team, the
   * default where libtorch's libgomp is loaded) or {@code java} (the kernel's own helper threads).
   */
  static final String THREADS_PROPERTY = "djl.attention.native.threads";

  private static final String LIBRARY = "native/linux-x86_64/libdjlattention.so";

  /**
   * Loads the library on first use; holds why it is unavailable, or null, and the instruction set
   * its kernels find: {@link #LEVEL_AVX512}, {@link #LEVEL_AVX2} or 0.
   */
  private static final class Library {
    private static final String UNAVAILABLE = load();
    private static final int LEVEL = UNAVAILABLE == null ? cpuLevel() : 0;

    private static String load() {
      String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
      String arch = System.getProperty("os.arch", "");
      if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
        return "built for Linux x86-64 only, this is " + os + " " + arch;
      }
      byte[] library;
      try (InputStream in = NativeAttentionKernel.class.getResourceAsStream(LIBRARY)) {
        if (in == null) {
          return "the jar has no " + LIBRARY + " (built with -DskipNative?)";
        }
        library = in.readAllBytes();
      } catch (IOException e) {
        return "could not read " + LIBRARY + ": " + e.getMessage();
      }
      // The temporary directory first; DJL's cache directory where that one is mounted noexec
      // (DJL loads libtorch from there too).
      List<String> failures = new ArrayList<>();
      for (Path directory :
          List.of(
              Path.of(System.getProperty("java.io.tmpdir")),
              Utils.getCacheDir().resolve("djl-attention"))) {
        String failure = loadFrom(directory, library);
        if (failure == null) {
          return null;
        }
        failures.add(failure);
      }
      return "could not load " + LIBRARY + ": " + String.join("; ", failures);
    }

    /** Loads a copy of the library written to {@code directory}; returns null, or why not. */
    private static String loadFrom(Path directory, byte[] library) {
      try {
        Files.createDirectories(directory);
        Path file = Files.createTempFile(directory, "djl-attention-", ".so");
        try {
          Files.write(file, library);
          System.load(file.toAbsolutePath().toString());
        } finally {
          Files.deleteIfExists(file); // the loaded library stays mapped
        }
        return null;
      } catch (IOException | UnsatisfiedLinkError e) {
        return directory + ": " + e.getMessage();
      }
    }
  }

  /**
   * Looks up libtorch's OpenMP runtime once, after the library and libtorch have loaded: asked
   * before the PyTorch engine had loaded libtorch (and its libgomp), the lookup found none and the
   * kernel stayed on its own helper threads for the rest of the process (issue 14). So the engine
   * is loaded first; where it cannot load, no PyTorch array can reach the kernel either.
   */
  private static final class OpenMp {
    private static final boolean FOUND = find();

    private static boolean find() {
      if (Library.UNAVAILABLE != null) {
        return false; // no library, no lookup (and nothing runs on any team)
      }
      try {
        Engine.getEngine("PyTorch"); // loads libtorch, which loads its libgomp
      } catch (RuntimeException e) {
        return false;
      }
      return findOpenMp();
    }
  }

  /** The helper threads, started on first use. */
  private static final class Helpers {
    private static final KernelThreads THREADS =
        new KernelThreads(Math.max(0, Runtime.getRuntime().availableProcessors() - 1));
  }

  /** How a planned job of this kernel runs. */
  private static final NativeJob JOB =
      new NativeJob(
          NativeAttentionKernel::items,
          NativeAttentionKernel::workOpenMp,
          NativeAttentionKernel::work,
          NativeAttentionKernel::release);

  /** Whether this instance runs the AVX2 variant wherever the CPU has it. */
  private final boolean avx2;

  private NativeAttentionKernel(boolean avx2) {
    this.avx2 = avx2;
  }

  /** {@link #cpuLevel()} of a CPU with AVX-512 (avx512f): every kernel of the library runs. */
  static final int LEVEL_AVX512 = 2;

  /**
   * {@link #cpuLevel()} of a CPU with AVX2 and FMA but not AVX-512: the float32 kernels run (their
   * AVX2 variants), the bfloat16 kernels do not.
   */
  static final int LEVEL_AVX2 = 1;

  /** Returns whether the kernel is loaded, supported by this CPU and not turned off. */
  static boolean available() {
    return status() == null;
  }

  /**
   * Names the variant that the library's float32 kernels ({@link #INSTANCE}, {@link
   * DecodeAttentionKernel#INSTANCE}) run on this CPU, or why none runs.
   *
   * @return {@code AVX-512}, {@code AVX2}, or {@code not available: } and the reason
   */
  static String instructionSet() {
    String status = status();
    if (status != null) {
      return "not available: " + status;
    }
    return Library.LEVEL >= LEVEL_AVX512 ? "AVX-512" : "AVX2";
  }

  /**
   * Returns the instruction set the library's kernels find on this CPU: {@link #LEVEL_AVX512},
   * {@link #LEVEL_AVX2}, or 0 for neither or where the library is not loaded.
   */
  static int cpuLevelFound() {
    return Library.LEVEL;
  }

  /** Why the library is not used (not loaded, or turned off), or null. */
  private static String libraryStatus() {
    if ("false".equalsIgnoreCase(System.getProperty(ENABLED_PROPERTY))) {
      return "turned off by -D" + ENABLED_PROPERTY + "=false";
    }
    return Library.UNAVAILABLE;
  }

  /** Returns whether the native library is loaded (whether or not the kernel is turned off). */
  static boolean libraryLoaded() {
    return Library.UNAVAILABLE == null;
  }

  /**
   * Returns why the library's float32 kernels (this one and {@link DecodeAttentionKernel}) are not
   * used, or null when they are: the library must be loaded, the CPU have AVX2 and FMA at least,
   * and {@code -Ddjl.attention.native=false} not be set.
   */
  static String status() {
    String library = libraryStatus();
    if (library != null) {
      return library;
    }
    return Library.LEVEL >= LEVEL_AVX2 ? null : "this CPU lacks AVX2 and FMA (and AVX-512)";
  }

  @Override
  public String name() {
    return avx2 ? "NATIVE_AVX2" : "NATIVE";
  }

  @Override
  public boolean recordsGradients() {
    return false; // it writes its output outside autograd
  }

  /**
   * Names what keeps the call from the kernel, or returns null when it takes it: it must be loaded
   * and supported by the CPU, compute in float32 (not bfloat16), take PyTorch-engine CPU arrays
   * that are not empty and at most 2 GiB each, and a boolean or floating-point mask.
   */
  @Override
  public String unsupported(AttentionCall call) {
    String inputs = unsupportedInputs(call, "native");
    if (inputs != null) {
      return inputs;
    }
    if (call.validKeys() != null || call.windowed()) {
      return "the native kernel takes no valid key counts or sliding window (the decode kernel"
          + " does)";
    }
    return null;
  }

  /**
   * The decode shapes (S ≤ {@link DecodeAttentionKernel#MAX_QUERIES}) go to the decode kernel, or,
   * where that is turned off, to libtorch's fused kernel, which was measured faster than this one
   * there (issue 14: 2–4× at T = 1024–16384); see docs/performance.md.
   */
  @Override
  public boolean preferredFor(AttentionCall call) {
    return !avx2 && call.shape().queryLength() > DecodeAttentionKernel.MAX_QUERIES;
  }

  /**
   * Names what keeps a call from the project's C kernels, or returns null when they take it: the
   * library must be loaded and supported by the CPU, and the call compute in float32 (not bfloat16)
   * on PyTorch-engine CPU arrays that are not empty and at most 2 GiB each.
   *
   * @param call the call
   * @param kernel the kernel's name in messages, e.g. {@code native}
   */
  static String unsupportedInputs(AttentionCall call, String kernel) {
    return unsupportedInputs(call, kernel, status());
  }

  /**
   * As {@link #unsupportedInputs(AttentionCall, String)}, for a kernel whose availability is {@code
   * status} (null when it is available).
   */
  static String unsupportedInputs(AttentionCall call, String kernel, String status) {
    if (status != null) {
      return "the " + kernel + " kernel is not available: " + status;
    }
    if (call.computeType() != DataType.FLOAT32 || call.bfloat16()) {
      return "the " + kernel + " kernel computes in float32 only";
    }
    return NativeInputs.unsupportedArrays(call, kernel);
  }

  /** Reads sequence-first calls where they lie: the C kernel takes either layout. */
  @Override
  public boolean readsSequenceFirst() {
    return true;
  }

  /**
   * Runs the attention on the prepared arrays (float32, 4-D, in the call's layout: (B, H, S, D)
   * heads first, (B, S, H, D) sequence first); the mask is 4-D, each axis 1 or the size of (B, H,
   * S, T): boolean (true = the key takes part) or float32 (added to the scores), or null.
   *
   * @return the output (B, H, S, Dv) float32, or (B, S, H, Dv) for a sequence-first call
   * @throws IllegalStateException when the kernel is not available, or cannot allocate its scratch
   *     memory
   */
  @Override
  NDArray run(Tensors t, AttentionCall call, NDManager scope) {
    String status = status(); // also loads the library on first use
    if (status != null) {
      throw new IllegalStateException("the native attention kernel is not available: " + status);
    }
    NDArray mask = t.mask();
    Double softcap = call.softcap();
    long[] dims = NativeInputs.dims(call.shape()); // B, H, G, S, T, D, Dv
    NDArray output = scope.create(NativeInputs.outputShape(call));
    int workers = workers();
    boolean done = false;
    try {
      long job =
          plan(
              NativeInputs.buffer(t.query()),
              NativeInputs.buffer(t.key()),
              NativeInputs.buffer(t.value()),
              NativeInputs.buffer(output),
              dims,
              call.sequenceFirst(),
              (float) call.scale(),
              softcap == null ? 0f : softcap.floatValue(),
              call.causal(),
              workers,
              avx2,
              mask == null ? null : NativeInputs.buffer(mask),
              NativeInputs.maskType(mask, "native"),
              NativeInputs.maskStrides(mask),
              mask == null ? 0 : mask.getShape().size());
      JOB.run(
          job,
          usesOpenMp(),
          workers,
          "the native attention kernel",
          t.query().getShape(),
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

  /** The helper threads, shared with the other native kernels ({@link NativeBfloat16Kernel}). */
  static KernelThreads helperThreads() {
    return Helpers.THREADS;
  }

  /** Returns whether calls run on libtorch's OpenMP team (rather than the kernel's own threads). */
  static boolean usesOpenMp() {
    return !"java".equalsIgnoreCase(System.getProperty(THREADS_PROPERTY)) && OpenMp.FOUND;
  }

  /** The threads a call may use: libtorch's intra-op thread count, at most the processors. */
  static int workers() {
    return Math.min(JniUtils.getNumThreads(), Runtime.getRuntime().availableProcessors());
  }

  /** 2: AVX-512 (avx512f), 1: AVX2 and FMA, 0: neither (the C side's cpu_level). */
  private static native int cpuLevel();

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
      int workers,
      boolean avx2,
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
