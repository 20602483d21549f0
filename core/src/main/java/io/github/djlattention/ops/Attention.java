package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Self-attention as a sequence of small, stateless steps over NDArrays, one method per step of the
 * seed document.
 *
 * <table>
 *   <caption>The seed's PyTorch lines and their Java counterparts</caption>
 *   <tr><th>PyTorch (seed)</th><th>this class</th></tr>
 *   <tr><td>{@code torch.matmul(Q, K.T)}</td><td>{@link #dotProductScores(NDArray, NDArray)}</td></tr>
 *   <tr><td>{@code torch.matmul(Q, K.T) / (d_k ** 0.5)}</td>
 *       <td>{@link #scaledDotProductScores(NDArray, NDArray)}</td></tr>
 *   <tr><td>{@code F.softmax(scores, dim=-1)}</td><td>{@link #softmax(NDArray, int)}</td></tr>
 *   <tr><td>{@code torch.matmul(weights, V)}</td><td>{@link #weightedSum(NDArray, NDArray)}</td></tr>
 *   <tr><td>all of the above</td><td>{@link #attention(NDArray, NDArray, NDArray)}</td></tr>
 * </table>
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads (H is a multiple of G), S query
 * length, T key/value length, D query/key head size, Dv value head size. {@code attention} accepts
 * query, key and value of one rank: (S, D) as in the seed, (B, S, D) for a batch of one head, or
 * (B, H, S, D) for several heads.
 *
 * <p>float32 and float64 are computed in their own precision; float16 inputs are computed in
 * float32 and the results cast back to float16.
 */
public final class Attention {

  private Attention() {}

  /**
   * Step 1, {@code torch.matmul(Q, K.T)}: the dot product of every query with every key.
   *
   * @param query (…, S, D)
   * @param key (…, T, D)
   * @return the scores (…, S, T)
   * @throws IllegalArgumentException when the ranks or head sizes differ, or the scores would
   *     exceed {@link AttentionLimits}
   */
  public static NDArray dotProductScores(NDArray query, NDArray key) {
    requireSameRank("query", query, "key", key);
    requireSameLastDim("query", query, "key", key);
    AttentionLimits.checkScores(query.getShape(), key.getShape());
    NDArray keyT = key.swapAxes(-1, -2); // (…, D, T): a view of ours, in the key's manager
    try {
      return query.matMul(keyT); // (…, S, D)·(…, D, T) = (…, S, T)
    } finally {
      keyT.close();
    }
  }

  /**
   * Step 2, {@code torch.matmul(Q, K.T) / (d_k ** 0.5)}: dot-product scores divided by √D so that
   * their variance does not grow with the head size.
   *
   * @param query (…, S, D)
   * @param key (…, T, D)
   * @return the scaled scores (…, S, T)
   * @throws IllegalArgumentException when the ranks or head sizes differ
   */
  public static NDArray scaledDotProductScores(NDArray query, NDArray key) {
    return scaledDotProductScores(query, key, defaultScale(query));
  }

  /**
   * Step 2 with a caller's scale: {@code torch.matmul(Q, K.T) * scale}.
   *
   * @param query (…, S, D)
   * @param key (…, T, D)
   * @param scale the factor the scores are multiplied by
   * @return the scaled scores (…, S, T)
   * @throws IllegalArgumentException when the ranks or head sizes differ
   */
  public static NDArray scaledDotProductScores(NDArray query, NDArray key, double scale) {
    NDArray scores = dotProductScores(query, key);
    try (NDArray factor = scalar(scores, scale)) {
      return scores.mul(factor);
    } finally {
      scores.close();
    }
  }

  /**
   * Step 3, {@code F.softmax(scores, dim=axis)}: turns scores into weights that sum to 1 along
   * {@code axis}. As in PyTorch, axis 0 normalizes down each column of a matrix, axis 1 (or -1, the
   * last axis) across each row. Unlike PyTorch, and as the ONNX {@code Attention} operator defines,
   * a slice whose scores are all −∞ (every key masked) gets zeros, not NaN.
   *
   * @param scores the scores
   * @param axis the axis to normalize; negative counts from the end
   * @return the weights, shaped like {@code scores}
   * @throws IllegalArgumentException when the axis is out of range
   */
  public static NDArray softmax(NDArray scores, int axis) {
    int rank = scores.getShape().dimension();
    if (axis < -rank || axis >= rank) {
      throw new IllegalArgumentException(
          "softmax axis " + axis + " is out of range for scores of shape " + scores.getShape());
    }
    if (scores.size() == 0) {
      return scores.duplicate();
    }
    // The temporaries land in the scores' manager: a scope of our own frees them.
    try (NDManager scope = scores.getManager().newSubManager()) {
      NDArray rowMax = scores.max(new int[] {axis}, true);
      rowMax.attach(scope);
      NDArray fullyMasked = rowMax.eq(Double.NEGATIVE_INFINITY);
      NDArray anyMasked = fullyMasked.any();
      if (!anyMasked.getBoolean()) {
        NDArray weights = scores.softmax(axis);
        weights.attach(scores.getManager());
        return weights;
      }
      // A slice of only −∞ would give NaN weights, and NaN gradients through the mask: give it
      // zeros instead before the softmax, and zero weights after.
      NDArray hidden = fullyMasked.broadcast(scores.getShape());
      NDArray zeros = hidden.zerosLike().toType(scores.getDataType(), false);
      NDArray safe = NDArrays.where(hidden, zeros, scores);
      NDArray weights = NDArrays.where(hidden, zeros, safe.softmax(axis));
      weights.attach(scores.getManager());
      return weights;
    }
  }

  /**
   * Step 4, {@code torch.matmul(weights, V)}: each query's output is the weighted sum of the
   * values.
   *
   * @param weights (…, S, T)
   * @param value (…, T, Dv)
   * @return the output (…, S, Dv)
   * @throws IllegalArgumentException when the ranks differ or T does not match
   */
  public static NDArray weightedSum(NDArray weights, NDArray value) {
    requireSameRank("weights", weights, "value", value);
    long t = weights.getShape().get(weights.getShape().dimension() - 1);
    long tv = value.getShape().get(value.getShape().dimension() - 2);
    if (t != tv) {
      throw new IllegalArgumentException(
          "weights "
              + weights.getShape()
              + " cover "
              + t
              + " keys but value "
              + value.getShape()
              + " has "
              + tv);
    }
    return weights.matMul(value); // (…, S, T)·(…, T, Dv) = (…, S, Dv)
  }

  /**
   * The whole scaled dot-product attention with default options: softmax(Q·Kᵀ/√D)·V.
   *
   * @param query (S, D), (B, S, D) or (B, H, S, D)
   * @param key (T, D), (B, T, D) or (B, G, T, D)
   * @param value (T, Dv), (B, T, Dv) or (B, G, T, Dv)
   * @return the output and the weights
   * @throws IllegalArgumentException when the shapes or dtypes do not fit together
   */
  public static AttentionResult attention(NDArray query, NDArray key, NDArray value) {
    return attention(query, key, value, AttentionOptions.defaults());
  }

  /**
   * The whole attention: KV cache append, scale, softcap, mask, causal, window and padding masks,
   * softmax (in the chosen precision) and weighted sum.
   *
   * <p>When neither the weights nor the scores are requested ({@code optReturnWeights(false)}) and
   * no KV cache, valid key counts, window or other softmax precision is set, this runs the fast
   * path, {@link FastAttention}, which never holds the (S, T) scores and is several times faster on
   * long sequences (see {@link FastAttention#handles}); otherwise it runs {@link
   * #attentionStepByStep}, the readable chain of the seed's steps. Both agree to float rounding
   * (about 1e-6 in float32).
   *
   * @param query (S, D), (B, S, D) or (B, H, S, D)
   * @param key (T, D), (B, T, D) or (B, G, T, D)
   * @param value (T, Dv), (B, T, Dv) or (B, G, T, Dv)
   * @param options the mask, causal flag, scale, softcap, KV cache, valid key counts, window,
   *     softmax precision, and which extra results to return
   * @return the output (…, S, Dv) and, if requested, the weights (…, S, T), the present KV cache
   *     and the chosen scores
   * @throws IllegalArgumentException when the shapes, the mask or the dtypes do not fit together
   */
  public static AttentionResult attention(
      NDArray query, NDArray key, NDArray value, AttentionOptions options) {
    // Fast-path dispatch (issue 5): keep this block small; the steps stay in attentionStepByStep.
    if (options.sequenceFirst() && !FastAttention.takes(query, options)) {
      return SequenceFirst.attention(query, key, value, options, false); // on heads-first views
    }
    if (options.cache() != null) {
      return options.cache().attend(query, key, value, options, false); // appends, then attends
    }
    NDArray fast = FastAttention.outputIfHandled(query, key, value, options); // gradients kept
    if (fast != null) {
      return new AttentionResult(fast, null);
    }
    return attentionStepByStep(query, key, value, options);
  }

  /**
   * The whole attention as the seed's chain of steps: scale, softcap, mask, causal mask, softmax
   * and weighted sum, each over the full (B, H, S, T) scores. This is the readable version that
   * {@link FastAttention} is checked against; it always computes the weights.
   *
   * <p>With several heads, H must be a multiple of G; query head h reads key/value head h / (H/G)
   * (grouped-query attention). Key and value may be longer or shorter than the query. Intermediate
   * arrays are freed before this method returns; the results belong to the query's manager.
   *
   * @param query (S, D), (B, S, D) or (B, H, S, D)
   * @param key (T, D), (B, T, D) or (B, G, T, D)
   * @param value (T, Dv), (B, T, Dv) or (B, G, T, Dv)
   * @param options the mask, causal flag, scale, softcap, KV cache, valid key counts, window,
   *     softmax precision, and which extra results to return
   * @return the output (…, S, Dv) and, if requested, the weights (…, S, T), the present KV cache
   *     and the chosen scores
   * @throws IllegalArgumentException when the shapes, the mask or the dtypes do not fit together
   */
  public static AttentionResult attentionStepByStep(
      NDArray query, NDArray key, NDArray value, AttentionOptions options) {
    if (options.sequenceFirst()) {
      return SequenceFirst.attention(query, key, value, options, true); // on heads-first views
    }
    if (options.cache() != null) {
      return options.cache().attend(query, key, value, options, true); // appends, then the chain
    }
    ScalarRanges.check(query.getDataType(), options);
    NDArray pastKey = options.pastKey();
    NDArray pastValue = options.pastValue();
    if (pastKey != null) {
      requireCacheFits("key", pastKey, key);
      requireCacheFits("value", pastValue, value);
    }
    AttentionShape.of(query, key, value); // ranks and dtypes, before any op touches the arrays
    NDManager parent = query.getManager();
    try (NDManager scope = parent.newSubManager()) {
      // Our own handles on the caller's arrays: every temporary derives from them and lands in
      // the scope, and the caller's arrays are never attached, detached or closed.
      query = borrow(scope, query);
      key = borrow(scope, key);
      value = borrow(scope, value);
      NDArray mask = borrow(scope, options.mask());
      pastKey = borrow(scope, pastKey);
      pastValue = borrow(scope, pastValue);
      int lengthAxis = key.getShape().dimension() - 2;
      NDArray presentKey = pastKey == null ? key : pastKey.concat(key, lengthAxis); // (…, P+T, D)
      NDArray presentValue =
          pastValue == null ? value : pastValue.concat(value, lengthAxis); // (…, P+T, Dv)
      AttentionShape shape = AttentionShape.of(query, presentKey, presentValue);
      // This path holds (B, H, S, T) scores; refuse sizes that cannot be allocated.
      AttentionLimits.checkScores(
          shape.batch(), shape.heads(), shape.queryLength(), shape.keyLength());
      Shape mask4d = mask == null ? null : shape.mask4d(mask.getShape());
      DataType dtype = query.getDataType();
      DataType computeType = computeType(dtype);
      NDArray q = query.toType(computeType, false).reshape(shape.query4d()); // (B, H, S, D)
      NDArray k = presentKey.toType(computeType, false).reshape(shape.key4d()); // (B, G, T, D)
      NDArray v = presentValue.toType(computeType, false).reshape(shape.value4d()); // (B, G, T, Dv)
      double scale = options.scale() != null ? options.scale() : 1.0 / Math.sqrt(shape.headSize());
      ScoresOutput wanted = options.scoresOutput();
      NDArray kept = null;

      NDArray scores = groupedScores(q, k, shape).mul(scalar(q, scale)); // (B, H, S, T)
      if (wanted == ScoresOutput.SCALED) {
        kept = scores;
      }
      if (options.softcap() != null) {
        double cap = options.softcap();
        NDArray capArray = scalar(scores, cap);
        scores = scores.div(capArray).tanh().mul(capArray);
      }
      if (wanted == ScoresOutput.SOFTCAPPED) {
        kept = scores;
      }
      if (mask != null) {
        scores = applyMask(scores, mask.reshape(mask4d), computeType);
      }
      long cacheLength = pastKey == null ? -1 : pastKey.getShape().get(lengthAxis);
      NDArray visible =
          KeyVisibility.mask(
              scope,
              options,
              shape.batch(),
              shape.queryLength(),
              shape.keyLength(),
              cacheLength); // (B or 1, 1, S, T)
      if (visible != null) {
        NDArray minusInf = scalar(q, Double.NEGATIVE_INFINITY);
        scores = NDArrays.where(visible.broadcast(scores.getShape()), scores, minusInf);
      }
      if (wanted == ScoresOutput.MASKED) {
        kept = scores;
      }
      DataType softmaxType = options.softmaxPrecision();
      NDArray weights =
          softmaxType == null || softmaxType == computeType
              ? softmax(scores, -1)
              : softmax(scores.toType(softmaxType, false), -1)
                  .toType(computeType, false); // (B, H, S, T)
      if (wanted == ScoresOutput.SOFTMAX) {
        kept = weights;
      }
      NDArray output = groupedWeightedSum(weights, v, shape); // (B, H, S, Dv)

      output = output.reshape(shape.outputShape()).toType(dtype, false);
      output.attach(parent);
      NDArray returnedWeights = null;
      if (options.returnWeights()) {
        returnedWeights = weights.reshape(shape.weightsShape()).toType(dtype, false);
        returnedWeights.attach(parent);
      }
      NDArray returnedScores = null;
      if (kept != null) {
        returnedScores = kept.reshape(shape.weightsShape()).toType(dtype, false);
        returnedScores.attach(parent);
      }
      if (pastKey != null) {
        presentKey.attach(parent);
        presentValue.attach(parent);
      }
      return new AttentionResult(
          output,
          returnedWeights,
          pastKey == null ? null : presentKey,
          pastValue == null ? null : presentValue,
          returnedScores);
    }
  }

  /**
   * A 0-dimensional array of {@code value} in {@code like}'s dtype and manager, in memory the
   * engine allocated. DJL's {@code mul(Number)} and friends wrap the number in a Java direct buffer
   * that only the (at once closed) scalar array holds; autograd saves that scalar for the backward
   * pass, which then read memory the garbage collector had freed. Every scalar a recorded op takes
   * comes from here.
   *
   * @param like the array whose dtype and manager the scalar takes
   * @param value the value
   * @return the scalar, owned by {@code like}'s manager
   */
  static NDArray scalar(NDArray like, double value) {
    try (NDArray wrapped = like.getManager().create(value)) { // float64, over a Java buffer
      return wrapped.getDataType() == like.getDataType()
          ? wrapped.duplicate() // a copy in the engine's memory
          : wrapped.toType(like.getDataType(), false); // a new array in the engine's memory
    }
  }

  /** Checks that a cached key or value differs from the new one only in length. */
  private static void requireCacheFits(String what, NDArray past, NDArray current) {
    Shape p = past.getShape();
    Shape c = current.getShape();
    boolean fits = p.dimension() == c.dimension() && p.dimension() >= 2;
    for (int i = 0; fits && i < p.dimension(); i++) {
      fits = i == p.dimension() - 2 || p.get(i) == c.get(i);
    }
    if (!fits || past.getDataType() != current.getDataType()) {
      throw new IllegalArgumentException(
          "past "
              + what
              + " "
              + p
              + " ("
              + past.getDataType()
              + ") must match the new "
              + what
              + " "
              + c
              + " ("
              + current.getDataType()
              + ") in every axis but the length");
    }
  }

  /** Returns 1/√D for a query whose last axis is D. */
  static double defaultScale(NDArray query) {
    Shape shape = query.getShape();
    return 1.0 / Math.sqrt(shape.get(shape.dimension() - 1));
  }

  /** Scores of every query head against the key head it reads, without copying K per head. */
  private static NDArray groupedScores(NDArray q, NDArray k, AttentionShape shape) {
    // Query heads h = g·(H/G) + j share key head g: fold the H/G heads into the rows.
    NDArray grouped = q.reshape(shape.groupedQuery()); // (B, G, H/G·S, D)
    NDArray scores = grouped.matMul(k.swapAxes(-1, -2)); // (B, G, H/G·S, T)
    return scores.reshape(shape.scores4d()); // (B, H, S, T)
  }

  private static NDArray groupedWeightedSum(NDArray weights, NDArray v, AttentionShape shape) {
    NDArray grouped = weights.reshape(shape.groupedWeights()); // (B, G, H/G·S, T)
    NDArray output = grouped.matMul(v); // (B, G, H/G·S, Dv)
    return output.reshape(shape.output4d()); // (B, H, S, Dv)
  }

  private static NDArray applyMask(NDArray scores, NDArray mask, DataType computeType) {
    if (mask.getDataType() == DataType.BOOLEAN) {
      NDArray minusInf = scalar(scores, Double.NEGATIVE_INFINITY);
      return NDArrays.where(mask.broadcast(scores.getShape()), scores, minusInf);
    }
    return scores.add(mask.toType(computeType, false));
  }

  /** The type attention computes in for inputs of {@code dtype}: float16 computes in float32. */
  static DataType computeType(DataType dtype) {
    switch (dtype) {
      case FLOAT32:
      case FLOAT64:
        return dtype;
      case FLOAT16:
        return DataType.FLOAT32;
      default:
        throw new IllegalArgumentException(
            "attention needs float16, float32 or float64 inputs, got " + dtype);
    }
  }

  /**
   * Returns a handle of the library's own on a caller's array, owned by {@code scope}: a view of
   * the same data (and, under autograd, of the same graph node), so that the results of every op on
   * it land in the scope and are freed with it. The caller's array itself is only read: it is never
   * attached, detached or closed, so threads may share it.
   *
   * @param scope the manager of the call's temporaries
   * @param array a caller's array, or null
   * @return the view, or null for null
   */
  static NDArray borrow(NDManager scope, NDArray array) {
    if (array == null) {
      return null;
    }
    if (array.getDataType() == DataType.STRING) {
      throw new IllegalArgumentException("attention takes numeric arrays, got a string array");
    }
    NDArray view = array.reshape(array.getShape()); // a new handle, in the caller's manager ...
    view.attach(scope); // ... moved to ours: only this handle changes hands
    return view;
  }

  static void requireSameRank(String aName, NDArray a, String bName, NDArray b) {
    if (a.getShape().dimension() != b.getShape().dimension()) {
      throw new IllegalArgumentException(
          aName + " " + a.getShape() + " and " + bName + " " + b.getShape() + " differ in rank");
    }
    if (a.getShape().dimension() < 2) {
      throw new IllegalArgumentException(
          aName + " " + a.getShape() + " needs at least 2 dimensions (…, length, size)");
    }
  }

  private static void requireSameLastDim(String aName, NDArray a, String bName, NDArray b) {
    long da = a.getShape().get(a.getShape().dimension() - 1);
    long db = b.getShape().get(b.getShape().dimension() - 1);
    if (da != db) {
      throw new IllegalArgumentException(
          aName
              + " "
              + a.getShape()
              + " and "
              + bName
              + " "
              + b.getShape()
              + " differ in head size: "
              + da
              + " vs "
              + db);
    }
  }
}
