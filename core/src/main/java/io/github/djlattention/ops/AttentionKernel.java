package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;

/**
 * One way of computing the attention output of the fast path: the native kernel, the TorchScript
 * module (inference, and libtorch's fused kernel with autograd), the NDArray tiles and the
 * step-by-step chain. {@link FastAttention} asks each kernel of {@link FastAttention.Kernel}, in
 * that order, whether it can serve an {@link AttentionCall}, and runs the first that can and is
 * worth it.
 *
 * <p>A kernel states its capabilities, never the dispatcher: {@link #unsupported} names what it
 * cannot compute (a dtype, a device, an engine, a mask kind, a setting), {@link #recordsGradients}
 * whether its output carries autograd's graph, and {@link #preferredFor} whether it should be
 * picked for a call it can serve (false where a kernel further down the list was measured faster
 * for that kind of call). A forced kernel ({@code FastAttention.output(..., kernel, ...)}, used by
 * the tests) is asked only {@link #recordsGradients} and {@link #unsupported}.
 *
 * <p>Every kernel keeps the semantics of {@link Attention#attentionStepByStep}: the ONNX order of
 * scale, softcap, mask and causal mask; zeros for a query row whose keys are all hidden; finite
 * results wherever the chain's are finite; and it never attaches, detaches or closes the caller's
 * arrays.
 */
interface AttentionKernel {

  /**
   * Returns the kernel's name, as in {@link FastAttention.Kernel}.
   *
   * @return e.g. {@code NATIVE}
   */
  String name();

  /**
   * Names what keeps this kernel from computing the call, or returns null when it can.
   *
   * @param call the call
   * @return why not, as a message for an {@link IllegalArgumentException}; or null
   */
  String unsupported(AttentionCall call);

  /**
   * Returns whether the kernel's output records autograd's graph, so that it may serve a call whose
   * {@link AttentionCall#records()} is true.
   *
   * @return whether gradients flow back through the output
   */
  boolean recordsGradients();

  /**
   * Returns whether the dispatcher should pick this kernel for a call it can serve; false where
   * another kernel further down the list was measured faster for calls like it.
   *
   * @param call the call, which {@link #unsupported} accepted
   * @return whether to pick it
   */
  default boolean preferredFor(AttentionCall call) {
    return true;
  }

  /**
   * Returns whether {@link #compute} takes sequence-first calls ({@link
   * AttentionCall#sequenceFirst()}) as they are, reading (B, S, H, D) and writing (B, S, H, Dv)
   * where they lie; a kernel that does not (the default) is handed heads-first views by {@link
   * SequenceFirst}.
   *
   * @return whether the kernel reads the sequence-first layout
   */
  default boolean readsSequenceFirst() {
    return false;
  }

  /**
   * Computes the call's output.
   *
   * @param call a call that {@link #unsupported} accepted
   * @return the output (…, S, Dv) in the caller's rank and the query's dtype, owned by the query's
   *     manager
   */
  NDArray compute(AttentionCall call);
}
