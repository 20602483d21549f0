package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;

/**
 * A kernel that computes on 4-D arrays in the compute type: this base prepares them from the
 * caller's arrays (borrowed views in a scope of the call's own, so that the caller's arrays are
 * never attached, detached or closed), runs {@link #run}, and returns the output in the caller's
 * rank and dtype, owned by the query's manager. Every temporary is freed with the scope.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads, S query length, T key/value length, D
 * query/key head size, Dv value head size.
 */
abstract class TensorKernel implements AttentionKernel {

  /**
   * The prepared arrays.
   *
   * @param query (B, H, S, D) in the compute type; (B, S, H, D) for a sequence-first call
   * @param key (B, G, T, D) in the compute type; (B, T, G, D) for a sequence-first call
   * @param value (B, G, T, Dv) in the compute type; (B, T, G, Dv) for a sequence-first call
   * @param mask (B|1, H|1, S|1, T|1): boolean, or floating point in the compute type; or null
   * @param keyMemory the memory of {@code key} where it is a {@link KvCache} layer's own buffer
   *     (then {@code key} is that buffer itself, not a view in the scope), else null
   * @param valueMemory the same for {@code value}
   */
  record Tensors(
      NDArray query,
      NDArray key,
      NDArray value,
      NDArray mask,
      ByteBuffer keyMemory,
      ByteBuffer valueMemory) {}

  @Override
  public final NDArray compute(AttentionCall call) {
    AttentionCall.Inputs inputs = call.inputs();
    NDManager parent = inputs.query().getManager();
    AttentionShape shape = call.shape();
    DataType computeType = call.computeType();
    try (NDManager scope = parent.newSubManager()) {
      // Sequence-first calls reach only kernels that read them (B, S, H, D) as they are.
      boolean first = call.sequenceFirst();
      Shape key4d = first ? null : shape.key4d(); // (B, G, T, D)
      Shape value4d = first ? null : shape.value4d(); // (B, G, T, Dv)
      // a KV cache's own buffers, read where they lie by a kernel that reads memory only
      AttentionCall.CacheMemory cache = readsMemory() && !first ? inputs.cache() : null;
      boolean direct =
          cache != null
              && inputs.key().getDataType() == computeType
              && inputs.value().getDataType() == computeType
              && inputs.key().getShape().equals(key4d)
              && inputs.value().getShape().equals(value4d);
      NDArray query = Attention.borrow(scope, inputs.query()); // the caller's stay the caller's
      NDArray key = direct ? inputs.key() : Attention.borrow(scope, inputs.key());
      NDArray value = direct ? inputs.value() : Attention.borrow(scope, inputs.value());
      NDArray mask = Attention.borrow(scope, inputs.options().mask());
      NDArray q = query.toType(computeType, false);
      NDArray k = key.toType(computeType, false);
      NDArray v = value.toType(computeType, false);
      if (!first) {
        q = shaped(q, shape.query4d()); // (B, H, S, D)
        k = shaped(k, key4d);
        v = shaped(v, value4d);
      }
      NDArray m = null;
      if (mask != null) {
        m = shaped(mask, call.mask4d()); // broadcastable to (B, H, S, T)
        m = m.getDataType() == DataType.BOOLEAN ? m : m.toType(computeType, false);
      }
      Tensors tensors =
          new Tensors(q, k, v, m, direct ? cache.keys() : null, direct ? cache.values() : null);
      NDArray output = run(tensors, call, scope); // (B, H, S, Dv) or (B, S, H, Dv)
      if (!first) {
        output = shaped(output, shape.outputShape()); // the caller's rank
      }
      output = output.toType(call.dtype(), false);
      output.attach(parent);
      return output;
    }
  }

  /**
   * The array in {@code shape}: itself when it has that shape already (every operand here is the
   * call's own view or result, so no caller's array is returned), else a reshaped view. A reshape
   * to the same shape cost a JNI call and an array per operand: for a decode step through a KV
   * cache at T = 16, these four were 11 % of JFR's samples of the whole call.
   */
  private static NDArray shaped(NDArray array, Shape shape) {
    return array.getShape().equals(shape) ? array : array.reshape(shape);
  }

  /**
   * Whether {@link #run} only reads the memory of the arrays it is given (a C kernel), with no
   * operation on them: such a kernel is handed a {@link KvCache} layer's own buffers themselves,
   * with their memory ({@link Tensors#keyMemory}), where another kernel gets views in the scope, so
   * that its operations' results land there.
   */
  boolean readsMemory() {
    return false;
  }

  /**
   * Computes the output from the prepared arrays.
   *
   * @param tensors the 4-D arrays, owned by {@code scope} (but for a KV cache's own buffers given
   *     to a kernel that {@link #readsMemory reads memory})
   * @param call the call
   * @param scope the manager of the call's temporaries (the result may stay in it)
   * @return the output (B, H, S, Dv) in the compute type; (B, S, H, Dv) for a sequence-first call
   */
  abstract NDArray run(Tensors tensors, AttentionCall call, NDManager scope);

  @Override
  public String toString() {
    return name();
  }
}
