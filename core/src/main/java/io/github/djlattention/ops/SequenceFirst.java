package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * Sequence-first calls ({@link AttentionOptions.Builder#optSequenceFirst}) on the paths that
 * compute heads first: the step-by-step chain, the KV caches, and every kernel that does not {@link
 * AttentionKernel#readsSequenceFirst() read the layout} itself. Each gets heads-first views of the
 * caller's arrays (axes 1 and 2 swapped, borrowed into a scope of the call's own, so the caller's
 * arrays are never attached, detached or closed) and returns its results swapped back: the output
 * (B, S, H, Dv) and present keys and values (B, P, G, D); the weights and scores are (B, H, S, T)
 * in both layouts.
 *
 * <p>Legend: B batch, H query heads, G key/value heads, S query length, T key length, P cached
 * positions, D head size, Dv value head size.
 */
final class SequenceFirst {

  private SequenceFirst() {}

  /** The array with axes 1 and 2 swapped (a view), or null for null. */
  private static NDArray swapped(NDArray array) {
    return array == null ? null : array.transpose(0, 2, 1, 3);
  }

  /**
   * The heads-first view of a caller's array, owned by {@code scope}, or null for null: a new
   * handle of ours, as {@link Attention#borrow} makes one (the transpose is the new handle, so a
   * decode step pays one JNI call per input here, not two).
   */
  private static NDArray headsFirst(NDManager scope, NDArray array) {
    if (array == null) {
      return null;
    }
    NDArray view = swapped(array); // a new handle, in the caller's manager ...
    view.attach(scope); // ... moved to ours: the caller's array itself is only read
    return view;
  }

  /** The options for the heads-first views: the past keys and values swapped too. */
  private static AttentionOptions headsFirst(NDManager scope, AttentionOptions options) {
    AttentionOptions.Builder builder = options.toBuilder().optSequenceFirst(false);
    if (options.pastKey() != null) {
      builder.optKvCache(
          headsFirst(scope, options.pastKey()), headsFirst(scope, options.pastValue()));
    }
    return builder.build();
  }

  /**
   * A kernel's output for a sequence-first call, computed on heads-first views.
   *
   * @param call a sequence-first call
   * @param kernel a kernel that can serve it (and does not read the layout itself)
   * @return the output (B, S, H, Dv), owned by the query's manager
   */
  static NDArray output(AttentionCall call, AttentionKernel kernel) {
    AttentionCall.Inputs in = call.inputs();
    NDManager parent = in.query().getManager();
    try (NDManager scope = parent.newSubManager()) {
      AttentionCall headsFirst =
          AttentionCall.of(
              headsFirst(scope, in.query()),
              headsFirst(scope, in.key()),
              headsFirst(scope, in.value()),
              headsFirst(scope, in.options()),
              call.precision(),
              call.tileElements(),
              null); // heads-first views: no cache's own buffers
      return kept(swapped(kernel.compute(headsFirst)), parent); // the result landed in the scope
    }
  }

  /**
   * The whole attention for sequence-first options, through {@link Attention#attention} or {@link
   * Attention#attentionStepByStep} on heads-first views.
   *
   * @param stepByStep whether to run the step-by-step chain
   * @throws IllegalArgumentException when the inputs are not 4-D or do not fit together
   */
  static AttentionResult attention(
      NDArray query, NDArray key, NDArray value, AttentionOptions options, boolean stepByStep) {
    AttentionShape.of(query, key, value, true); // names the shapes in the caller's layout
    NDManager parent = query.getManager();
    try (NDManager scope = parent.newSubManager()) {
      NDArray q = headsFirst(scope, query);
      NDArray k = headsFirst(scope, key);
      NDArray v = headsFirst(scope, value);
      AttentionOptions heads = headsFirst(scope, options);
      AttentionResult result =
          stepByStep
              ? Attention.attentionStepByStep(q, k, v, heads)
              : Attention.attention(q, k, v, heads); // its results belong to the scope
      boolean cached = heads.pastKey() != null;
      return new AttentionResult(
          kept(swapped(result.output()), parent),
          result.hasWeights() ? kept(result.weights(), parent) : null,
          cached ? kept(swapped(result.presentKey()), parent) : null,
          cached ? kept(swapped(result.presentValue()), parent) : null,
          heads.scoresOutput() != null ? kept(result.scores(), parent) : null);
    }
  }

  /** The array, moved from the call's scope to the caller's manager; null for null. */
  private static NDArray kept(NDArray array, NDManager parent) {
    if (array != null) {
      array.attach(parent);
    }
    return array;
  }
}
