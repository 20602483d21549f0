package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The fast path of {@link Attention#attention(NDArray, NDArray, NDArray, AttentionOptions)}: the
 * same attention output as {@link Attention#attentionStepByStep}, computed without holding the (B,
 * H, S, T) scores.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads (H a multiple of G), S query length, T
 * key/value length, D query/key head size, Dv value head size.
 *
 * <p>Three kernels, picked by {@link #output(NDArray, NDArray, NDArray, AttentionOptions,
 * Precision)}:
 *
 * <ul>
 *   <li>float32 on PyTorch-engine CPU arrays, where the CPU has AVX-512: {@link
 *       NativeAttentionKernel}, the project's own C kernel (a flash-style tiled softmax with
 *       register-blocked products), with masks, softcap, grouped-query heads and the causal mask;
 *   <li>other PyTorch-engine arrays (the project's engine): {@link TorchScriptKernel}, one native
 *       call into a TorchScript module that uses libtorch's fused {@code
 *       scaled_dot_product_attention} (a flash-style tiled CPU kernel) for plain, masked, causal
 *       and grouped-query attention, and a tiled loop of in-place libtorch ops for softcap and for
 *       a mask combined with the causal mask. It also offers {@link Precision#BFLOAT16}.
 *   <li>Arrays of any other DJL engine: {@link TiledAttention}, the same tiling written with DJL
 *       NDArray ops.
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
     * Opt-in: Q, K, V (and a float mask) are rounded to bfloat16 and both products run in bfloat16
     * with float32 accumulation (AMX or AVX512_BF16 where the CPU has them); scores and the softmax
     * stay in float32 in the tiled loop. About 1e-2 relative error against float64, for a large
     * speed-up on CPUs with bfloat16 units. Needs PyTorch-engine arrays; float64 inputs ignore it.
     */
    BFLOAT16
  }

  /** Which kernel runs; tests pin one, callers use {@link #AUTO}. */
  enum Kernel {
    AUTO,
    /** The project's C kernel (float32). */
    NATIVE,
    /** The TorchScript module, fused kernel where it applies. */
    TORCHSCRIPT,
    /** The TorchScript module, always its tiled loop. */
    TORCHSCRIPT_TILES,
    /** DJL NDArray ops. */
    NDARRAY_TILES,
    /** The TorchScript module's fused kernel, run with autograd recording (training). */
    TORCHSCRIPT_AUTOGRAD
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
   * native AVX-512 kernel, or libtorch's and why.
   *
   * @return a one-line description
   */
  public static String float32Kernel() {
    String status = NativeAttentionKernel.status();
    if (status != null) {
      return "libtorch fused kernel (native kernel unavailable: " + status + ")";
    }
    return NativeAttentionKernel.usesOpenMp()
        ? "native AVX-512 kernel on libtorch's OpenMP threads"
        : "native AVX-512 kernel on its own threads";
  }

  /**
   * Returns whether {@link Attention#attention(NDArray, NDArray, NDArray, AttentionOptions)} takes
   * the fast path for these inputs and options: when neither the weights nor the scores are asked
   * for, and none of the settings the fast path does not implement is used (KV cache, valid key
   * counts, sliding window, a softmax precision other than the compute type).
   *
   * @param query the query, for its dtype
   * @param options the options
   * @return whether the fast path computes this call
   */
  public static boolean handles(NDArray query, AttentionOptions options) {
    return !options.returnWeights()
        && options.scoresOutput() == null
        && unsupportedSetting(query.getDataType(), options) == null;
  }

  /** Names the first setting the fast path does not implement, or returns null. */
  private static String unsupportedSetting(DataType dtype, AttentionOptions options) {
    if (options.pastKey() != null || options.pastValue() != null) {
      return "a KV cache (past key/value)";
    }
    if (options.nonPadKeyLengths() != null) {
      return "valid key counts";
    }
    if (options.leftWindow() >= 0 || options.rightWindow() >= 0) {
      return "a sliding window";
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
   * @param options the mask, causal flag, scale and softcap; {@code returnWeights} and {@code
   *     scoresOutput} are ignored
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

  /** {@link #output(NDArray, NDArray, NDArray, AttentionOptions, Precision)} with a set kernel. */
  static NDArray output(
      NDArray query,
      NDArray key,
      NDArray value,
      AttentionOptions options,
      Precision precision,
      Kernel kernel,
      long tileElements) {
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
    boolean recording = Autograd.records(options, query, key, value);
    if (recording && kernel != Kernel.AUTO && kernel != Kernel.TORCHSCRIPT_AUTOGRAD) {
      throw new IllegalArgumentException(
          "the "
              + kernel
              + " kernel records no gradients, and this call records them (an input is tracked"
              + " by autograd, or the options say training); use Kernel.AUTO");
    }
    boolean fusedCanRecord =
        options.softcap() == null
            && precision == Precision.INPUT
            && TorchScriptKernel.accepts(query, key, value, options.mask());
    if (kernel == Kernel.TORCHSCRIPT_AUTOGRAD && !fusedCanRecord) {
      throw new IllegalArgumentException(
          "the TORCHSCRIPT_AUTOGRAD kernel takes PyTorch-engine arrays without softcap or"
              + " bfloat16");
    }
    boolean autogradFused =
        kernel == Kernel.TORCHSCRIPT_AUTOGRAD
            || (recording && fusedCanRecord && AUTOGRAD_FUSED_BY_DEFAULT);
    if (recording && !autogradFused) {
      // The chain computes the same output, and autograd records its every step.
      AttentionOptions noWeights = options.toBuilder().optReturnWeights(false).build();
      return Attention.attentionStepByStep(query, key, value, noWeights).output();
    }
    AttentionShape shape = AttentionShape.of(query, key, value);
    NDArray mask = options.mask();
    Shape mask4d = mask == null ? null : shape.mask4d(mask.getShape());
    DataType dtype = query.getDataType();
    DataType computeType = Attention.computeType(dtype);
    boolean torchScript = TorchScriptKernel.accepts(query, key, value, mask);
    boolean forcedTorchScript = kernel == Kernel.TORCHSCRIPT || kernel == Kernel.TORCHSCRIPT_TILES;
    if (forcedTorchScript && !torchScript) {
      throw new IllegalArgumentException(
          "the TorchScript kernel needs PyTorch-engine arrays, got " + query.getClass());
    }
    boolean bfloat16 = precision == Precision.BFLOAT16 && computeType == DataType.FLOAT32;
    String notNative =
        NativeAttentionKernel.unsupported(
            computeType, mask, options.softcap(), bfloat16, query, key, value);
    if (kernel == Kernel.NATIVE && notNative != null) {
      throw new IllegalArgumentException(notNative);
    }
    boolean useNative = kernel == Kernel.NATIVE || (kernel == Kernel.AUTO && notNative == null);
    boolean useTorchScript =
        !useNative && (forcedTorchScript || (kernel == Kernel.AUTO && torchScript));
    if (bfloat16 && !useTorchScript) {
      throw new IllegalArgumentException(
          "bfloat16 precision needs PyTorch-engine arrays and kernel; got "
              + query.getClass().getSimpleName()
              + " with kernel "
              + kernel);
    }
    if (shape.queryLength() == 0 || shape.keyLength() == 0) {
      // Nothing to tile: the step-by-step chain handles the empty edge cases.
      AttentionOptions noWeights = options.toBuilder().optReturnWeights(false).build();
      return Attention.attentionStepByStep(query, key, value, noWeights).output();
    }
    NDManager parent = query.getManager();
    try (NDManager scope = parent.newSubManager()) {
      query = Attention.borrow(scope, query); // the caller's arrays stay the caller's
      key = Attention.borrow(scope, key);
      value = Attention.borrow(scope, value);
      mask = Attention.borrow(scope, mask);
      NDArray q = query.toType(computeType, false).reshape(shape.query4d()); // (B, H, S, D)
      NDArray k = key.toType(computeType, false).reshape(shape.key4d()); // (B, G, T, D)
      NDArray v = value.toType(computeType, false).reshape(shape.value4d()); // (B, G, T, Dv)
      NDArray m = null;
      if (mask != null) {
        m = mask.reshape(mask4d); // broadcastable to (B, H, S, T)
        m = m.getDataType() == DataType.BOOLEAN ? m : m.toType(computeType, false);
      }
      double scale = options.scale() != null ? options.scale() : 1.0 / Math.sqrt(shape.headSize());
      long tileRows = tileRows(shape, tileElements);
      NDArray output;
      if (autogradFused) {
        output = TorchScriptKernel.runDifferentiable(q, k, v, m, options.causal(), scale);
      } else if (useNative) {
        output =
            NativeAttentionKernel.run(
                q, k, v, m, options.causal(), scale, options.softcap(), scope);
      } else if (useTorchScript) {
        output =
            TorchScriptKernel.run(
                q,
                k,
                v,
                m,
                options.causal(),
                scale,
                options.softcap(),
                bfloat16,
                tileRows,
                kernel == Kernel.TORCHSCRIPT_TILES
                    ? Long.MAX_VALUE
                    : TorchScriptKernel.FUSED_MIN_SCORES,
                scope);
      } else {
        output =
            TiledAttention.output(
                q, k, v, m, options.causal(), scale, options.softcap(), tileRows, shape);
      }
      output = output.reshape(shape.outputShape()).toType(dtype, false); // caller's rank
      output.attach(parent);
      return output;
    }
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
