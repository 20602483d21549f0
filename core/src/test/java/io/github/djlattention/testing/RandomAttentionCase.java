package io.github.djlattention.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.reference.ReferenceAttention;
import java.util.Arrays;
import java.util.Random;

/**
 * One seeded random attention problem: rank 2, 3 or 4, cross-attention lengths, grouped heads, a
 * boolean or float mask of a random broadcast shape, causal, scale and softcap. The seed is in the
 * name, so a failing case can be rerun alone.
 */
public final class RandomAttentionCase {

  /** Which kind of mask a case carries. */
  public enum MaskKind {
    NONE,
    BOOL,
    FLOAT
  }

  private final long seed;
  private final DataType dtype;
  private final int rank;
  private final int batch;
  private final int heads;
  private final int kvHeads;
  private final int queryLength;
  private final int keyLength;
  private final int headSize;
  private final int valueSize;
  private final MaskKind maskKind;
  private final int[] maskShape;
  private final boolean causal;
  private final Double scale;
  private final Double softcap;
  private final long[] validKeys;
  private final int leftWindow;
  private final int rightWindow;

  private RandomAttentionCase(long seed, DataType dtype, Random r) {
    this.seed = seed;
    this.dtype = dtype;
    this.rank = 2 + r.nextInt(3);
    this.batch = rank >= 3 ? 1 + r.nextInt(3) : 1;
    this.kvHeads = rank == 4 ? 1 + r.nextInt(3) : 1;
    this.heads = rank == 4 ? kvHeads * (1 + r.nextInt(3)) : 1;
    this.queryLength = 1 + r.nextInt(9);
    this.keyLength = 1 + r.nextInt(9);
    this.headSize = 1 + r.nextInt(8);
    this.valueSize = 1 + r.nextInt(8);
    this.maskKind = MaskKind.values()[r.nextInt(3)];
    int[] weights = weightsShapeForMask();
    int maskRank = maskKind == MaskKind.NONE ? 0 : 1 + r.nextInt(rank);
    this.maskShape = new int[maskRank];
    for (int i = 0; i < maskRank; i++) {
      int full = weights[rank - maskRank + i];
      maskShape[i] = r.nextInt(3) == 0 ? 1 : full;
    }
    this.causal = r.nextInt(3) == 0;
    this.scale = r.nextBoolean() ? null : 0.05 + r.nextDouble();
    this.softcap = r.nextInt(3) == 0 ? 0.5 + 5 * r.nextDouble() : null;
    this.validKeys = null;
    this.leftWindow = -1;
    this.rightWindow = -1;
  }

  /**
   * A decode-shaped case: rank 4, one to three queries (one to sixteen a quarter of the time)
   * against up to 2,100 keys (across the decode kernel's 512-key blocks and split into chunks), one
   * to eight query heads per key/value head, head sizes from 1 to 130, and, besides the mask,
   * causal flag, scale and softcap, a sliding window a quarter of the time and valid key counts a
   * third of the time (from 0 to T + 2 per batch: bottom-right causal alignment).
   */
  private RandomAttentionCase(long seed, DataType dtype, Random r, boolean decode) {
    this.seed = seed;
    this.dtype = dtype;
    this.rank = 4;
    this.batch = 1 + r.nextInt(2);
    this.kvHeads = 1 + r.nextInt(3);
    this.heads = kvHeads * (1 + r.nextInt(8));
    this.queryLength = r.nextInt(4) == 0 ? 1 + r.nextInt(16) : 1 + r.nextInt(3);
    int[] wide = {16, 64, 80, 120, 128, 130}; // 120: a partial last vector of the widest paths
    this.headSize = r.nextInt(3) == 0 ? wide[r.nextInt(wide.length)] : 1 + r.nextInt(8);
    this.valueSize = r.nextInt(3) == 0 ? wide[r.nextInt(wide.length)] : 1 + r.nextInt(8);
    int keys = r.nextInt(3) == 0 ? 512 + r.nextInt(1600) : 1 + r.nextInt(700);
    // keep the float64 reference's work per case near 3 M multiply-adds
    while (keys > 1
        && (long) batch * heads * queryLength * keys * (headSize + valueSize) > 3_000_000L) {
      keys /= 2;
    }
    this.keyLength = keys;
    this.maskKind = MaskKind.values()[r.nextInt(3)];
    int[] weights = weightsShapeForMask();
    int maskRank = maskKind == MaskKind.NONE ? 0 : 1 + r.nextInt(rank);
    this.maskShape = new int[maskRank];
    for (int i = 0; i < maskRank; i++) {
      int full = weights[rank - maskRank + i];
      maskShape[i] = r.nextInt(3) == 0 ? 1 : full;
    }
    this.causal = r.nextInt(2) == 0;
    this.scale = r.nextBoolean() ? null : 0.05 + r.nextDouble();
    this.softcap = r.nextInt(4) == 0 ? 0.5 + 5 * r.nextDouble() : null;
    boolean windowed = r.nextInt(4) == 0;
    this.leftWindow = windowed && r.nextBoolean() ? r.nextInt(keys + 1) : -1;
    this.rightWindow = windowed && r.nextBoolean() ? r.nextInt(8) : -1;
    if (r.nextInt(3) == 0) {
      validKeys = new long[batch];
      for (int b = 0; b < batch; b++) {
        validKeys[b] = r.nextInt(4) == 0 ? keys : r.nextInt(keys + 3);
      }
    } else {
      validKeys = null;
    }
  }

  /** Generates the case for {@code seed}. */
  public static RandomAttentionCase generate(long seed, DataType dtype) {
    return new RandomAttentionCase(seed, dtype, new Random(seed));
  }

  /** Generates the decode-shaped case for {@code seed} (see the decode constructor). */
  public static RandomAttentionCase generateDecode(long seed, DataType dtype) {
    return new RandomAttentionCase(seed, dtype, new Random(seed ^ 0xDEC0DEL), true);
  }

  /** The valid key counts per batch as an integer array, or null. */
  public NDArray validKeys(NDManager m) {
    return validKeys == null ? null : m.create(validKeys);
  }

  public DataType dtype() {
    return dtype;
  }

  /** The callers' rank: 2, 3 or 4. */
  public int rank() {
    return rank;
  }

  /** Whether the case masks future keys. */
  public boolean causal() {
    return causal;
  }

  /** The softcap, or null. */
  public Double softcap() {
    return softcap;
  }

  /** Which kind of mask the case carries. */
  public MaskKind maskKind() {
    return maskKind;
  }

  private Random data(int stream) {
    return new Random(seed * 31 + stream);
  }

  /** The query in the caller's rank. */
  public NDArray query(NDManager m) {
    return TestTensors.create(
        m,
        TestTensors.uniform(data(1), size(query4d())),
        dtype,
        shape(heads, queryLength, headSize));
  }

  /** The key in the caller's rank. */
  public NDArray key(NDManager m) {
    return TestTensors.create(
        m, TestTensors.uniform(data(2), size(key4d())), dtype, shape(kvHeads, keyLength, headSize));
  }

  /** The value in the caller's rank. */
  public NDArray value(NDManager m) {
    return TestTensors.create(
        m,
        TestTensors.uniform(data(3), size(value4d())),
        dtype,
        shape(kvHeads, keyLength, valueSize));
  }

  /** The mask in its own (caller-rank, broadcastable) shape, or null. */
  public NDArray mask(NDManager m) {
    if (maskKind == MaskKind.NONE) {
      return null;
    }
    Random r = data(4);
    int size = Arrays.stream(maskShape).reduce(1, (a, b) -> a * b);
    long[] shape = Arrays.stream(maskShape).asLongStream().toArray();
    if (maskKind == MaskKind.BOOL) {
      boolean[] keep = new boolean[size];
      for (int n = 0; n < size; n++) {
        keep[n] = r.nextInt(4) != 0;
      }
      return m.create(keep, new Shape(shape));
    }
    double[] bias = new double[size];
    for (int n = 0; n < size; n++) {
      bias[n] = r.nextInt(5) == 0 ? Double.NEGATIVE_INFINITY : 4 * r.nextDouble() - 2;
    }
    return TestTensors.create(m, bias, dtype, shape);
  }

  /** The library options for this case (valid key counts, if the case has them, from {@code m}). */
  public AttentionOptions options(NDManager m, NDArray mask) {
    return options(mask).toBuilder().optNonPadKeyLengths(validKeys(m)).build();
  }

  /** The library options for this case, without its valid key counts. */
  public AttentionOptions options(NDArray mask) {
    AttentionOptions.Builder builder =
        AttentionOptions.builder()
            .optMask(mask)
            .optCausal(causal)
            .optWindow(leftWindow, rightWindow);
    if (scale != null) {
      builder.optScale(scale);
    }
    if (softcap != null) {
      builder.optSoftcap(softcap);
    }
    return builder.build();
  }

  /** The reference options for this case, reading the mask back as the library sees it. */
  public ReferenceAttention.Options referenceOptions(NDArray mask) {
    ReferenceAttention.Tensor additive = null;
    if (mask != null) {
      int[] mask4d = mask4d();
      if (mask.getDataType() == DataType.BOOLEAN) {
        additive = ReferenceAttention.Options.additive(mask.toBooleanArray(), mask4d);
      } else {
        additive = new ReferenceAttention.Tensor(TestTensors.doubles(mask), mask4d);
      }
    }
    return new ReferenceAttention.Options(
        additive, causal, scale, softcap, -1, validKeys, leftWindow, rightWindow);
  }

  /**
   * The float64 reference result for this case, computed from the arrays as the library sees them
   * (after rounding to the case's dtype).
   */
  public ReferenceAttention.Result reference(
      NDArray query, NDArray key, NDArray value, NDArray mask) {
    return ReferenceAttention.attention(
        new ReferenceAttention.Tensor(TestTensors.doubles(query), query4d()),
        new ReferenceAttention.Tensor(TestTensors.doubles(key), key4d()),
        new ReferenceAttention.Tensor(TestTensors.doubles(value), value4d()),
        referenceOptions(mask));
  }

  /** The mask's shape, right-aligned to the caller's rank, then placed in (B, H, S, T). */
  private int[] mask4d() {
    return ReferenceAttention.maskOnFourAxes(maskShape, rank);
  }

  public int[] query4d() {
    return new int[] {batch, heads, queryLength, headSize};
  }

  public int[] key4d() {
    return new int[] {batch, kvHeads, keyLength, headSize};
  }

  public int[] value4d() {
    return new int[] {batch, kvHeads, keyLength, valueSize};
  }

  /** The expected output shape in the caller's rank. */
  public long[] outputShape() {
    return shape(heads, queryLength, valueSize);
  }

  /** The expected weights shape in the caller's rank. */
  public long[] weightsShape() {
    return Arrays.stream(weightsShapeInts()).asLongStream().toArray();
  }

  private int[] weightsShapeInts() {
    return Arrays.stream(shape(heads, queryLength, keyLength)).mapToInt(Math::toIntExact).toArray();
  }

  private int[] weightsShapeForMask() {
    return weightsShapeInts();
  }

  private long[] shape(int h, int length, int size) {
    return Arrays.stream(ReferenceAttention.atRank(rank, batch, h, length, size))
        .asLongStream()
        .toArray();
  }

  private static int size(int[] shape) {
    return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
  }

  @Override
  public String toString() {
    return String.format(
        "seed=%d %s rank=%d B=%d H=%d G=%d S=%d T=%d D=%d Dv=%d mask=%s%s causal=%b scale=%s"
            + " softcap=%s%s",
        seed,
        dtype,
        rank,
        batch,
        heads,
        kvHeads,
        queryLength,
        keyLength,
        headSize,
        valueSize,
        maskKind,
        Arrays.toString(maskShape),
        causal,
        scale,
        softcap,
        validKeys == null && leftWindow < 0 && rightWindow < 0
            ? ""
            : " window=" + leftWindow + "," + rightWindow + " valid=" + Arrays.toString(validKeys));
  }
}
