package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;

/**
 * The fast path of {@link Attention#attention(NDArray, NDArray, NDArray, AttentionOptions)}: the
 * same attention output as {@link Attention#attentionStepByStep}, computed without holding the (B,
 * H, S, T) scores.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads (H a multiple of G), S query length, T
 * key/value length, D query/key head size, Dv value head size.
 *
 * <p>The kernels implement {@link AttentionKernel}; the dispatcher describes the call once ({@link
 * AttentionCall}: shapes, dtype, device, mask, flags, whether autograd records) and picks the first
 * of {@link Kernel}, in order, that can serve it:
 *
 * <ul>
 *   <li>float32 on PyTorch-engine CPU arrays, where the CPU has AVX-512: {@link
 *       NativeAttentionKernel}, the project's own C kernel (a flash-style tiled softmax with
 *       register-blocked products), with masks, softcap, grouped-query heads and the causal mask;
 *   <li>{@link Precision#BFLOAT16} calls on PyTorch-engine CPU arrays, where the CPU has AMX-BF16
 *       tiles, or else AVX512_BF16: {@link NativeBfloat16Kernel}, the same design with bfloat16
 *       products (on the tiles, or on {@code vdpbf16ps}) and float32 accumulation and softmax;
 *   <li>other PyTorch-engine arrays (the project's engine): {@link TorchScriptKernel}, one native
 *       call into a TorchScript module that uses libtorch's fused {@code
 *       scaled_dot_product_attention} (a flash-style tiled CPU kernel) for plain, masked, causal
 *       and grouped-query attention, and a tiled loop of in-place libtorch ops for softcap and for
 *       a mask combined with the causal mask. It also offers {@link Precision#BFLOAT16};
 *   <li>calls that record gradients: the same module's fused kernel run with autograd, where it
 *       takes the call (no softcap, no bfloat16);
 *   <li>arrays of any other DJL engine: {@link TiledAttention}, the same tiling written with DJL
 *       NDArray ops;
 *   <li>everything else (a call that records gradients with a softcap, say): the step-by-step
 *       chain.
 * </ul>
 *
 * <p>The tiled loops of the last two process at most {@link #DEFAULT_TILE_ELEMENTS} scores at a
 * time, and the native and fused kernels tile internally, so peak memory does not grow with S·T. A
 * query row whose keys are all masked gets a zero output, as in the step-by-step chain.
 *
 * <p>float32 and float64 are computed in their own precision; float16 and bfloat16 inputs are
 * computed in float32 and the output cast back.
 */
public final class FastAttention {

  /** Scores per tile (B·H·Sq·T) of the tiled loops: 2 Mi elements, 8 MiB in float32. */
  public static final long DEFAULT_TILE_ELEMENTS = 1L << 21;

  /** The precision of the two matrix products. */
  public enum Precision {
    /** The products run in the compute type: float32, or float64 for float64 inputs. */
    INPUT,
    /**
     * Opt-in, for float32 (and float16) inputs: Q, K and V are rounded to bfloat16 and both
     * products run on bfloat16 numbers with float32 accumulation; the scores, the softmax and the
     * output stay float32. About 2⁻⁸ (4e-3) of the output's scale in error against float64, for a
     * speed-up on CPUs with bfloat16 instructions.
     *
     * <p>Where the CPU has AVX512_BF16, the project's {@link NativeBfloat16Kernel} computes it (on
     * PyTorch-engine CPU arrays; its products on AMX tiles where the CPU has them): it keeps a
     * float mask in float32, rounds the softmax's weights to bfloat16 before their product with V,
     * and scales by powers of two so that no input overflows or flushes to zero when rounded.
     * Elsewhere libtorch's bfloat16 path does (its fused kernel, or the tiled loop of the
     * TorchScript module), which also rounds a float mask (its −FLT_MAX kept finite) and the output
     * to bfloat16. A call that records gradients computes in its own precision; float64 inputs
     * ignore it. Needs PyTorch-engine arrays.
     *
     * <p>DJL 0.36's PyTorch engine has no bfloat16 arrays (its data-type table ends at complex64:
     * creating one ends the process), so bfloat16 inputs reach attention as float32 arrays that
     * hold bfloat16 values; their rounding is then exact.
     */
    BFLOAT16
  }

  /**
   * The kernels of the fast path, in the order the dispatcher tries them: it runs the first that
   * can serve the call ({@link AttentionKernel#unsupported} is null, and it records gradients when
   * the call must) and is {@link AttentionKernel#preferredFor preferred} for it. Callers use {@link
   * #AUTO}; tests and {@code bench --dispatch} pin one through {@link #output(NDArray, NDArray,
   * NDArray, AttentionOptions, Precision, Kernel)} to measure the kernels side by side. A new
   * kernel is one class implementing {@link AttentionKernel} and one line here
   * (docs/architecture.md).
   */
  public enum Kernel {
    /** The dispatcher's choice. */
    AUTO(null),
    /** The project's C decode kernel: few queries (S ≤ 32), valid key counts, windows. */
    DECODE(DecodeAttentionKernel.INSTANCE),
    /**
     * The decode kernel's AVX2 variant on any CPU with AVX2 and FMA; never the dispatcher's pick
     * ({@link #DECODE} runs it where the CPU lacks AVX-512): tests and benchmarks pin it.
     */
    DECODE_AVX2(DecodeAttentionKernel.AVX2),
    /** The project's C kernel (float32; AVX-512, or AVX2 on a CPU without it). */
    NATIVE(NativeAttentionKernel.INSTANCE),
    /**
     * The native kernel's AVX2 variant on any CPU with AVX2 and FMA; never the dispatcher's pick
     * ({@link #NATIVE} runs it where the CPU lacks AVX-512): tests and benchmarks pin it.
     */
    NATIVE_AVX2(NativeAttentionKernel.AVX2),
    /** The project's bfloat16 C kernel on AMX tiles, for calls that ask for bfloat16. */
    NATIVE_AMX(NativeBfloat16Kernel.AMX),
    /** The project's bfloat16 C kernel (AVX512_BF16), for calls that ask for bfloat16. */
    NATIVE_BFLOAT16(NativeBfloat16Kernel.INSTANCE),
    /** The TorchScript module: libtorch's fused kernel, or its tiled loop of in-place ops. */
    TORCHSCRIPT(TorchScriptKernel.INFERENCE),
    /** The TorchScript module's fused kernel, run with autograd recording (training). */
    TORCHSCRIPT_AUTOGRAD(TorchScriptKernel.AUTOGRAD),
    /** DJL NDArray ops, for arrays of engines other than PyTorch. */
    NDARRAY_TILES(TiledAttention.INSTANCE),
    /** The step-by-step chain: every call, gradients recorded. */
    STEP_BY_STEP(StepByStepKernel.INSTANCE);

    private final AttentionKernel implementation;

    Kernel(AttentionKernel implementation) {
      this.implementation = implementation;
    }

    /** The kernel, or null for {@link #AUTO}. */
    AttentionKernel implementation() {
      return implementation;
    }
  }

  /**
   * Whether calls that record gradients take libtorch's fused kernel with autograd ({@link
   * Kernel#TORCHSCRIPT_AUTOGRAD}) rather than the chain; {@code -Ddjl.attention.autograd=chain}
   * picks the chain.
   */
  static final boolean AUTOGRAD_FUSED_BY_DEFAULT =
      !"chain".equalsIgnoreCase(System.getProperty("djl.attention.autograd"));

  private FastAttention() {}

  /**
   * Names the kernel that float32 attention on PyTorch-engine CPU arrays takes on this machine: the
   * project's native kernels and their instruction set (AVX-512, or AVX2 on a CPU without it), or
   * libtorch's and why.
   *
   * @return a one-line description
   */
  public static String float32Kernel() {
    String threads =
        NativeAttentionKernel.usesOpenMp()
            ? " on libtorch's OpenMP threads"
            : " on its own threads";
    String status = NativeAttentionKernel.status();
    if (status != null) {
      return "libtorch fused kernel (native kernel unavailable: " + status + ")";
    }
    return "native " + NativeAttentionKernel.instructionSet() + " kernel" + threads;
  }

  /**
   * Names the variant the native float32 kernels ({@link Kernel#NATIVE}, {@link Kernel#DECODE}) run
   * on this machine.
   *
   * @return {@code AVX-512}, {@code AVX2}, or {@code not available: } and why
   */
  public static String float32InstructionSet() {
    return NativeAttentionKernel.instructionSet();
  }

  /**
   * Names the kernel that {@link Precision#BFLOAT16} calls on PyTorch-engine CPU arrays take on
   * this machine: the native AMX or AVX512_BF16 kernel, or libtorch's bfloat16 path and why.
   *
   * @return a one-line description
   */
  public static String bfloat16Kernel() {
    String status = NativeBfloat16Kernel.status();
    if (status != null) {
      return "libtorch bfloat16 path (native bfloat16 kernel unavailable: " + status + ")";
    }
    String threads =
        NativeBfloat16Kernel.usesOpenMp() ? " on libtorch's OpenMP threads" : " on its own threads";
    String amx = NativeBfloat16Kernel.amxStatus();
    if (amx == null) {
      return "native AMX bfloat16 kernel" + threads;
    }
    if (!NativeBfloat16Kernel.preferredOnThisCpu()) {
      return "libtorch bfloat16 path (this CPU has AMX tiles, which libtorch uses; the native AMX"
          + " kernel is not used: "
          + amx
          + "; -Ddjl.attention.native.bfloat16=true picks the native AVX512_BF16 kernel)";
    }
    return "native AVX512_BF16 kernel" + threads;
  }

  /**
   * Returns whether {@link Attention#attention(NDArray, NDArray, NDArray, AttentionOptions)} takes
   * the fast path for these inputs and options, judged from the query alone: when neither the
   * weights nor the scores are asked for, and none of the settings the fast path does not implement
   * is used (a KV cache of past and new arrays, a softmax precision other than the compute type).
   * Valid key counts and sliding windows depend on the kernel (only the decode kernel reads them),
   * so without the key and value this says false for them; {@link #handles(NDArray, NDArray,
   * NDArray, AttentionOptions)} tells.
   *
   * @param query the query, for its dtype
   * @param options the options
   * @return whether the fast path computes this call
   */
  public static boolean handles(NDArray query, AttentionOptions options) {
    return takes(query, options) && !positional(options);
  }

  /**
   * Returns whether {@link Attention#attention(NDArray, NDArray, NDArray, AttentionOptions)} takes
   * the fast path for this call: as {@link #handles(NDArray, AttentionOptions)}, and, for a call
   * with valid key counts or a sliding window, when a kernel of the fast path serves it: the decode
   * kernel (float32 PyTorch-engine CPU arrays on a CPU with AVX2 and FMA at least, not recording
   * gradients), else the step-by-step kernel; false when the arrays do not fit together, and the
   * step-by-step chain then names what does not fit.
   *
   * @param query the query
   * @param key the key
   * @param value the value
   * @param options the options
   * @return whether the fast path computes this call
   */
  public static boolean handles(
      NDArray query, NDArray key, NDArray value, AttentionOptions options) {
    if (!takes(query, options)) {
      return false;
    }
    if (!positional(options)) {
      return true;
    }
    AttentionCall call = positionalCall(query, key, value, options);
    return call != null && positionalKernel(call) != null;
  }

  /**
   * The fast path's output of {@link Attention#attention(NDArray, NDArray, NDArray,
   * AttentionOptions)} when {@link #handles(NDArray, NDArray, NDArray, AttentionOptions)} says it
   * takes the call, else null (the step-by-step chain computes it); a call with valid key counts or
   * a window is described once, for the decision and the kernel.
   */
  static NDArray outputIfHandled(
      NDArray query, NDArray key, NDArray value, AttentionOptions options) {
    if (!takes(query, options)) {
      return null;
    }
    if (!positional(options)) {
      return output(query, key, value, options);
    }
    AttentionCall call = positionalCall(query, key, value, options);
    AttentionKernel kernel = call == null ? null : positionalKernel(call);
    return kernel == null ? null : compute(kernel, call);
  }

  /**
   * The kernel's output for the call: a sequence-first call that the kernel does not read as it
   * lies is computed on heads-first views ({@link SequenceFirst}).
   */
  private static NDArray compute(AttentionKernel kernel, AttentionCall call) {
    return call.sequenceFirst() && !kernel.readsSequenceFirst()
        ? SequenceFirst.output(call, kernel)
        : kernel.compute(call);
  }

  /** The call with valid key counts or a window, or null when it does not fit (the chain says). */
  private static AttentionCall positionalCall(
      NDArray query, NDArray key, NDArray value, AttentionOptions options) {
    try {
      return call(query, key, value, options, Precision.INPUT, DEFAULT_TILE_ELEMENTS);
    } catch (IllegalArgumentException e) {
      return null; // the step-by-step chain names what does not fit
    }
  }

  /** The kernel that serves a call with counts or a window, or null when none does. */
  private static AttentionKernel positionalKernel(AttentionCall call) {
    if (call.empty()) {
      return StepByStepKernel.INSTANCE;
    }
    Kernel kernel = firstServing(call, null);
    return kernel == null ? null : kernel.implementation();
  }

  /**
   * The first of {@link Kernel} that can serve the call and is preferred for it, or null.
   *
   * @param reasons where each passed-over kernel's reason goes, or null
   */
  private static Kernel firstServing(AttentionCall call, List<String> reasons) {
    for (Kernel candidate : Kernel.values()) {
      if (candidate == Kernel.AUTO) {
        continue;
      }
      String refusal = refusal(call, candidate);
      if (refusal == null && candidate.implementation().preferredFor(call)) {
        return candidate;
      }
      if (reasons != null) {
        reasons.add(candidate + ": " + (refusal != null ? refusal : "not preferred"));
      }
    }
    return null;
  }

  /** Whether the options carry valid key counts or a sliding window. */
  private static boolean positional(AttentionOptions options) {
    return options.nonPadKeyLengths() != null
        || options.leftWindow() >= 0
        || options.rightWindow() >= 0;
  }

  /** Whether {@link #output} computes the call: only the output asked for, a setting it has. */
  static boolean takes(NDArray query, AttentionOptions options) {
    return !options.returnWeights()
        && options.scoresOutput() == null
        && unsupportedSetting(query.getDataType(), options) == null;
  }

  /** Names the first setting the fast path does not implement, or returns null. */
  private static String unsupportedSetting(DataType dtype, AttentionOptions options) {
    if (options.pastKey() != null || options.pastValue() != null) {
      return "a KV cache (past key/value)";
    }
    if (options.cache() != null) {
      return "a KvCache here (Attention.attention appends to it, then takes the fast path)";
    }
    DataType softmaxType = options.softmaxPrecision();
    if (softmaxType != null && dtype.isFloating() && softmaxType != Attention.computeType(dtype)) {
      return "softmax precision " + softmaxType + " with " + dtype + " inputs";
    }
    return null;
  }

  /**
   * Computes the attention output with the fast path in the inputs' precision.
   *
   * @param query (S, D), (B, S, D) or (B, H, S, D)
   * @param key (T, D), (B, T, D) or (B, G, T, D)
   * @param value (T, Dv), (B, T, Dv) or (B, G, T, Dv)
   * @param options the mask, causal flag, scale, softcap, window and valid key counts; {@code
   *     returnWeights} and {@code scoresOutput} are ignored
   * @return the output (…, S, Dv), in the query's dtype, owned by the query's manager
   * @throws IllegalArgumentException when the shapes, the mask or the dtypes do not fit together,
   *     or the options use a setting the fast path does not implement (see {@link #handles})
   */
  public static NDArray output(
      NDArray query, NDArray key, NDArray value, AttentionOptions options) {
    return output(query, key, value, options, Precision.INPUT);
  }

  /**
   * Computes the attention output with the fast path.
   *
   * @param query (S, D), (B, S, D) or (B, H, S, D)
   * @param key (T, D), (B, T, D) or (B, G, T, D)
   * @param value (T, Dv), (B, T, Dv) or (B, G, T, Dv)
   * @param options the mask, causal flag, scale and softcap; {@code returnWeights} and {@code
   *     scoresOutput} are ignored
   * @param precision the precision of the matrix products
   * @return the output (…, S, Dv), in the query's dtype, owned by the query's manager
   * @throws IllegalArgumentException when the shapes, the mask or the dtypes do not fit together,
   *     the options use a setting the fast path does not implement (see {@link #handles}), or
   *     bfloat16 is asked of arrays outside the PyTorch engine
   */
  public static NDArray output(
      NDArray query, NDArray key, NDArray value, AttentionOptions options, Precision precision) {
    return output(query, key, value, options, precision, Kernel.AUTO, DEFAULT_TILE_ELEMENTS);
  }

  /**
   * Computes the attention output on a kernel of the caller's choice, for measuring kernels side by
   * side; {@link Kernel#AUTO} is {@link #output(NDArray, NDArray, NDArray, AttentionOptions,
   * Precision)}. A pinned kernel computes what the dispatcher's would (the differential tests hold
   * every kernel to the float64 reference), in its own rounding.
   *
   * @param query (S, D), (B, S, D) or (B, H, S, D)
   * @param key (T, D), (B, T, D) or (B, G, T, D)
   * @param value (T, Dv), (B, T, Dv) or (B, G, T, Dv)
   * @param options as {@link #output(NDArray, NDArray, NDArray, AttentionOptions)} takes them
   * @param precision the precision of the matrix products
   * @param kernel the kernel
   * @return the output (…, S, Dv), in the query's dtype, owned by the query's manager
   * @throws IllegalArgumentException as the other {@code output} methods, or naming why the kernel
   *     cannot serve this call (not available on this machine, a setting it lacks, gradients)
   */
  public static NDArray output(
      NDArray query,
      NDArray key,
      NDArray value,
      AttentionOptions options,
      Precision precision,
      Kernel kernel) {
    return output(query, key, value, options, precision, kernel, DEFAULT_TILE_ELEMENTS);
  }

  /**
   * Names the kernel the dispatcher picks for this call.
   *
   * @param query (S, D), (B, S, D) or (B, H, S, D)
   * @param key (T, D), (B, T, D) or (B, G, T, D)
   * @param value (T, Dv), (B, T, Dv) or (B, G, T, Dv)
   * @param options the options
   * @param precision the precision of the matrix products
   * @return the kernel {@link Kernel#AUTO} runs
   * @throws IllegalArgumentException as {@link #output(NDArray, NDArray, NDArray, AttentionOptions,
   *     Precision)}
   */
  public static Kernel chosenKernel(
      NDArray query, NDArray key, NDArray value, AttentionOptions options, Precision precision) {
    AttentionCall call = call(query, key, value, options, precision, DEFAULT_TILE_ELEMENTS);
    AttentionKernel chosen = choose(call, Kernel.AUTO);
    for (Kernel kernel : Kernel.values()) {
      if (kernel.implementation() == chosen) {
        return kernel;
      }
    }
    throw new IllegalStateException("the dispatcher chose a kernel outside Kernel: " + chosen);
  }

  /** {@link #output(NDArray, NDArray, NDArray, AttentionOptions, Precision)} with a set kernel. */
  static NDArray output(
      NDArray query,
      NDArray key,
      NDArray value,
      AttentionOptions options,
      Precision precision,
      Kernel kernel,
      long tileElements) {
    AttentionCall call = call(query, key, value, options, precision, tileElements, null);
    return compute(choose(call, kernel), call);
  }

  /**
   * The output of a {@link KvCache} layer's call on its own buffers ({@code key} and {@code value}
   * are them; see {@link AttentionCall.CacheMemory}), with the dispatcher's kernel.
   */
  static NDArray output(
      NDArray query,
      NDArray key,
      NDArray value,
      AttentionOptions options,
      AttentionCall.CacheMemory cache) {
    AttentionCall call =
        call(query, key, value, options, Precision.INPUT, DEFAULT_TILE_ELEMENTS, cache);
    return compute(choose(call, Kernel.AUTO), call);
  }

  /**
   * Describes a call of the fast path.
   *
   * @throws IllegalArgumentException when the scale or softcap is out of the compute type's range,
   *     the tile size is not positive, the options use a setting the fast path does not implement,
   *     or the shapes, the mask or the dtypes do not fit together
   */
  static AttentionCall call(
      NDArray query,
      NDArray key,
      NDArray value,
      AttentionOptions options,
      Precision precision,
      long tileElements) {
    return call(query, key, value, options, precision, tileElements, null);
  }

  /**
   * {@link #call(NDArray, NDArray, NDArray, AttentionOptions, Precision, long)} on a cache's own
   * buffers where {@code cache} is not null ({@link AttentionCall.CacheMemory}).
   */
  private static AttentionCall call(
      NDArray query,
      NDArray key,
      NDArray value,
      AttentionOptions options,
      Precision precision,
      long tileElements,
      AttentionCall.CacheMemory cache) {
    ScalarRanges.check(query.getDataType(), options);
    if (tileElements <= 0) {
      throw new IllegalArgumentException("tileElements must be > 0, got " + tileElements);
    }
    String unsupported = unsupportedSetting(query.getDataType(), options);
    if (unsupported != null) {
      throw new IllegalArgumentException(
          "the fast path does not implement "
              + unsupported
              + "; use Attention.attentionStepByStep");
    }
    return AttentionCall.of(query, key, value, options, precision, tileElements, cache);
  }

  /**
   * The kernel that computes the call: the forced one, when it can (else an exception naming why
   * not), or the first of {@link Kernel} that can serve it and is preferred for it. Calls with an
   * empty query or key axis go to the step-by-step chain, whichever kernel was chosen.
   */
  static AttentionKernel choose(AttentionCall call, Kernel kernel) {
    AttentionKernel chosen;
    if (kernel != Kernel.AUTO) {
      String refusal = refusal(call, kernel);
      if (refusal != null) {
        throw new IllegalArgumentException(refusal);
      }
      chosen = kernel.implementation();
    } else {
      List<String> reasons = new ArrayList<>();
      Kernel first = firstServing(call, reasons);
      if (first == null) {
        throw new IllegalArgumentException(
            "no kernel of the fast path computes this call (" + String.join("; ", reasons) + ")");
      }
      chosen = first.implementation();
    }
    // Nothing to tile: the step-by-step chain handles the empty edge cases.
    return call.empty() ? StepByStepKernel.INSTANCE : chosen;
  }

  /**
   * Names why {@code kernel} cannot serve these inputs, or returns null when it can (tests ask
   * before they force a kernel).
   */
  static String refusal(
      NDArray query,
      NDArray key,
      NDArray value,
      AttentionOptions options,
      Precision precision,
      Kernel kernel) {
    return refusal(call(query, key, value, options, precision, DEFAULT_TILE_ELEMENTS), kernel);
  }

  /**
   * Names why {@code kernel} cannot serve the call, or returns null when it can: a kernel that
   * records no gradients cannot serve a call that must record them; otherwise the kernel says.
   */
  static String refusal(AttentionCall call, Kernel kernel) {
    AttentionKernel implementation = kernel.implementation();
    if (call.records() && !implementation.recordsGradients()) {
      return "the "
          + kernel
          + " kernel records no gradients, and this call records them (an input is tracked"
          + " by autograd, or the options say training); use Kernel.AUTO";
    }
    return implementation.unsupported(call);
  }

  /**
   * The rows of a tile: as many as keep B·H·Sq·T near {@code tileElements} (rounded down to a
   * multiple of 16 from 16 on, at least 1), or the whole query when it fits.
   */
  static long tileRows(AttentionShape shape, long tileElements) {
    long perRow = Math.max(1, shape.batch() * shape.heads() * shape.keyLength());
    long rows = tileElements / perRow;
    if (rows >= shape.queryLength()) {
      return shape.queryLength();
    }
    return rows < 16 ? Math.max(1, rows) : rows / 16 * 16;
  }
}
