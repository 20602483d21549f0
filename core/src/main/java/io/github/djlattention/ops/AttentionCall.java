package io.github.djlattention.ops;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import io.github.djlattention.ops.FastAttention.Precision;
import java.nio.ByteBuffer;

/**
 * One attention call of the fast path, as the kernels see it: what they need to decide whether they
 * can serve it ({@link AttentionKernel#unsupported}) and the caller's arrays to compute it from.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads, S query length, T key/value length, D
 * query/key head size, Dv value head size.
 *
 * @param shape B, H, G, S, T, D, Dv and the callers' rank
 * @param dtype the inputs' dtype
 * @param computeType the type attention computes in (float32 for float16 inputs)
 * @param device the device every input lives on, or null when they differ
 * @param pytorch whether every input (the mask included) is a PyTorch-engine array
 * @param maskKind the mask's kind
 * @param mask4d the mask's shape placed into (B, H, S, T) (each axis 1 or the full size), or null
 * @param causal whether query i sees only keys j ≤ i
 * @param softcap the softcap c, or null
 * @param scale the score factor (the caller's, or 1/√D)
 * @param leftWindow keys before its position a query sees, or -1 for unbounded
 * @param rightWindow keys after its position a query sees, or -1 for unbounded
 * @param validKeys per batch, the count of valid keys (keys at or beyond it are padding, and query
 *     i sits at position {@code validKeys[b] − S + i}), or null when every key is valid and query i
 *     sits at position i; counts beyond ±2⁵³ are clamped there (no key position is that far)
 * @param wantsWeights whether the weights or an intermediate of the scores are asked for
 * @param records whether the output must record gradients ({@link Autograd#records})
 * @param precision the precision of the matrix products
 * @param tileElements scores per tile of the tiled loops
 * @param inputs the caller's arrays and options
 */
record AttentionCall(
    AttentionShape shape,
    DataType dtype,
    DataType computeType,
    Device device,
    boolean pytorch,
    MaskKind maskKind,
    Shape mask4d,
    boolean causal,
    Double softcap,
    double scale,
    int leftWindow,
    int rightWindow,
    long[] validKeys,
    boolean wantsWeights,
    boolean records,
    Precision precision,
    long tileElements,
    Inputs inputs) {

  /** What the mask of a call is. */
  enum MaskKind {
    /** No mask. */
    NONE,
    /** Boolean: true keeps the key. */
    BOOLEAN,
    /** Floating point: added to the scores. */
    FLOAT
  }

  /**
   * The caller's arrays, never attached, detached or closed by a kernel.
   *
   * @param query (S, D), (B, S, D) or (B, H, S, D)
   * @param key (T, D), (B, T, D) or (B, G, T, D)
   * @param value (T, Dv), (B, T, Dv) or (B, G, T, Dv)
   * @param options the caller's options (the mask among them)
   * @param cache the memory of a {@link KvCache} layer when key and value are its own buffers, or
   *     null
   */
  record Inputs(
      NDArray query, NDArray key, NDArray value, AttentionOptions options, CacheMemory cache) {}

  /**
   * A {@link KvCache} layer's own buffers, for a call that {@link KvCache.Layer} makes on them:
   * dense arrays of the library's, never replaced while the cache is open, whose memory was taken
   * once. A kernel that {@link TensorKernel#readsMemory reads memory} takes it as it is, with
   * neither a borrowed view nor a new buffer per call, and the call's valid key counts come from
   * the layer's lengths rather than from its counts array (a decode step through the cache made
   * about 25 JNI calls fewer, docs/performance.md).
   *
   * @param keys the memory of the key buffer (B, G, C, D)
   * @param values the memory of the value buffer (B, G, C, Dv)
   * @param lengths each sequence's length after the call's append: the valid key counts
   */
  record CacheMemory(ByteBuffer keys, ByteBuffer values, long[] lengths) {}

  /**
   * Describes a call, validating the shapes, the mask and the dtypes.
   *
   * @param cache null, or for a call on a {@link KvCache} layer's own buffers ({@code key} and
   *     {@code value} are them) their memory, whose lengths are the valid key counts (and must be
   *     the options' counts)
   * @throws IllegalArgumentException when the shapes, the mask or the dtypes do not fit together
   */
  static AttentionCall of(
      NDArray query,
      NDArray key,
      NDArray value,
      AttentionOptions options,
      Precision precision,
      long tileElements,
      CacheMemory cache) {
    AttentionShape shape = AttentionShape.of(query, key, value, options.sequenceFirst());
    NDArray mask = options.mask();
    Shape mask4d = mask == null ? null : shape.mask4d(mask.getShape());
    MaskKind maskKind =
        mask == null
            ? MaskKind.NONE
            : mask.getDataType() == DataType.BOOLEAN ? MaskKind.BOOLEAN : MaskKind.FLOAT;
    DataType dtype = query.getDataType();
    DataType computeType = Attention.computeType(dtype);
    double scale = options.scale() != null ? options.scale() : 1.0 / Math.sqrt(shape.headSize());
    boolean records = Autograd.records(options, query, key, value);
    return new AttentionCall(
        shape,
        dtype,
        computeType,
        commonDevice(query, key, value, mask),
        allPyTorch(query, key, value, mask),
        maskKind,
        mask4d,
        options.causal(),
        options.softcap(),
        scale,
        options.leftWindow(),
        options.rightWindow(),
        cache != null
            ? clamped(cache.lengths().clone())
            : validKeys(options.nonPadKeyLengths(), shape.batch()),
        options.returnWeights() || options.scoresOutput() != null,
        records,
        precision,
        tileElements,
        new Inputs(query, key, value, options, cache));
  }

  /**
   * Whether the 4-D inputs and the output are sequence first, (B, S, H, D) ({@link
   * AttentionOptions.Builder#optSequenceFirst}): only a kernel that {@link
   * AttentionKernel#readsSequenceFirst() reads that layout} gets such a call; the others get the
   * heads-first views of the same arrays ({@link SequenceFirst}).
   */
  boolean sequenceFirst() {
    return inputs.options().sequenceFirst();
  }

  /** Whether a sliding window limits the keys a query sees. */
  boolean windowed() {
    return leftWindow >= 0 || rightWindow >= 0;
  }

  /** Whether the keys a query sees depend on more than the mask and the causal flag. */
  boolean positional() {
    return validKeys != null || windowed();
  }

  /** The largest magnitude a valid key count keeps: far beyond any key position. */
  private static final long COUNT_LIMIT = 1L << 53;

  /**
   * Reads the valid key counts to the host, or returns null for none.
   *
   * @throws IllegalArgumentException when they do not have one element per batch
   */
  private static long[] validKeys(NDArray counts, long batch) {
    if (counts == null) {
      return null;
    }
    if (counts.getShape().dimension() != 1 || counts.size() != batch) {
      throw new IllegalArgumentException(
          "valid key counts "
              + counts.getShape()
              + " must have one element per batch ("
              + batch
              + ")");
    }
    long[] values;
    if (counts.getDataType() == DataType.INT64) {
      values = counts.toLongArray();
    } else {
      try (NDArray wide = counts.toType(DataType.INT64, true)) {
        values = wide.toLongArray();
      }
    }
    return clamped(values);
  }

  /** The counts clamped to ±2⁵³, in place. */
  private static long[] clamped(long[] values) {
    for (int b = 0; b < values.length; b++) {
      values[b] = Math.max(-COUNT_LIMIT, Math.min(COUNT_LIMIT, values[b]));
    }
    return values;
  }

  /** Whether the products run in bfloat16: asked for, and the compute type is float32. */
  boolean bfloat16() {
    return precision == Precision.BFLOAT16 && computeType == DataType.FLOAT32;
  }

  /** Whether a query or a key axis is empty (S = 0 or T = 0). */
  boolean empty() {
    return shape.queryLength() == 0 || shape.keyLength() == 0;
  }

  /** The mask's rank as the caller gave it (0 without a mask). */
  int maskRank() {
    NDArray mask = inputs.options().mask();
    return mask == null ? 0 : mask.getShape().dimension();
  }

  private static Device commonDevice(NDArray... arrays) {
    Device device = arrays[0].getDevice();
    for (NDArray array : arrays) {
      if (array != null && !device.equals(array.getDevice())) {
        return null;
      }
    }
    return device;
  }

  private static boolean allPyTorch(NDArray... arrays) {
    for (NDArray array : arrays) {
      if (array != null && !(array instanceof PtNDArray)) {
        return false;
      }
    }
    return true;
  }
}
