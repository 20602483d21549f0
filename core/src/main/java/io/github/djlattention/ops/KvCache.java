package io.github.djlattention.ops;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.util.Arrays;

/**
 * A key/value cache for generation that appends in place: per layer, a key buffer (B, G, C, D) and
 * a value buffer (B, G, C, Dv) allocated once with capacity C, and the number of positions each
 * sequence of the batch holds. Passed to attention with {@link AttentionOptions.Builder#optCache},
 * a call writes its new keys and values after each sequence's last position (only those rows are
 * written: the cache is never copied) and attends over each sequence's valid prefix.
 *
 * <p>Shape legend: B batch, G key/value heads, C capacity, D key head size, Dv value head size, S
 * new positions of a call, L the length of a sequence after the call.
 *
 * <p>Positions follow the ONNX {@code Attention} operator's KV cache (and ONNX Runtime's {@code
 * GroupQueryAttention} with per-sequence {@code seqlens_k}): the S queries of a call sit at
 * positions L − S … L − 1 of their sequence, so the causal mask is aligned to the bottom right, and
 * a sliding window counts from those positions. The keys at or beyond a sequence's length are
 * hidden. A mask, if given, spans the capacity: (…, S, C) or broadcastable to it.
 *
 * <p>A full cache is refused: a call that would take a sequence past the capacity throws an {@link
 * IllegalStateException} before anything is written (there is no wrap-around; evicting positions is
 * the caller's choice, by {@link Layer#setLengths}, which also ends sequences of different lengths
 * after a padded prefill).
 *
 * <p>A cache belongs to one generation at a time: calls on the same layer must not run
 * concurrently. It serves inference: a call that records gradients with a cache is refused. Close
 * it to free its buffers.
 *
 * <pre>{@code
 * try (KvCache cache = KvCache.builder().setManager(manager).setLayers(24).setBatchSize(1)
 *     .setKvHeads(8).setHeadSize(128).setCapacity(4096).build()) {
 *   // per layer and step: query (B, H, S, D), key and value (B, G, S, D) of the new positions
 *   AttentionOptions options = AttentionOptions.builder().optCache(cache.layer(i))
 *       .optCausal(true).optReturnWeights(false).build();
 *   NDArray out = Attention.attention(query, key, value, options).output(); // (B, H, S, D)
 * }
 * }</pre>
 */
public final class KvCache implements AutoCloseable {

  /**
   * System property that, set to {@code false}, appends through libtorch's indexed assignment
   * instead of copying the rows into the buffers' memory (the path of other engines and devices).
   */
  static final String COPY_PROPERTY = "djl.attention.cache.copy";

  private final NDManager manager;
  private final long batchSize;
  private final long kvHeads;
  private final long capacity;
  private final long headSize;
  private final long valueHeadSize;
  private final DataType dataType;
  private final Layer[] layers;
  private volatile boolean closed;
  private long hugePageBytes;

  private KvCache(Builder builder) {
    this.manager = builder.manager.newSubManager();
    this.batchSize = builder.batchSize;
    this.kvHeads = builder.kvHeads;
    this.capacity = builder.capacity;
    this.headSize = builder.headSize;
    this.valueHeadSize = builder.valueHeadSize > 0 ? builder.valueHeadSize : builder.headSize;
    this.dataType = builder.dataType;
    this.layers = new Layer[builder.layers];
    try {
      for (int i = 0; i < layers.length; i++) {
        NDArray keys = newBuffer(new Shape(batchSize, kvHeads, capacity, headSize));
        NDArray values = newBuffer(new Shape(batchSize, kvHeads, capacity, valueHeadSize));
        layers[i] = new Layer(i, keys, values);
      }
    } catch (RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  /**
   * A zeroed buffer: positions past a sequence's length are never read by the kernels, but the
   * step-by-step chain multiplies them by a zero weight, which must not meet a NaN. A PyTorch CPU
   * buffer of at least 2 MiB is zeroed after asking for transparent huge pages ({@link HugePages}:
   * a decode step reads the whole cache); elsewhere, or with {@code
   * -Ddjl.attention.hugepages=false}, it is made by {@code zeros}.
   */
  private NDArray newBuffer(Shape shape) {
    long[] advised = {0};
    NDArray buffer = HugePages.zeroed(manager, shape, dataType, advised);
    if (buffer != null) {
      hugePageBytes += advised[0];
      return buffer;
    }
    return manager.zeros(shape, dataType);
  }

  /** The bytes of the buffers for which huge pages were asked (tests). */
  long hugePageBytes() {
    return hugePageBytes;
  }

  /** Returns a new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** The number of layers. */
  public int layers() {
    return layers.length;
  }

  /** The batch size B. */
  public long batchSize() {
    return batchSize;
  }

  /** The key/value heads G. */
  public long kvHeads() {
    return kvHeads;
  }

  /** The capacity C: the most positions a sequence can hold. */
  public long capacity() {
    return capacity;
  }

  /** The key head size D. */
  public long headSize() {
    return headSize;
  }

  /** The value head size Dv. */
  public long valueHeadSize() {
    return valueHeadSize;
  }

  /** The dtype of the buffers. */
  public DataType dataType() {
    return dataType;
  }

  /**
   * Returns a layer's cache.
   *
   * @param index from 0 to {@link #layers()} − 1
   * @return the layer
   * @throws IndexOutOfBoundsException when there is no such layer
   */
  public Layer layer(int index) {
    return layers[index];
  }

  /** Empties every layer: every sequence holds 0 positions again. */
  public void reset() {
    for (Layer layer : layers) {
      layer.setLengths(new long[Math.toIntExact(batchSize)]);
    }
  }

  /** Frees the buffers; the cache cannot be used afterwards. */
  @Override
  public void close() {
    closed = true;
    manager.close();
  }

  @Override
  public String toString() {
    return String.format(
        "KvCache(layers=%d, B=%d, G=%d, C=%d, D=%d, Dv=%d, %s)",
        layers.length, batchSize, kvHeads, capacity, headSize, valueHeadSize, dataType);
  }

  /**
   * One layer of a {@link KvCache}: its buffers and the length of each sequence. Not safe for
   * concurrent calls.
   */
  public final class Layer {
    private final int index;
    private final NDArray keys;
    private final NDArray values;
    private final long[] lengths;

    /**
     * The valid key counts the kernels read, (B) int64, owned by the cache and rewritten in place
     * before each call through {@link #countsMemory}: building a new array per token cost a JNI
     * call and a tensor.
     */
    private final NDArray counts;

    /** The memory of {@link #counts} where it is a PyTorch CPU array, else null. */
    private final LongBuffer countsMemory;

    /**
     * The memory of the key and value buffers, taken once (they are never replaced), where the new
     * rows can be copied straight into it; null elsewhere.
     */
    private final ByteBuffer keysMemory;

    private final ByteBuffer valuesMemory;

    private Layer(int index, NDArray keys, NDArray values) {
      this.index = index;
      this.keys = keys;
      this.values = values;
      this.lengths = new long[Math.toIntExact(batchSize)];
      this.counts = manager.create(lengths);
      ByteBuffer memory = memory(counts);
      this.countsMemory = memory == null ? null : memory.asLongBuffer();
      this.keysMemory = memory(keys);
      this.valuesMemory = memory(values);
    }

    /**
     * The lengths as an array for the options of the call: {@link #counts}, rewritten, or (on
     * another engine or device) a new array in {@code scope}.
     */
    private NDArray counts(NDManager scope) {
      if (countsMemory == null) {
        return scope.create(lengths);
      }
      countsMemory.put(0, lengths);
      return counts;
    }

    /** The layer's index in its cache. */
    public int index() {
      return index;
    }

    /** The cache this layer belongs to. */
    public KvCache cache() {
      return KvCache.this;
    }

    /**
     * Returns how many positions a sequence holds.
     *
     * @param sequence from 0 to B − 1
     * @return its length
     */
    public long length(int sequence) {
      return lengths[sequence];
    }

    /** Returns a copy of the length of every sequence. */
    public long[] lengths() {
      return lengths.clone();
    }

    /**
     * Sets the length of every sequence: positions beyond a sequence's new length are forgotten
     * (and overwritten by the next calls). After a prefill of right-padded prompts, this ends each
     * sequence at its own prompt length.
     *
     * @param newLengths one length per sequence, each from 0 to the capacity
     * @throws IllegalArgumentException when there is not one length per sequence or one is out of
     *     range
     */
    public void setLengths(long... newLengths) {
      if (newLengths.length != lengths.length) {
        throw new IllegalArgumentException(
            "the cache holds "
                + lengths.length
                + " sequences, got "
                + newLengths.length
                + " lengths "
                + Arrays.toString(newLengths));
      }
      for (long length : newLengths) {
        if (length < 0 || length > capacity) {
          throw new IllegalArgumentException(
              "lengths must be from 0 to the capacity "
                  + capacity
                  + ", got "
                  + Arrays.toString(newLengths));
        }
      }
      System.arraycopy(newLengths, 0, lengths, 0, lengths.length);
    }

    /**
     * The key buffer (B, G, C, D), owned by the cache: never close it. Positions at or beyond a
     * sequence's length hold stale values. A caller may also write into it in place, a prefix
     * computed elsewhere say, and then declare it with {@link #setLengths}; the values must be
     * finite (the step-by-step chain multiplies hidden positions by a zero weight).
     */
    public NDArray keys() {
      requireOpen();
      return keys;
    }

    /** The value buffer (B, G, C, Dv), owned by the cache, as {@link #keys()}. */
    public NDArray values() {
      requireOpen();
      return values;
    }

    private void requireOpen() {
      if (closed) {
        throw new IllegalStateException("the KV cache is closed");
      }
    }

    /**
     * Appends the new keys and values, then attends over the valid prefix (see {@link KvCache}).
     *
     * @param stepByStep whether to run the step-by-step chain rather than the dispatcher
     */
    AttentionResult attend(
        NDArray query, NDArray key, NDArray value, AttentionOptions options, boolean stepByStep) {
      requireOpen();
      long added = requireFits(query, key, value);
      if (Autograd.records(options, query, key, value)) {
        throw new IllegalArgumentException(
            "a KV cache serves inference, and this call records gradients (an input is tracked by"
                + " autograd, or the options say training); train on whole sequences instead");
      }
      ScalarRanges.check(query.getDataType(), options);
      AttentionShape shape = AttentionShape.of(query, keys, values); // (B, H, S, D) vs the buffers
      if (options.mask() != null) {
        shape.mask4d(options.mask().getShape()); // refused now, before anything is written
      }
      for (int b = 0; b < lengths.length; b++) {
        if (lengths[b] + added > capacity) {
          throw new IllegalStateException(
              "the KV cache of layer "
                  + index
                  + " is full: sequence "
                  + b
                  + " holds "
                  + lengths[b]
                  + " of "
                  + capacity
                  + " positions, and "
                  + added
                  + " more do not fit (no position was written)");
        }
      }
      long[] before = lengths.clone();
      NDManager parent = query.getManager();
      try (NDManager scope = parent.newSubManager()) {
        append(scope, key, value, added);
        for (int b = 0; b < lengths.length; b++) {
          lengths[b] += added;
        }
        AttentionOptions prefix =
            options.toBuilder().optCache(null).optNonPadKeyLengths(counts(scope)).build();
        if (!stepByStep && FastAttention.takes(query, prefix)) {
          // the decode kernel reads each sequence's prefix of the buffers where it lies
          AttentionCall.CacheMemory memory =
              keysMemory == null || valuesMemory == null
                  ? null
                  : new AttentionCall.CacheMemory(keysMemory, valuesMemory, lengths.clone());
          return new AttentionResult(
              FastAttention.output(query, keys, values, prefix, memory), null);
        }
        return Attention.attentionStepByStep(query, keys, values, prefix);
      } catch (RuntimeException e) {
        System.arraycopy(before, 0, lengths, 0, lengths.length); // the call did not happen
        throw e;
      }
    }

    /** Checks the new key and value against the buffers; returns S, the positions they add. */
    private long requireFits(NDArray query, NDArray key, NDArray value) {
      Shape k = key.getShape();
      Shape v = value.getShape();
      boolean fits =
          query.getShape().dimension() == 4
              && k.dimension() == 4
              && v.dimension() == 4
              && k.get(0) == batchSize
              && k.get(1) == kvHeads
              && k.get(3) == headSize
              && v.get(0) == batchSize
              && v.get(1) == kvHeads
              && v.get(2) == k.get(2)
              && v.get(3) == valueHeadSize;
      if (!fits || key.getDataType() != dataType || value.getDataType() != dataType) {
        throw new IllegalArgumentException(
            "a call on "
                + KvCache.this
                + " takes a query (B, H, S, D) and new keys (B, G, S, D) and values (B, G, S, Dv)"
                + " of its dtype; got query "
                + query.getShape()
                + ", key "
                + k
                + " ("
                + key.getDataType()
                + "), value "
                + v
                + " ("
                + value.getDataType()
                + ")");
      }
      return k.get(2);
    }

    /**
     * Whether the new rows are copied straight into the buffers' memory: PyTorch-engine CPU arrays
     * (the buffers, made by {@code zeros}, are dense and never replaced) of under 2 GiB each. A
     * copy of a few rows costs microseconds, where libtorch's indexed assignment cost more and
     * slowed the decode kernel's next OpenMP region (docs/performance.md).
     */
    private boolean copiesInPlace(NDArray newKeys, NDArray newValues) {
      if ("false".equalsIgnoreCase(System.getProperty(COPY_PROPERTY))) {
        return false; // libtorch's indexed assignment, as on other engines and devices
      }
      return keysMemory != null && valuesMemory != null && copiable(newKeys) && copiable(newValues);
    }

    /**
     * Copies each sequence's {@code added} new rows of {@code rowSize} elements from {@code rows}
     * (B, G, S, ·) to positions {@code lengths[b]} onwards of the buffer whose memory is {@code to}
     * (B, G, C, ·).
     */
    private void copyRows(NDArray rows, ByteBuffer to, long added, long rowSize) {
      ByteBuffer from = JniUtils.getByteBuffer((PtNDArray) rows, true); // dense, in the scope
      int element = dataType.getNumOfBytes();
      int block = Math.toIntExact(added * rowSize * element);
      for (int b = 0; b < lengths.length; b++) {
        for (int g = 0; g < kvHeads; g++) {
          long head = (long) b * kvHeads + g;
          int source = Math.toIntExact(head * added * rowSize * element);
          int target = Math.toIntExact((head * capacity + lengths[b]) * rowSize * element);
          to.put(target, from, source, block);
        }
      }
    }

    /** Writes the new rows after each sequence's last position, in place. */
    private void append(NDManager scope, NDArray key, NDArray value, long added) {
      if (added == 0) {
        return;
      }
      // asked of the caller's arrays, whose shape and device DJL keeps, not of new handles
      boolean inPlace = copiesInPlace(key, value);
      NDArray newKeys = Attention.borrow(scope, key); // the caller's arrays stay the caller's
      NDArray newValues = Attention.borrow(scope, value);
      if (inPlace) {
        copyRows(newKeys, keysMemory, added, headSize);
        copyRows(newValues, valuesMemory, added, valueHeadSize);
        return;
      }
      boolean even = Arrays.stream(lengths).allMatch(length -> length == lengths[0]);
      if (even) {
        NDIndex rows = new NDIndex(":, :, {}:{}", lengths[0], lengths[0] + added);
        keys.set(rows, newKeys); // (B, G, S, D) into (B, G, C, D)
        values.set(rows, newValues);
        return;
      }
      for (int b = 0; b < lengths.length; b++) {
        NDIndex rows = new NDIndex("{}, :, {}:{}", b, lengths[b], lengths[b] + added);
        keys.set(rows, newKeys.get(b)); // (G, S, D) into sequence b's (G, C, D)
        values.set(rows, newValues.get(b));
      }
    }
  }

  /** Whether an array is a PyTorch CPU array of under 2 GiB, whose memory a ByteBuffer reaches. */
  private static boolean copiable(NDArray array) {
    return array instanceof PtNDArray
        && Device.cpu().equals(array.getDevice())
        && array.getShape().size() * array.getDataType().getNumOfBytes() <= Integer.MAX_VALUE;
  }

  /** The memory of one of the cache's own arrays, in native order, or null where not copiable. */
  private static ByteBuffer memory(NDArray array) {
    return copiable(array)
        ? JniUtils.getByteBuffer((PtNDArray) array, true).order(ByteOrder.nativeOrder())
        : null;
  }

  /**
   * Builds a {@link KvCache}: {@code setX} for required settings, {@code optX} for optional ones,
   * all validated in {@link #build()}.
   */
  public static final class Builder {
    private NDManager manager;
    private int layers;
    private long batchSize;
    private long kvHeads;
    private long capacity;
    private long headSize;
    private long valueHeadSize;
    private DataType dataType = DataType.FLOAT32;

    private Builder() {}

    /** Sets the manager whose sub-manager holds the buffers (required). */
    public Builder setManager(NDManager manager) {
      this.manager = manager;
      return this;
    }

    /** Sets the number of layers (required). */
    public Builder setLayers(int layers) {
      this.layers = layers;
      return this;
    }

    /** Sets the batch size B (required). */
    public Builder setBatchSize(long batchSize) {
      this.batchSize = batchSize;
      return this;
    }

    /** Sets the key/value heads G (required). */
    public Builder setKvHeads(long kvHeads) {
      this.kvHeads = kvHeads;
      return this;
    }

    /** Sets the capacity C, the most positions a sequence can hold (required). */
    public Builder setCapacity(long capacity) {
      this.capacity = capacity;
      return this;
    }

    /** Sets the key head size D (required). */
    public Builder setHeadSize(long headSize) {
      this.headSize = headSize;
      return this;
    }

    /** Sets the value head size Dv (default D). */
    public Builder optValueHeadSize(long valueHeadSize) {
      this.valueHeadSize = valueHeadSize;
      return this;
    }

    /** Sets the dtype of the buffers (default float32): the dtype of the keys and values. */
    public Builder optDataType(DataType dataType) {
      this.dataType = dataType;
      return this;
    }

    /**
     * Allocates the cache.
     *
     * @return the cache, every sequence empty
     * @throws IllegalArgumentException when the manager is missing, a size is not positive, or the
     *     dtype is not floating point
     */
    public KvCache build() {
      if (manager == null) {
        throw new IllegalArgumentException("a KV cache needs a manager (setManager)");
      }
      if (layers <= 0
          || batchSize <= 0
          || kvHeads <= 0
          || capacity <= 0
          || headSize <= 0
          || valueHeadSize < 0) {
        throw new IllegalArgumentException(
            String.format(
                "KV cache sizes must be > 0: layers=%d, B=%d, G=%d, C=%d, D=%d, Dv=%d",
                layers, batchSize, kvHeads, capacity, headSize, valueHeadSize));
      }
      if (dataType == null || !dataType.isFloating()) {
        throw new IllegalArgumentException(
            "a KV cache holds floating-point keys and values, got " + dataType);
      }
      return new KvCache(this);
    }
  }
}
