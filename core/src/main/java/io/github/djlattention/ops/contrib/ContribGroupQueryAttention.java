package io.github.djlattention.ops.contrib;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.AttentionResult;
import java.util.List;
import java.util.Map;

/**
 * ONNX Runtime's {@code com.microsoft.GroupQueryAttention}: grouped-query self attention with a KV
 * cache of per-batch lengths, as decoders exported by ONNX Runtime's tools use it.
 *
 * <p>Legend: B batch, S new tokens, H query heads, G key/value heads (H a multiple of G), D head
 * size, C the past buffer's length, T_b = {@code seqlens_k[b]} + 1 the total length of batch b, N =
 * {@code total_sequence_length}, M = max(C, N) the present's length, R the rotary dimension.
 *
 * <p>Inputs, by ONNX name (see {@link #INPUTS}): {@code query} (B, S, H·D), or packed (B, S, (H +
 * 2G)·D) holding query, key and value (then no {@code key} or {@code value}); {@code key} and
 * {@code value} (B, S, G·D); {@code past_key} and {@code past_value} (B, G, C, D); {@code
 * seqlens_k} (B) and {@code total_sequence_length} (one value), integers; {@code cos_cache} and
 * {@code sin_cache} (P, R/2) with {@code do_rotary}; {@code attention_bias} (B or 1, H or 1, S, N).
 *
 * <p>Semantics:
 *
 * <ul>
 *   <li>Batch b holds T_b tokens after this step, and N = max T_b. When N = S the step is the first
 *       prompt: every batch's tokens start at position 0 (right padding: query rows at and beyond
 *       T_b are padding, their output is unspecified and this class gives zeros). Otherwise the S
 *       new tokens of batch b are its last ones: they sit at positions P_b … T_b − 1, P_b = T_b −
 *       S, after the P_b cached rows, which the past buffer must hold (C ≥ P_b).
 *   <li>With {@code do_rotary}, query and new key heads are rotated by their positions ({@link
 *       RotaryEmbedding}, {@code rotary_interleaved} picks the layout) before the keys are cached.
 *   <li>The present (B, G, M, D) is the past buffer with the new keys and values written at rows
 *       P_b … P_b + S − 1 of each batch; rows from T_b on are unspecified (this class leaves the
 *       past buffer's rows there and zeros beyond C).
 *   <li>Query i of batch b, at position p = P_b + i, sees key j when j &lt; T_b, j ≤ p ({@code
 *       causal}, the default) and j ≥ p − W for {@code local_window_size} W ≥ 0: a left window of W
 *       keys before its own position, as the attribute's documentation ("left_window_size for
 *       causal local attention") reads. {@code causal} = 0 (bidirectional) takes no window.
 *   <li>scores = scale·Q·Kᵀ (1/√D unless set), soft-capped (c·tanh(scores/c) for {@code softcap} c
 *       &gt; 0), plus the attention bias, whose last axis indexes absolute key positions; then the
 *       softmax over the visible keys and the weighted sum.
 * </ul>
 *
 * <p>Not implemented: {@code position_ids}, {@code head_sink}, {@code smooth_softmax}, {@code
 * qk_output}, the quantized caches ({@code k_scale}, {@code v_scale}), {@code q_norm_weight}/{@code
 * k_norm_weight} and {@code sliding_window_cache}.
 */
public final class ContribGroupQueryAttention {

  /** The operator's type in the {@code com.microsoft} domain. */
  public static final String OP_TYPE = "GroupQueryAttention";

  /** The inputs {@link #compute} takes, in the node's order ({@code position_ids} left out). */
  public static final List<String> INPUTS =
      List.of(
          "query",
          "key",
          "value",
          "past_key",
          "past_value",
          "seqlens_k",
          "total_sequence_length",
          "cos_cache",
          "sin_cache",
          "position_ids",
          "attention_bias");

  private final int numHeads;
  private final int kvNumHeads;
  private final Float scale;
  private final Float softcap;
  private final int localWindowSize;
  private final boolean doRotary;
  private final boolean rotaryInterleaved;
  private final boolean causal;

  private ContribGroupQueryAttention(Builder builder) {
    this.numHeads = builder.numHeads;
    this.kvNumHeads = builder.kvNumHeads;
    this.scale = builder.scale;
    this.softcap = builder.softcap;
    this.localWindowSize = builder.localWindowSize;
    this.doRotary = builder.doRotary;
    this.rotaryInterleaved = builder.rotaryInterleaved;
    this.causal = builder.causal;
  }

  /** Returns a new builder. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns {@code num_heads}. */
  public int numHeads() {
    return numHeads;
  }

  /** Returns {@code kv_num_heads}. */
  public int kvNumHeads() {
    return kvNumHeads;
  }

  /** Returns {@code scale}, or null for 1/√D. */
  public Float scale() {
    return scale;
  }

  /** Returns {@code softcap}, or null for none. */
  public Float softcap() {
    return softcap;
  }

  /** Returns {@code local_window_size}, -1 for none. */
  public int localWindowSize() {
    return localWindowSize;
  }

  /** Returns {@code do_rotary}. */
  public boolean doRotary() {
    return doRotary;
  }

  /** Returns {@code rotary_interleaved}. */
  public boolean rotaryInterleaved() {
    return rotaryInterleaved;
  }

  /** Returns {@code causal}. */
  public boolean causal() {
    return causal;
  }

  /**
   * The positions P_b, from the lengths and the step's shape, checked against the past buffer.
   *
   * @param op names the operator in messages
   * @param seqlens {@code seqlens_k} (B)
   * @param total {@code total_sequence_length}
   * @param newTokens S
   * @param pastLength C, 0 without a past buffer
   * @return P_b per batch
   * @throws IllegalArgumentException when the lengths do not fit
   */
  public static long[] pastLengths(
      String op, long[] seqlens, long total, long newTokens, long pastLength) {
    long max = 0;
    for (long s : seqlens) {
      if (s < 0) {
        throw new IllegalArgumentException(op + " seqlens_k must be >= 0, got " + s);
      }
      max = Math.max(max, s + 1);
    }
    if (total != max) {
      throw new IllegalArgumentException(
          op
              + " total_sequence_length "
              + total
              + " must be the largest seqlens_k + 1 ("
              + max
              + ")");
    }
    boolean firstPrompt = total == newTokens;
    long[] past = new long[seqlens.length];
    for (int b = 0; b < seqlens.length; b++) {
      past[b] = firstPrompt ? 0 : seqlens[b] + 1 - newTokens;
      if (past[b] < 0) {
        throw new IllegalArgumentException(
            op
                + " batch "
                + b
                + " holds "
                + (seqlens[b] + 1)
                + " tokens, fewer than the "
                + newTokens
                + " new ones, in a step that is not the first prompt (total_sequence_length "
                + total
                + " != "
                + newTokens
                + ")");
      }
      if (past[b] > pastLength) {
        throw new IllegalArgumentException(
            op
                + " batch "
                + b
                + " needs "
                + past[b]
                + " cached rows but the past buffer holds "
                + pastLength);
      }
    }
    return past;
  }

  /**
   * Computes the node.
   *
   * @param inputs the inputs by ONNX name; absent optional inputs are left out (or null)
   * @param returnWeights whether to return the attention weights (B, H, S, M)
   * @return {@code output} (B, S, H·D), {@code present_key} and {@code present_value} (B, G, M, D),
   *     and the weights if requested; in the query's manager
   * @throws IllegalArgumentException when an input is missing, unknown or of the wrong shape, or
   *     the lengths do not fit (see {@link #pastLengths})
   */
  public ContribResult compute(Map<String, NDArray> inputs, boolean returnWeights) {
    NDArray callerQuery = inputs.get("query");
    if (callerQuery == null) {
      throw new IllegalArgumentException(OP_TYPE + " needs the input 'query'");
    }
    NDManager parent = callerQuery.getManager();
    try (NDManager scope = parent.newSubManager()) {
      ContribInputs in = new ContribInputs(OP_TYPE, INPUTS, inputs, scope);
      if (in.has("position_ids")) {
        throw new IllegalArgumentException(OP_TYPE + " position_ids is not implemented");
      }
      NDArray query = in.required("query");
      Shape qs = query.getShape();
      if (qs.dimension() != 3) {
        throw new IllegalArgumentException(OP_TYPE + " query must be (B, S, ·), got " + qs);
      }
      long batch = qs.get(0);
      long length = qs.get(1);
      NDArray q;
      NDArray k;
      NDArray v;
      long headSize;
      if (!in.has("key")) {
        if (in.has("value")) {
          throw new IllegalArgumentException(OP_TYPE + " got a value but no key");
        }
        long packed = numHeads + 2L * kvNumHeads;
        headSize = requireMultiple(qs.get(2), packed, "packed query, key and value");
        long queryHidden = numHeads * headSize;
        long kvHidden = kvNumHeads * headSize;
        q = query.get(new NDIndex(":, :, :{}", queryHidden));
        k = query.get(new NDIndex(":, :, {}:{}", queryHidden, queryHidden + kvHidden));
        v = query.get(new NDIndex(":, :, {}:", queryHidden + kvHidden));
      } else {
        headSize = requireMultiple(qs.get(2), numHeads, "query");
        q = query;
        k = in.required("key");
        v = in.required("value");
        Shape expected = new Shape(batch, length, kvNumHeads * headSize);
        if (!k.getShape().equals(expected) || !v.getShape().equals(expected)) {
          throw new IllegalArgumentException(
              OP_TYPE
                  + " key "
                  + k.getShape()
                  + " and value "
                  + v.getShape()
                  + " must both be "
                  + expected
                  + " (B, S, G·D)");
        }
      }
      q = splitHeads(q, numHeads, headSize); // (B, H, S, D)
      k = splitHeads(k, kvNumHeads, headSize); // (B, G, S, D)
      v = splitHeads(v, kvNumHeads, headSize); // (B, G, S, D)

      long[] seqlens = in.integers("seqlens_k");
      Long total = in.scalar("total_sequence_length");
      if (seqlens == null || total == null) {
        throw new IllegalArgumentException(
            OP_TYPE + " needs the inputs 'seqlens_k' and 'total_sequence_length'");
      }
      if (seqlens.length != batch) {
        throw new IllegalArgumentException(
            OP_TYPE + " seqlens_k has " + seqlens.length + " values for a batch of " + batch);
      }
      NDArray pastKey = in.optional("past_key");
      NDArray pastValue = in.optional("past_value");
      if ((pastKey == null) != (pastValue == null)) {
        throw new IllegalArgumentException(
            OP_TYPE + " needs both past_key and past_value, or neither");
      }
      long pastLength = 0;
      if (pastKey != null) {
        Shape ps = pastKey.getShape();
        if (ps.dimension() != 4
            || ps.get(0) != batch
            || ps.get(1) != kvNumHeads
            || ps.get(3) != headSize
            || !ps.equals(pastValue.getShape())) {
          throw new IllegalArgumentException(
              OP_TYPE
                  + " past_key "
                  + ps
                  + " and past_value "
                  + pastValue.getShape()
                  + " must both be (B, G, C, D) with B = "
                  + batch
                  + ", G = "
                  + kvNumHeads
                  + ", D = "
                  + headSize);
        }
        pastLength = ps.get(2);
      }
      long[] past = pastLengths(OP_TYPE, seqlens, total, length, pastLength);
      boolean firstPrompt = total == length;

      if (doRotary) {
        NDArray cos = in.optional("cos_cache");
        NDArray sin = in.optional("sin_cache");
        if (cos == null || sin == null) {
          throw new IllegalArgumentException(OP_TYPE + " do_rotary needs cos_cache and sin_cache");
        }
        long[][] positions = new long[Math.toIntExact(batch)][Math.toIntExact(length)];
        for (int b = 0; b < batch; b++) {
          for (int i = 0; i < length; i++) {
            positions[b][i] = past[b] + i;
          }
        }
        q = RotaryEmbedding.apply(q, cos, sin, positions, rotaryInterleaved);
        k = RotaryEmbedding.apply(k, cos, sin, positions, rotaryInterleaved);
      } else if (in.has("cos_cache") || in.has("sin_cache")) {
        throw new IllegalArgumentException(OP_TYPE + " got cos_cache/sin_cache without do_rotary");
      }

      long present = Math.max(pastLength, total);
      NDArray presentKey = writeCache(scope, pastKey, k, past, present); // (B, G, M, D)
      NDArray presentValue = writeCache(scope, pastValue, v, past, present);

      DataType dtype = q.getDataType();
      NDArray mask = null;
      NDArray bias = in.optional("attention_bias");
      if (bias != null) {
        Shape bs = bias.getShape();
        if (bs.dimension() != 4
            || (bs.get(0) != 1 && bs.get(0) != batch)
            || (bs.get(1) != 1 && bs.get(1) != numHeads)
            || bs.get(2) != length
            || bs.get(3) != total) {
          throw new IllegalArgumentException(
              OP_TYPE
                  + " attention_bias must be (B or 1, H or 1, S, N) = ("
                  + batch
                  + " or 1, "
                  + numHeads
                  + " or 1, "
                  + length
                  + ", "
                  + total
                  + "), got "
                  + bs);
        }
        mask = bias.toType(dtype, false);
        if (present > total) { // columns N … M−1 are never visible
          Shape pad = new Shape(bs.get(0), bs.get(1), length, present - total);
          mask = mask.concat(scope.zeros(pad, dtype), 3); // (B or 1, H or 1, S, M)
        }
      }
      NDArray validKeys = scope.create(plusOne(seqlens)); // T_b
      AttentionOptions.Builder options =
          AttentionOptions.builder().optReturnWeights(returnWeights).optCausal(causal);
      if (causal && localWindowSize >= 0) {
        options.optWindow(localWindowSize, -1);
      }
      if (firstPrompt) {
        // positions start at 0 in every batch: the causal mask needs no offset, padding keys are
        // hidden by the mask
        NDArray cols = scope.arange(0, Math.toIntExact(present), 1, DataType.INT64);
        NDArray padding = cols.reshape(1, 1, 1, present).gte(validKeys.reshape(batch, 1, 1, 1));
        NDArray minusInf = scope.full(padding.getShape(), Float.NEGATIVE_INFINITY, dtype);
        NDArray paddingMask =
            NDArrays.where(padding, minusInf, scope.zeros(padding.getShape(), dtype));
        mask = mask == null ? paddingMask : mask.add(paddingMask); // (B, 1 or H, S or 1, M)
      } else {
        options.optNonPadKeyLengths(validKeys); // query i sits at T_b − S + i = P_b + i
      }
      if (mask != null) {
        options.optMask(mask);
      }
      if (scale != null) {
        options.optScale(scale);
      }
      if (softcap != null) {
        options.optSoftcap(softcap);
      }
      AttentionResult result = Attention.attention(q, presentKey, presentValue, options.build());
      NDArray output = result.output(); // (B, H, S, D)
      NDArray weights = returnWeights ? result.weights() : null;
      if (firstPrompt && hasPaddingRows(seqlens, length)) {
        NDArray rows = scope.arange(0, Math.toIntExact(length), 1, DataType.INT64);
        NDArray real = rows.reshape(1, 1, length, 1).lt(validKeys.reshape(batch, 1, 1, 1));
        output = NDArrays.where(real.broadcast(output.getShape()), output, output.zerosLike());
        if (weights != null) {
          weights =
              NDArrays.where(real.broadcast(weights.getShape()), weights, weights.zerosLike());
        }
      }
      return ContribArrays.result(
          parent, ContribArrays.mergeHeads(output), presentKey, presentValue, weights);
    }
  }

  private static boolean hasPaddingRows(long[] seqlens, long length) {
    for (long s : seqlens) {
      if (s + 1 < length) {
        return true;
      }
    }
    return false;
  }

  private static long[] plusOne(long[] values) {
    long[] result = new long[values.length];
    for (int i = 0; i < values.length; i++) {
      result[i] = values[i] + 1;
    }
    return result;
  }

  /** The present cache: per batch, past rows before P_b, the new rows, the buffer's rest. */
  private static NDArray writeCache(
      NDManager scope, NDArray past, NDArray rows, long[] at, long length) {
    Shape rs = rows.getShape(); // (B, G, S, D)
    NDList batches = new NDList();
    for (int b = 0; b < at.length; b++) {
      NDArray row = rows.get(new NDIndex("{}:{}", b, b + 1)); // (1, G, S, D)
      NDArray buffer;
      if (past == null) {
        buffer = scope.zeros(new Shape(1, rs.get(1), length, rs.get(3)), rows.getDataType());
      } else {
        buffer = past.get(new NDIndex("{}:{}", b, b + 1)); // (1, G, C, D)
        long c = buffer.getShape().get(2);
        if (c < length) {
          Shape pad = new Shape(1, rs.get(1), length - c, rs.get(3));
          buffer = buffer.concat(scope.zeros(pad, rows.getDataType()), 2); // (1, G, M, D)
        }
      }
      batches.add(ContribArrays.write(buffer, row, at[b]));
    }
    return NDArrays.concat(batches, 0); // (B, G, M, D)
  }

  private static NDArray splitHeads(NDArray x, long heads, long headSize) {
    Shape s = x.getShape(); // (B, S, N·D)
    return x.reshape(s.get(0), s.get(1), heads, headSize).transpose(0, 2, 1, 3); // (B, N, S, D)
  }

  private static long requireMultiple(long size, long heads, String what) {
    if (heads == 0 || size % heads != 0) {
      throw new IllegalArgumentException(
          OP_TYPE
              + " "
              + what
              + " hidden size "
              + size
              + " is not a multiple of "
              + heads
              + " heads");
    }
    return size / heads;
  }

  /** Builds a {@link ContribGroupQueryAttention} from the node's attributes. */
  public static final class Builder {
    private int numHeads;
    private int kvNumHeads;
    private Float scale;
    private Float softcap;
    private int localWindowSize = -1;
    private boolean doRotary;
    private boolean rotaryInterleaved;
    private boolean causal = true;

    private Builder() {}

    /**
     * Sets {@code num_heads} (required).
     *
     * @param numHeads H, a multiple of {@code kv_num_heads}
     * @return this builder
     */
    public Builder setNumHeads(int numHeads) {
      this.numHeads = numHeads;
      return this;
    }

    /**
     * Sets {@code kv_num_heads} (required).
     *
     * @param kvNumHeads G, at least 1
     * @return this builder
     */
    public Builder setKvNumHeads(int kvNumHeads) {
      this.kvNumHeads = kvNumHeads;
      return this;
    }

    /**
     * Sets {@code scale} (default 1/√D).
     *
     * @param scale finite and positive
     * @return this builder
     */
    public Builder optScale(float scale) {
      this.scale = scale;
      return this;
    }

    /**
     * Sets {@code softcap}; 0 (the default) turns it off.
     *
     * @param softcap finite and at least 0
     * @return this builder
     */
    public Builder optSoftcap(float softcap) {
      this.softcap = softcap == 0 ? null : softcap;
      return this;
    }

    /**
     * Sets {@code local_window_size}: a query sees the W keys before its own position and itself.
     *
     * @param window W ≥ 0, or -1 (the default) for none
     * @return this builder
     */
    public Builder optLocalWindowSize(int window) {
      this.localWindowSize = window;
      return this;
    }

    /**
     * Sets {@code do_rotary} and {@code rotary_interleaved}.
     *
     * @param interleaved whether the rotated pairs are adjacent features
     * @return this builder
     */
    public Builder optRotary(boolean interleaved) {
      this.doRotary = true;
      this.rotaryInterleaved = interleaved;
      return this;
    }

    /**
     * Sets {@code causal} (default true); false is bidirectional attention over each batch's valid
     * keys.
     *
     * @param causal whether a query sees no later key
     * @return this builder
     */
    public Builder optCausal(boolean causal) {
      this.causal = causal;
      return this;
    }

    /**
     * Builds the operator.
     *
     * @return the operator
     * @throws IllegalArgumentException when the head counts are unset or do not divide, a scale or
     *     softcap is not finite and positive, or a window is set without causal masking
     */
    public ContribGroupQueryAttention build() {
      if (kvNumHeads < 1 || numHeads < 1 || numHeads % kvNumHeads != 0) {
        throw new IllegalArgumentException(
            "num_heads ("
                + numHeads
                + ") and kv_num_heads ("
                + kvNumHeads
                + ") must be set, >= 1, and num_heads a multiple of kv_num_heads");
      }
      if (scale != null && !(scale > 0 && Float.isFinite(scale))) {
        throw new IllegalArgumentException("scale must be finite and > 0, got " + scale);
      }
      if (softcap != null && !(softcap > 0 && Float.isFinite(softcap))) {
        throw new IllegalArgumentException("softcap must be finite and >= 0, got " + softcap);
      }
      if (localWindowSize < -1) {
        throw new IllegalArgumentException(
            "local_window_size must be >= 0 or -1, got " + localWindowSize);
      }
      if (!causal && localWindowSize != -1) {
        throw new IllegalArgumentException(
            "local_window_size must be -1 when causal is 0, got " + localWindowSize);
      }
      return new ContribGroupQueryAttention(this);
    }
  }
}
