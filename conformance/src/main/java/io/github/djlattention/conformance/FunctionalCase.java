package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import com.fasterxml.jackson.databind.JsonNode;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A generated case of kind {@code functional}: query (B, H, S, D), key (B, G, T, D) and value (B,
 * G, T, Dv) given to the functional API directly (rank 3 drops H, rank 2 also B), with an optional
 * mask broadcast by NumPy's rules against the weights, causal flag, scale and softcap.
 *
 * <p>The blocks run it as B·H single-head sequences with identity projections, the scale folded
 * into the query's, when there is no softcap and Dv = D; the mask is then expanded to (B·H, S, T).
 *
 * <p>Legend: B batch, H query heads, G key/value heads, S query length, T key length, D head size,
 * Dv value head size.
 *
 * @param data name, group, element type, seed, tensors ({@code query}, {@code key}, {@code value})
 *     and mask
 * @param sizes B, H, G, S, T and D
 * @param valueHeadSize Dv
 * @param rank the rank of the tensors (2 to 4)
 * @param causal whether query i sees only keys j ≤ i
 * @param scale the score factor, or null for 1/√D
 * @param softcap the softcap, or null for none
 */
public record FunctionalCase(
    CaseData data,
    Sizes sizes,
    int valueHeadSize,
    int rank,
    boolean causal,
    Double scale,
    Double softcap)
    implements GeneratedCase {

  /**
   * Reads a functional case: either explicit 2-D {@code query} (S, D) and {@code key} (T, D) with
   * {@code "value": "identity"}, or sizes from which query, key and value are drawn.
   *
   * @param spec the line of the matrix
   * @return the case
   * @throws IllegalArgumentException when the sizes do not fit the rank or the limits
   */
  static FunctionalCase parse(GeneratedCases.CaseSpec spec) {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    boolean causal = spec.flag("causal");
    Double scale = spec.optDouble("scale");
    Double softcap = spec.optDouble("softcap");
    int batch;
    int heads;
    int kvHeads;
    int s;
    int t;
    int d;
    int dv;
    int rank;
    if (spec.has("query")) {
      Tensor q = spec.matrix("query");
      Tensor k = spec.matrix("key");
      if (!spec.text("value").equals("identity")) {
        throw spec.fail("an explicit case's value must be \"identity\"");
      }
      batch = 1;
      heads = 1;
      kvHeads = 1;
      rank = 2;
      s = q.shape()[0];
      d = q.shape()[1];
      t = k.shape()[0];
      dv = t;
      double[] eye = new double[t * t];
      for (int i = 0; i < t; i++) {
        eye[i * t + i] = 1;
      }
      tensors.put("query", q);
      tensors.put("key", k);
      tensors.put("value", new Tensor(eye, new int[] {t, t}));
    } else {
      batch = spec.positive("batch");
      heads = spec.positive("heads");
      kvHeads = spec.positive("kvHeads", heads);
      s = spec.positive("queryLength");
      t = spec.positive("keyLength", s);
      d = spec.positive("headSize");
      dv = spec.positive("valueHeadSize", d);
      rank = spec.positive("rank", 4);
      if (heads % kvHeads != 0
          || (rank < 4 && heads != 1)
          || (rank == 2 && batch != 1)
          || rank < 2
          || rank > 4) {
        throw spec.fail(
            "heads "
                + heads
                + ", kvHeads "
                + kvHeads
                + ", batch "
                + batch
                + " do not fit rank "
                + rank);
      }
      spec.elements("batch x heads x queryLength x headSize", batch, heads, s, d);
      spec.elements("batch x kvHeads x keyLength x headSize", batch, kvHeads, t, d);
      spec.elements("batch x kvHeads x keyLength x valueHeadSize", batch, kvHeads, t, dv);
      spec.elements("batch x heads x queryLength x keyLength", batch, heads, s, t);
      tensors.put("query", spec.draw(96, ReferenceAttention.atRank(rank, batch, heads, s, d)));
      tensors.put("key", spec.draw(96, ReferenceAttention.atRank(rank, batch, kvHeads, t, d)));
      tensors.put("value", spec.draw(96, ReferenceAttention.atRank(rank, batch, kvHeads, t, dv)));
    }
    int[] weights = ReferenceAttention.atRank(rank, batch, heads, s, t);
    GeneratedMask mask = spec.mask(json -> maskShape(spec, json, weights, t), s, t);
    return new FunctionalCase(
        spec.data(tensors, mask),
        new Sizes(batch, heads, kvHeads, s, t, d),
        dv,
        rank,
        causal,
        scale,
        softcap);
  }

  /** A mask's explicit shape, which must broadcast to the weights and end in T. */
  private static int[] maskShape(
      GeneratedCases.CaseSpec spec, JsonNode json, int[] weights, int keyLength) {
    JsonNode dims = json.path("shape");
    if (!dims.isArray() || dims.size() > weights.length) {
      throw spec.fail(
          "mask.shape must be an array of at most "
              + weights.length
              + " sizes, got "
              + GeneratedCases.quote(dims));
    }
    int[] shape = new int[dims.size()];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = spec.integer("mask.shape[" + i + "]", dims.get(i), 1);
      int axis = weights[weights.length - shape.length + i];
      if (shape[i] != 1 && shape[i] != axis) {
        throw spec.fail(
            "mask "
                + Arrays.toString(shape)
                + " does not broadcast to the weights "
                + Arrays.toString(weights)
                + " (mask.shape["
                + i
                + "] is "
                + shape[i]
                + ")");
      }
    }
    if (shape.length == 0 || shape[shape.length - 1] != keyLength) {
      throw spec.fail(
          "mask " + Arrays.toString(shape) + " must end in the key length " + keyLength);
    }
    return shape;
  }

  // ---- the oracle ----------------------------------------------------------------------------

  @Override
  public CaseOutputs expected(NDManager manager) {
    ReferenceAttention.Result r =
        ReferenceAttention.attention(
            as4d(tensor("query")), as4d(tensor("key")), as4d(tensor("value")), referenceOptions());
    return CaseData.outputs(
        manager,
        DoubleTensors.reshape(r.output(), outputShape()),
        DoubleTensors.reshape(r.weights(), weightsShape()));
  }

  /**
   * The reference's options: the mask on four axes, causal flag, scale and softcap.
   *
   * @return the options
   */
  public ReferenceAttention.Options referenceOptions() {
    Tensor additive = optMask().map(m -> m.reference(mask4d())).orElse(null);
    return new ReferenceAttention.Options(additive, causal, scale, softcap);
  }

  /**
   * The mask's shape on the reference's four axes (B, H, S, T): NumPy's rule against the weights of
   * the case's rank, then that rank's axes on four.
   *
   * @return four sizes, 1 where the mask broadcasts
   * @throws java.util.NoSuchElementException if the case has no mask
   */
  public int[] mask4d() {
    return ReferenceAttention.maskOnFourAxes(optMask().orElseThrow().shape(), rank);
  }

  /**
   * A rank-2 (S, D) or rank-3 (B, S, D) tensor of this kind on four axes (B, H, S, D).
   *
   * @param t the tensor
   * @return the same values with the missing axes of size 1
   */
  public static Tensor as4d(Tensor t) {
    return DoubleTensors.reshape(t, ReferenceAttention.onFourAxes(t.shape()));
  }

  /**
   * The output's shape at the case's rank.
   *
   * @return e.g. (B, H, S, Dv)
   */
  public int[] outputShape() {
    return ReferenceAttention.atRank(
        rank, sizes.batch(), sizes.heads(), sizes.queryLength(), valueHeadSize);
  }

  /**
   * The per-head weights' shape at the case's rank.
   *
   * @return e.g. (B, H, S, T)
   */
  public int[] weightsShape() {
    return ReferenceAttention.atRank(
        rank, sizes.batch(), sizes.heads(), sizes.queryLength(), sizes.keyLength());
  }

  // ---- the blocks and their exports ----------------------------------------------------------

  @Override
  public Optional<String> blockUnsupported() {
    if (type() == DataType.FLOAT16) {
      return Optional.of("float16 blocks are not run");
    }
    if (softcap != null) {
      return Optional.of("the blocks have no softcap");
    }
    if (valueHeadSize != sizes.headSize()) {
      return Optional.of(
          "value head size " + valueHeadSize + " differs from head size " + sizes.headSize());
    }
    return Optional.empty();
  }

  /** B·H sequences of one head; identity projections, the scale folded into the query's. */
  @Override
  public AbstractBlock block(NDManager manager) {
    int headSize = sizes.headSize();
    AbstractBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(headSize)
            .setHeads(1)
            .optBias(false)
            .optOutputProjection(false)
            .optCausal(causal)
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .build();
    Shape query = new Shape(1, sizes.queryLength(), headSize);
    Shape key = new Shape(1, sizes.keyLength(), headSize);
    block.initialize(manager, type(), query, key, key);
    double factor = scale == null ? 1 : scale * Math.sqrt(headSize);
    Map<String, Tensor> parameters = new LinkedHashMap<>();
    parameters.put("q_proj.weight", identity(headSize, factor));
    parameters.put("k_proj.weight", identity(headSize, 1));
    parameters.put("v_proj.weight", identity(headSize, 1));
    data().setParameters(block, manager, parameters);
    return block;
  }

  private static Tensor identity(int size, double diagonal) {
    double[] data = new double[size * size];
    for (int i = 0; i < size; i++) {
      data[i * size + i] = diagonal;
    }
    return new Tensor(data, new int[] {size, size});
  }

  /** Query (B·H, S, D), key (B·H, T, D), value (B·H, T, D): kv heads repeated, heads as batch. */
  @Override
  public Map<String, Tensor> blockTensors() {
    Tensor query = as4d(tensor("query")); // (B, H, S, D)
    int h = query.shape()[1];
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    tensors.put("query", sequences(query)); // (B·H, S, D)
    tensors.put("key", sequences(DoubleTensors.repeatHeads(as4d(tensor("key")), h)));
    tensors.put("value", sequences(DoubleTensors.repeatHeads(as4d(tensor("value")), h)));
    return tensors;
  }

  /** (B, H, L, D) as (B·H, L, D). */
  private static Tensor sequences(Tensor t) {
    int[] s = t.shape();
    return DoubleTensors.reshape(t, s[0] * s[1], s[2], s[3]);
  }

  /** The mask expanded to (B·H, S, T), one per sequence. */
  @Override
  public Optional<GeneratedMask> blockMask() {
    return optMask().map(this::expanded);
  }

  private GeneratedMask expanded(GeneratedMask mask) {
    int s = sizes.queryLength();
    int t = sizes.keyLength();
    int[] full = {rank >= 3 ? sizes.batch() : 1, rank == 4 ? sizes.heads() : 1, s, t};
    int[] source = DoubleTensors.broadcastIndex(mask4d(), full);
    boolean[] keep = new boolean[source.length];
    double[] additive = new double[source.length];
    for (int n = 0; n < source.length; n++) {
      keep[n] = mask.keep()[source[n]];
      additive[n] = mask.additive()[source[n]];
    }
    return new GeneratedMask(mask.bool(), new int[] {full[0] * full[1], s, t}, keep, additive);
  }

  @Override
  public CaseOutputs fromBlock(NDArray output, NDArray weights, NDManager manager) {
    return CaseData.copied(
        output.reshape(DoubleTensors.toShape(outputShape())), // (B·H, S, D) to the case's shape
        weights.reshape(DoubleTensors.toShape(weightsShape())), // (B·H, S, T) to the case's shape
        manager);
  }
}
