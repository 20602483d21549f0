package io.github.djlattention.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.reference.ReferenceAttention;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.LongStream;
import java.util.stream.Stream;

/**
 * Seeded attention problems at the ends of the compute type, for differential tests (issue 10, item
 * 4): additive masks at the type's lowest value (Hugging Face's padding, {@code finfo(dtype).min})
 * on whole rows or on some keys, huge masks of mixed sizes and signs, scales near overflow with
 * tiny queries and keys, queries whose product with the scale overflows while their scores do not,
 * tiny and huge softcaps, values near the largest finite value, and large scores. Each case has its
 * seed and kind in its name, so a failure can be rerun alone with {@link #generate}.
 *
 * <p>Every generated case is built so that the step-by-step chain's scores stay finite and the
 * chain agrees with the float64 {@link ReferenceAttention} within {@link Case#atol()}: huge mask
 * values are at least 1e30 in magnitude, so that both float32 and float64 swamp the scores beside
 * them (a mask of −1e10 would not be swamped in float64 and would make the two disagree). {@link
 * #refusedScalars} lists the scales and softcaps that must be refused instead.
 *
 * <p>A quarter of the cases are long enough to cross the prefill kernel's blocks (60–70 queries,
 * 500–1,100 keys); a third of the others are decode-shaped (1–4 queries, 500–1,600 keys, up to 8
 * query heads per key/value head).
 *
 * <p>Shape legend: B batch, H query heads, G key/value heads, S query length, T key length, D head
 * size, Dv value head size. All arrays are 4-D: query (B, H, S, D), key (B, G, T, D), value (B, G,
 * T, Dv), mask (B or 1, H or 1, S or 1, T).
 */
public final class ExtremeCases {

  private ExtremeCases() {}

  /** What a case pushes to the edge. */
  public enum Kind {
    /** Float mask: the lowest value on whole rows (padded queries), on trailing keys elsewhere. */
    PADDING_ROWS,
    /**
     * Float mask (B, 1, 1, T): the lowest value on each batch's leading keys (left padding, as for
     * generation) or trailing keys, maybe all of them.
     */
    PADDING_KEYS,
    /** Float mask of huge values of both signs and several sizes, some −∞, some 0. */
    HUGE_MIXED_MASK,
    /**
     * A scale from 1e20 to 2.5e38 (1e200 to 1e300 in float64), half of them above 1e37, with tiny
     * queries and keys: q·k is about 1/scale (the products, subnormal near the top, then round to
     * 0.7e-45 absolute, 2e-7 in the scores).
     */
    HUGE_SCALE,
    /** Queries near 1e35 and a scale above 1: their product overflows, the scores do not. */
    QUERY_TIMES_SCALE_OVERFLOWS,
    /** ±A on the query's dimensions against keys of ones: partial sums of A·scale overflow. */
    CANCELLING_QUERY,
    /** A softcap from the smallest normal value to 1e-20, and a small float mask. */
    TINY_SOFTCAP,
    /**
     * A softcap from 1e20 to the largest value, half of them above 1e38 (1e300 in float64):
     * c·tanh(x/c) is x.
     */
    HUGE_SOFTCAP,
    /** Values up to 0.9 of the largest value: their average is finite. */
    VALUES_NEAR_MAX,
    /** Scores of up to a few thousand in magnitude, across key blocks. */
    LARGE_SCORES
  }

  /** Returns the case for {@code seed} in float32 or float64. */
  public static Case generate(long seed, DataType dtype) {
    if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT64) {
      throw new IllegalArgumentException("extreme cases are float32 or float64, got " + dtype);
    }
    return new Case(seed, dtype);
  }

  /** Returns the cases for seeds {@code first} to {@code first + count - 1}. */
  public static Stream<Case> stream(long first, int count, DataType dtype) {
    return LongStream.range(first, first + count).mapToObj(seed -> generate(seed, dtype));
  }

  /**
   * A scale or softcap that the compute type cannot hold, which attention must refuse with an
   * {@link IllegalArgumentException} whose message contains {@link #message()}.
   *
   * @param option "scale" or "softcap"
   * @param value the value, finite and positive as a double
   * @param computeType "float32" or "float64"
   */
  public record Refused(String option, double value, String computeType) {

    /** The options carrying the value. */
    public AttentionOptions options() {
      AttentionOptions.Builder builder = AttentionOptions.builder();
      return option.equals("scale")
          ? builder.optScale(value).build()
          : builder.optSoftcap(value).build();
    }

    /** The part of the refusal's message that names the value and the type. */
    public String message() {
      return option + " " + value + " is outside the range " + computeType + " can compute with";
    }

    @Override
    public String toString() {
      return "refused " + option + " " + value + " (" + computeType + ")";
    }
  }

  /** Scales and softcaps beyond the normal numbers of the compute type of {@code dtype}. */
  public static List<Refused> refusedScalars(DataType dtype) {
    List<Refused> refused = new ArrayList<>();
    if (dtype == DataType.FLOAT64) {
      for (double value : new double[] {1e-310, Double.MIN_VALUE}) {
        refused.add(new Refused("scale", value, "float64"));
        refused.add(new Refused("softcap", value, "float64"));
      }
      return refused;
    }
    // +∞, the first value that rounds to +∞, 0, a subnormal and the largest subnormal in float32
    double[] values = {1e39, 3.4028235677973366e38, 1e-50, 1e-40, Math.nextDown(Float.MIN_NORMAL)};
    for (double value : values) {
      refused.add(new Refused("scale", value, "float32"));
      refused.add(new Refused("softcap", value, "float32"));
    }
    return refused;
  }

  /** One generated problem; the arrays are rebuilt from the seed on every call. */
  public static final class Case {

    private final long seed;
    private final DataType dtype;
    private final Kind kind;
    private final int batch;
    private final int heads;
    private final int kvHeads;
    private final int queryLength;
    private final int keyLength;
    private final int headSize;
    private final int valueSize;
    private final boolean causal;
    private final Double scale;
    private final Double softcap;
    private final double[] query;
    private final double[] key;
    private final double[] value;
    private final double[] mask;
    private final int[] maskShape;

    private Case(long seed, DataType dtype) {
      this.seed = seed;
      this.dtype = dtype;
      Random r = new Random(seed * 7919 + 17);
      // consecutive seeds take the kinds in turn
      this.kind = Kind.values()[(int) Math.floorMod(seed, (long) Kind.values().length)];
      boolean wide = dtype == DataType.FLOAT64;
      double lowest = wide ? -Double.MAX_VALUE : -Float.MAX_VALUE;
      double largest = wide ? Double.MAX_VALUE : Float.MAX_VALUE;
      // a quarter of the cases long enough to cross the native kernel's 64-row and 512-key blocks
      boolean longCase = r.nextInt(4) == 0 || kind == Kind.LARGE_SCORES;
      // a third of the others decode-shaped (issue 14): a few queries, up to 8 heads per group,
      // keys across the decode kernel's 512-key blocks (split into chunks where G and B are 1)
      boolean decodeCase = !longCase && Math.floorMod(seed, 3) == 1;
      this.batch = 1 + r.nextInt(2);
      this.kvHeads = 1 + r.nextInt(2);
      this.heads = kvHeads * (1 + r.nextInt(decodeCase ? 8 : 2));
      this.queryLength =
          longCase ? 60 + r.nextInt(11) : decodeCase ? 1 + r.nextInt(4) : 1 + r.nextInt(9);
      this.keyLength =
          longCase ? 500 + r.nextInt(600) : decodeCase ? 500 + r.nextInt(1100) : 1 + r.nextInt(9);
      // cancelling queries need D/2 >= 2 for their partial sums to overflow
      this.headSize = kind == Kind.CANCELLING_QUERY ? 2 * (2 + r.nextInt(3)) : 1 + r.nextInt(16);
      this.valueSize = 1 + r.nextInt(16);
      this.causal = r.nextInt(3) == 0;
      double[] q = uniform(r, batch * heads * queryLength * headSize);
      double[] k = uniform(r, batch * kvHeads * keyLength * headSize);
      double[] v = uniform(r, batch * kvHeads * keyLength * valueSize);
      Double caseScale = null;
      Double caseSoftcap = null;
      double[] caseMask = null;
      int[] caseMaskShape = null;
      switch (kind) {
        case PADDING_ROWS:
          {
            caseMaskShape = new int[] {batch, 1, queryLength, keyLength};
            caseMask = new double[batch * queryLength * keyLength];
            for (int b = 0; b < batch; b++) {
              int padded = r.nextInt(keyLength); // trailing keys padded in this batch
              for (int i = 0; i < queryLength; i++) {
                boolean rowPadded = r.nextInt(3) == 0; // a padded query: the whole row
                for (int j = 0; j < keyLength; j++) {
                  boolean hidden = rowPadded || j >= keyLength - padded;
                  caseMask[(b * queryLength + i) * keyLength + j] = hidden ? lowest : 0;
                }
              }
            }
            break;
          }
        case PADDING_KEYS:
          {
            caseMaskShape = new int[] {batch, 1, 1, keyLength};
            caseMask = new double[batch * keyLength];
            for (int b = 0; b < batch; b++) {
              // all of them a third of the time: a row of only the lowest value
              int padded = r.nextInt(3) == 0 ? keyLength : r.nextInt(keyLength + 1);
              boolean left = r.nextBoolean();
              for (int j = 0; j < keyLength; j++) {
                boolean hidden = left ? j < padded : j >= keyLength - padded;
                caseMask[b * keyLength + j] = hidden ? lowest : 0;
              }
            }
            break;
          }
        case HUGE_MIXED_MASK:
          {
            double[] choices = {
              0,
              0,
              Double.NEGATIVE_INFINITY,
              lowest,
              -Float.MAX_VALUE,
              -3e38,
              -2.4e38,
              -2.3e38,
              -1e38,
              -1e30,
              1e30,
              3e38,
              Float.MAX_VALUE
            };
            caseMaskShape = new int[] {1, heads, queryLength, keyLength};
            caseMask = new double[heads * queryLength * keyLength];
            for (int n = 0; n < caseMask.length; n++) {
              caseMask[n] = choices[r.nextInt(choices.length)];
            }
            break;
          }
        case HUGE_SCALE:
          {
            double exponent =
                wide
                    ? 200 + 100 * r.nextDouble()
                    : r.nextBoolean() ? 20 + 17 * r.nextDouble() : 37 + 1.4 * r.nextDouble();
            double s = Math.pow(10, exponent);
            caseScale = s;
            // q·k·scale of order 1: split 1/scale between q and k
            double split = 0.25 + 0.5 * r.nextDouble();
            double qMagnitude = Math.pow(s, -split);
            double kMagnitude = 3 / (s * qMagnitude);
            multiply(q, qMagnitude);
            multiply(k, kMagnitude);
            break;
          }
        case QUERY_TIMES_SCALE_OVERFLOWS:
          {
            double s = Math.pow(10, 1 + 3 * r.nextDouble()); // 10 to 1e4
            caseScale = s;
            double qMagnitude = wide ? 1e306 : 1e35;
            multiply(q, qMagnitude);
            multiply(k, 3 / (s * qMagnitude));
            break;
          }
        case CANCELLING_QUERY:
          {
            // q = (A, …, A, −A, …, −A) per row, keys of ones: q·k = 0, A·scale·D/2 overflows
            double a = wide ? 1e307 : 3e37;
            caseScale = 10.0;
            for (int n = 0; n < q.length; n++) {
              q[n] = (n % headSize) < headSize / 2 ? a : -a;
            }
            Arrays.fill(k, 1);
            break;
          }
        case TINY_SOFTCAP:
          {
            double min = wide ? Double.MIN_NORMAL : Float.MIN_NORMAL;
            caseSoftcap = min * Math.pow(10, r.nextDouble() * (Math.log10(1e-20 / min)));
            caseMaskShape = new int[] {1, 1, queryLength, keyLength};
            caseMask = new double[queryLength * keyLength];
            for (int n = 0; n < caseMask.length; n++) {
              caseMask[n] = 4 * r.nextDouble() - 2; // the scores are ±c, about 0: the mask decides
            }
            break;
          }
        case HUGE_SOFTCAP:
          {
            double low = r.nextBoolean() ? 1e20 : wide ? 1e300 : 1e38;
            caseSoftcap = low * Math.pow(10, r.nextDouble() * Math.log10(largest / low));
            multiply(q, 3); // scores up to ±3·D
            break;
          }
        case VALUES_NEAR_MAX:
          {
            double sign = r.nextBoolean() ? 1 : -1;
            for (int n = 0; n < v.length; n++) {
              v[n] = sign * largest * (0.5 + 0.4 * r.nextDouble()) * (r.nextInt(8) == 0 ? -1 : 1);
            }
            break;
          }
        case LARGE_SCORES:
          {
            caseScale = 1.0;
            multiply(q, 30 + 270 * r.nextDouble());
            break;
          }
        default:
          throw new AssertionError(kind);
      }
      this.scale = caseScale;
      this.softcap = caseSoftcap;
      this.query = roundTo(q, dtype);
      this.key = roundTo(k, dtype);
      this.value = roundTo(v, dtype);
      this.mask = caseMask == null ? null : roundTo(caseMask, dtype);
      this.maskShape = caseMaskShape;
    }

    /** The seed. */
    public long seed() {
      return seed;
    }

    /** What the case pushes to the edge. */
    public Kind kind() {
      return kind;
    }

    /** The inputs' dtype. */
    public DataType dtype() {
      return dtype;
    }

    /** Whether the values are near the largest finite value (see {@link Kind#VALUES_NEAR_MAX}). */
    public boolean valuesNearMax() {
      return kind == Kind.VALUES_NEAR_MAX;
    }

    /** The query (B, H, S, D). */
    public NDArray query(NDManager m) {
      return TestTensors.create(m, query, dtype, query4d());
    }

    /** The key (B, G, T, D). */
    public NDArray key(NDManager m) {
      return TestTensors.create(m, key, dtype, key4d());
    }

    /** The value (B, G, T, Dv). */
    public NDArray value(NDManager m) {
      return TestTensors.create(m, value, dtype, value4d());
    }

    /** The float mask in the inputs' dtype, broadcastable to (B, H, S, T), or null. */
    public NDArray mask(NDManager m) {
      return mask == null
          ? null
          : TestTensors.create(m, mask, dtype, Arrays.stream(maskShape).asLongStream().toArray());
    }

    /** The library options for this case, with the mask from {@link #mask}. */
    public AttentionOptions options(NDArray maskArray) {
      AttentionOptions.Builder builder =
          AttentionOptions.builder().optMask(maskArray).optCausal(causal);
      if (scale != null) {
        builder.optScale(scale);
      }
      if (softcap != null) {
        builder.optSoftcap(softcap);
      }
      return builder.build();
    }

    /** The float64 reference output and weights, from the values the arrays hold. */
    public ReferenceAttention.Result reference() {
      return ReferenceAttention.attention(
          new ReferenceAttention.Tensor(query, TestTensors.ints(query4d())),
          new ReferenceAttention.Tensor(key, TestTensors.ints(key4d())),
          new ReferenceAttention.Tensor(value, TestTensors.ints(value4d())),
          new ReferenceAttention.Options(
              mask == null ? null : new ReferenceAttention.Tensor(mask, maskShape),
              causal,
              scale,
              softcap));
    }

    /**
     * A tolerance for the output of any implementation against the chain and the reference: 1e-5
     * (float32) or 1e-12 (float64) of the largest value, plus the rounding of the largest score (4
     * units in the last place, relative to the largest value), which dominates for large scores.
     */
    public double atol() {
      double maxValue = Math.max(1, Arrays.stream(value).map(Math::abs).max().orElse(1));
      double maxScore = maxAbsScore();
      boolean wide = dtype == DataType.FLOAT64;
      double base = wide ? 1e-12 : 1e-5;
      double ulp = wide ? Math.ulp(maxScore) : Math.ulp((float) maxScore);
      return maxValue * (base + 4 * ulp);
    }

    /** The largest |q·k·scale| (before softcap and mask), in float64. */
    private double maxAbsScore() {
      double s = scale != null ? scale : 1 / Math.sqrt(headSize);
      int group = heads / kvHeads;
      double max = 0;
      for (int b = 0; b < batch; b++) {
        for (int h = 0; h < heads; h++) {
          for (int i = 0; i < queryLength; i++) {
            for (int j = 0; j < keyLength; j++) {
              double dot = 0;
              for (int d = 0; d < headSize; d++) {
                dot +=
                    query[((b * heads + h) * queryLength + i) * headSize + d]
                        * key[((b * kvHeads + h / group) * keyLength + j) * headSize + d];
              }
              max = Math.max(max, Math.abs(dot * s));
            }
          }
        }
      }
      return softcap != null ? Math.min(max, softcap) : max;
    }

    /** (B, H, S, D). */
    public long[] query4d() {
      return new long[] {batch, heads, queryLength, headSize};
    }

    /** (B, G, T, D). */
    public long[] key4d() {
      return new long[] {batch, kvHeads, keyLength, headSize};
    }

    /** (B, G, T, Dv). */
    public long[] value4d() {
      return new long[] {batch, kvHeads, keyLength, valueSize};
    }

    /** (B, H, S, Dv). */
    public long[] outputShape() {
      return new long[] {batch, heads, queryLength, valueSize};
    }

    @Override
    public String toString() {
      return String.format(
          "extreme seed=%d %s %s B=%d H=%d G=%d S=%d T=%d D=%d Dv=%d mask=%s causal=%b scale=%s"
              + " softcap=%s",
          seed,
          kind,
          dtype,
          batch,
          heads,
          kvHeads,
          queryLength,
          keyLength,
          headSize,
          valueSize,
          maskShape == null ? "none" : Arrays.toString(maskShape),
          causal,
          scale,
          softcap);
    }
  }

  private static double[] uniform(Random r, int size) {
    return TestTensors.uniform(r, size);
  }

  private static void multiply(double[] data, double factor) {
    for (int n = 0; n < data.length; n++) {
      data[n] *= factor;
    }
  }

  /** The values as arrays of {@code dtype} hold them. */
  private static double[] roundTo(double[] data, DataType dtype) {
    if (dtype == DataType.FLOAT64) {
      return data;
    }
    double[] rounded = new double[data.length];
    for (int n = 0; n < data.length; n++) {
      rounded[n] = (float) data[n];
    }
    return rounded;
  }
}
