package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

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
   * @param query (B, H, S, D) in the compute type
   * @param key (B, G, T, D) in the compute type
   * @param value (B, G, T, Dv) in the compute type
   * @param mask (B|1, H|1, S|1, T|1): boolean, or floating point in the compute type; or null
   */
  record Tensors(NDArray query, NDArray key, NDArray value, NDArray mask) {}

  @Override
  public final NDArray compute(AttentionCall call) {
    AttentionCall.Inputs inputs = call.inputs();
    NDManager parent = inputs.query().getManager();
    AttentionShape shape = call.shape();
    DataType computeType = call.computeType();
    try (NDManager scope = parent.newSubManager()) {
      NDArray query = Attention.borrow(scope, inputs.query()); // the caller's stay the caller's
      NDArray key = Attention.borrow(scope, inputs.key());
      NDArray value = Attention.borrow(scope, inputs.value());
      NDArray mask = Attention.borrow(scope, inputs.options().mask());
      NDArray q = query.toType(computeType, false).reshape(shape.query4d()); // (B, H, S, D)
      NDArray k = key.toType(computeType, false).reshape(shape.key4d()); // (B, G, T, D)
      NDArray v = value.toType(computeType, false).reshape(shape.value4d()); // (B, G, T, Dv)
      NDArray m = null;
      if (mask != null) {
        m = mask.reshape(call.mask4d()); // broadcastable to (B, H, S, T)
        m = m.getDataType() == DataType.BOOLEAN ? m : m.toType(computeType, false);
      }
      NDArray output = run(new Tensors(q, k, v, m), call, scope); // (B, H, S, Dv)
      output = output.reshape(shape.outputShape()).toType(call.dtype(), false); // caller's rank
      output.attach(parent);
      return output;
    }
  }

  /**
   * Computes the output from the prepared arrays.
   *
   * @param tensors the 4-D arrays, owned by {@code scope}
   * @param call the call
   * @param scope the manager of the call's temporaries (the result may stay in it)
   * @return the output (B, H, S, Dv) in the compute type
   */
  abstract NDArray run(Tensors tensors, AttentionCall call, NDManager scope);

  @Override
  public String toString() {
    return name();
  }
}
