package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;

/**
 * The NDArray-op kernel of {@link FastAttention} ({@code NDARRAY_TILES}), for arrays of any DJL
 * engine other than PyTorch's (the public path {@link Attention#attention} takes them): the
 * attention computed one tile of query rows at a time, so the (S, T) scores are never materialized.
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads (H = G·R, R query heads per key/value
 * head), S query length, T key/value length, D query/key head size, Dv value head size, Sq the
 * query rows of one tile, Tk the keys a tile sees.
 *
 * <p>Per tile of Sq query rows, for all batches and heads at once: scores = Q̃·Kᵀ where Q̃ is the
 * query pre-multiplied by the scale (one pass over Q instead of one over every score) when that is
 * at most 1, else the scores are multiplied after the product as in the step-by-step chain (a
 * factor above 1 on the query can overflow where Q·Kᵀ·scale does not); then the softcap, the mask
 * and the causal mask added in place, then softmax and the product with V. Under a causal mask a
 * tile sees only keys [0, min(T, last row + 1)): blocks above the diagonal are never computed.
 * Grouped-query heads are folded into the rows, so K and V are never copied per head. Every array
 * made for a tile is freed with the tile; how much of that memory the process keeps is up to the
 * native allocator (glibc keeps freed blocks up to 32 MiB for reuse), which is why the PyTorch
 * engine uses {@link TorchScriptKernel}, whose loop reuses fixed buffers.
 */
final class TiledAttention extends TensorKernel {

  static final TiledAttention INSTANCE = new TiledAttention();

  private TiledAttention() {}

  @Override
  public String name() {
    return "NDARRAY_TILES";
  }

  @Override
  public String unsupported(AttentionCall call) {
    if (call.positional()) {
      return "the NDArray tiles take no valid key counts or sliding window";
    }
    if (call.bfloat16()) {
      return "bfloat16 precision needs PyTorch-engine arrays and kernel; got "
          + call.inputs().query().getClass().getSimpleName()
          + " with kernel "
          + name();
    }
    return null;
  }

  @Override
  public boolean recordsGradients() {
    return false; // in-place ops on the tiles
  }

  @Override
  NDArray run(Tensors t, AttentionCall call, NDManager scope) {
    long tileRows = FastAttention.tileRows(call.shape(), call.tileElements());
    return output(
        t.query(),
        t.key(),
        t.value(),
        t.mask(),
        call.causal(),
        call.scale(),
        call.softcap(),
        tileRows,
        call.shape());
  }

  /**
   * Computes the attention output tile by tile.
   *
   * @param q (B, H, S, D) in the compute type
   * @param k (B, G, T, D)
   * @param v (B, G, T, Dv)
   * @param mask broadcastable to (B, H, S, T), boolean or additive in the compute type, or null
   * @param causal whether query i sees only keys j ≤ i
   * @param scale the score factor
   * @param softcap the softcap, or null
   * @param tileRows query rows per tile
   * @param shape the validated sizes
   * @return the output (B, H, S, Dv) in the compute type, owned by q's manager
   */
  static NDArray output(
      NDArray q,
      NDArray k,
      NDArray v,
      NDArray mask,
      boolean causal,
      double scale,
      Double softcap,
      long tileRows,
      AttentionShape shape) {
    NDManager scope = q.getManager();
    DataType computeType = q.getDataType();
    ScoreFactor factor = ScoreFactor.of(scale, softcap, computeType);
    NDArray grouped = q.reshape(groupedQuery5d(shape)); // (B, G, R, S, D)
    if (factor.beforeProduct()) {
      grouped = grouped.mul(factor.value());
    }
    NDArray additiveMask = mask == null ? null : prepareMask(mask, computeType);
    NDArray causalBias =
        causal ? causalBias(scope, tileRows, shape.keyLength(), computeType) : null;
    List<NDArray> tiles = new ArrayList<>();
    for (long start = 0; start < shape.queryLength(); start += tileRows) {
      long end = Math.min(shape.queryLength(), start + tileRows);
      try (NDManager tileScope = scope.newSubManager()) {
        NDArray tile =
            tile(
                grouped,
                k,
                v,
                additiveMask,
                causalBias,
                factor,
                softcap,
                shape,
                start,
                end,
                tileScope);
        tile.attach(scope);
        tiles.add(tile);
      }
    }
    return tiles.size() == 1
        ? tiles.get(0)
        : NDArrays.concat(new NDList(tiles), 2); // (B, H, S, Dv)
  }

  /** One tile of query rows [start, end) through scores, softmax and weighted sum. */
  private static NDArray tile(
      NDArray q,
      NDArray k,
      NDArray v,
      NDArray mask4,
      NDArray causalBias,
      ScoreFactor factor,
      Double softcap,
      AttentionShape shape,
      long start,
      long end,
      NDManager tileScope) {
    long rows = end - start;
    long keys = causalBias == null ? shape.keyLength() : Math.min(shape.keyLength(), end);
    boolean wholeQuery = start == 0 && end == shape.queryLength();
    // Slices are attached to the tile scope, and every array computed from them lands there too.
    NDArray qTile =
        wholeQuery ? q : own(q.get(new NDIndex(":, :, :, {}:{}", start, end)), tileScope);
    qTile = qTile.reshape(groupedTile(shape, rows)); // (B, G, R·Sq, D)
    boolean allKeys = keys == shape.keyLength();
    NDArray kTile = allKeys ? k : own(k.get(new NDIndex(":, :, :{}", keys)), tileScope);
    NDArray vTile = allKeys ? v : own(v.get(new NDIndex(":, :, :{}", keys)), tileScope);

    NDArray scores = qTile.matMul(kTile.swapAxes(-1, -2)); // (B, G, R·Sq, Tk)
    scores = scores.reshape(tileScores(shape, rows, keys)); // (B, H, Sq, Tk)
    if (!factor.beforeProduct()) {
      scores.muli(factor.value());
    }
    if (softcap != null) {
      if (factor.divideBySoftcap()) {
        scores.divi(softcap.doubleValue());
      }
      scores = scores.tanh().muli(softcap.doubleValue());
    }
    boolean maybeFullyMasked = false;
    if (mask4 != null) {
      NDArray maskTile = sliceMask(mask4, shape, start, end, keys, wholeQuery, tileScope);
      scores.addi(maskTile); // (B, H, Sq, Tk) + (Bm, Hm, Sq or 1, Tk)
      maybeFullyMasked = true;
    }
    if (causalBias != null && keys - 1 > start) {
      // Row i of the tile (query start + i) sees keys j ≤ start + i: the bias view starts at
      // column T − start of the precomputed (Sq, 2T) band. Tiles whose first row already sees
      // every key they cover need no bias.
      long offset = shape.keyLength() - start;
      NDArray bias =
          own(causalBias.get(new NDIndex(":{}, {}:{}", rows, offset, offset + keys)), tileScope);
      scores.addi(bias); // (B, H, Sq, Tk) + (Sq, Tk)
    }
    // Only a mask can take away every key of a row; Attention.softmax then gives it zeros.
    NDArray weights =
        maybeFullyMasked ? Attention.softmax(scores, -1) : scores.softmax(-1); // (B, H, Sq, Tk)
    NDArray output =
        weights.reshape(groupedTile(shape, rows, keys)).matMul(vTile); // (B, G, R·Sq, Dv)
    return output.reshape(
        shape.batch(), shape.heads(), rows, shape.valueHeadSize()); // (B, H, Sq, Dv)
  }

  /**
   * The factor of the products Q·Kᵀ: the scale, or with a softcap c the scale / c (so that the
   * scores need only tanh and a product by c) unless that is not a normal number of the compute
   * type, in which case the scores are divided by c as in the step-by-step chain. It goes on the
   * query when it is at most 1 (no product can then overflow that the unscaled one does not), else
   * on the scores.
   *
   * @param value the factor
   * @param beforeProduct whether the query is multiplied by it (else the scores are)
   * @param divideBySoftcap whether the scores are divided by the softcap before its tanh
   */
  record ScoreFactor(double value, boolean beforeProduct, boolean divideBySoftcap) {

    static ScoreFactor of(double scale, Double softcap, DataType computeType) {
      double smallest = computeType == DataType.FLOAT64 ? Double.MIN_NORMAL : Float.MIN_NORMAL;
      double largest = computeType == DataType.FLOAT64 ? Double.MAX_VALUE : Float.MAX_VALUE;
      double value = scale;
      boolean divide = false;
      if (softcap != null) {
        value = scale / softcap;
        if (!(value >= smallest && value <= largest)) {
          value = scale;
          divide = true;
        }
      }
      return new ScoreFactor(value, value <= 1, divide);
    }
  }

  /**
   * A (Sq, 2T) band, 0 where key c − T ≤ row r and −∞ above: the causal bias of the tile starting
   * at query {@code start} is its columns [T − start, T − start + Tk).
   */
  private static NDArray causalBias(NDManager scope, long rows, long keyLength, DataType type) {
    NDArray row = scope.arange(rows).reshape(rows, 1); // (Sq, 1)
    NDArray column = scope.arange(2 * keyLength).sub(keyLength).reshape(1, 2 * keyLength);
    return additive(column.lte(row), type); // (Sq, 2T)
  }

  /** Turns a boolean mask into an additive one (0 kept, −∞ masked) in the compute type. */
  private static NDArray prepareMask(NDArray mask4, DataType computeType) {
    if (mask4.getDataType() != DataType.BOOLEAN) {
      return mask4.toType(computeType, false);
    }
    return additive(mask4, computeType);
  }

  /** 0 where {@code keep} is true, −∞ where it is false. */
  private static NDArray additive(NDArray keep, DataType type) {
    NDManager manager = keep.getManager();
    NDArray zero = manager.zeros(keep.getShape(), type);
    NDArray minusInf = manager.full(keep.getShape(), Float.NEGATIVE_INFINITY, type);
    return NDArrays.where(keep, zero, minusInf);
  }

  private static NDArray sliceMask(
      NDArray mask4,
      AttentionShape shape,
      long start,
      long end,
      long keys,
      boolean wholeQuery,
      NDManager tileScope) {
    Shape s = mask4.getShape();
    boolean rowsVary = s.get(2) != 1 && !wholeQuery;
    boolean keysCut = s.get(3) != 1 && keys != shape.keyLength();
    if (!rowsVary && !keysCut) {
      return mask4;
    }
    String rowsIndex = rowsVary ? start + ":" + end : ":";
    String keysIndex = keysCut ? ":" + keys : ":";
    return own(mask4.get(new NDIndex(":, :, " + rowsIndex + ", " + keysIndex)), tileScope);
  }

  /** Attaches an array made for one tile to the tile's scope, so it is freed with the tile. */
  private static NDArray own(NDArray array, NDManager tileScope) {
    array.attach(tileScope);
    return array;
  }

  private static Shape groupedQuery5d(AttentionShape shape) {
    return new Shape(
        shape.batch(), shape.kvHeads(), shape.groupSize(), shape.queryLength(), shape.headSize());
  }

  private static Shape groupedTile(AttentionShape shape, long rows) {
    return new Shape(shape.batch(), shape.kvHeads(), shape.groupSize() * rows, shape.headSize());
  }

  private static Shape groupedTile(AttentionShape shape, long rows, long keys) {
    return new Shape(shape.batch(), shape.kvHeads(), shape.groupSize() * rows, keys);
  }

  private static Shape tileScores(AttentionShape shape, long rows, long keys) {
    return new Shape(shape.batch(), shape.heads(), rows, keys);
  }
}
