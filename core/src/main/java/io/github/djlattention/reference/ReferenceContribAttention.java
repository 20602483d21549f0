package io.github.djlattention.reference;

import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * ONNX Runtime's fused {@code com.microsoft} attention operators in plain float64 loops: the
 * control for the adapters of {@code io.github.djlattention.ops.contrib}, whose javadoc states the
 * semantics. Nothing here comes from the adapters: the node's attributes are records of this class,
 * and the head split, packed layouts, projections, caches, rotary embedding and every mask are
 * written out element by element; the attention itself is {@link ReferenceAttention}.
 *
 * <p>Inputs and outputs are row-major {@link Tensor}s by ONNX name; integer inputs hold their
 * values as doubles. Legend: B batch, S query length, L new key length, P past length, T total key
 * length, H heads, G key/value heads, D head size, Dv value head size, M a buffer's length.
 */
public final class ReferenceContribAttention {

  private ReferenceContribAttention() {}

  /**
   * The outputs by ONNX name and the attention weights.
   *
   * @param outputs {@code output} and the caches ({@code present_key} and {@code present_value}, or
   *     {@code present})
   * @param weights (B, H, S, T)
   */
  public record Result(Map<String, Tensor> outputs, Tensor weights) {}

  /**
   * {@code MultiHeadAttention}'s attributes.
   *
   * @param numHeads {@code num_heads}
   * @param scale {@code scale}, or null for 1/√D
   * @param maskFilterValue {@code mask_filter_value}
   * @param unidirectional {@code unidirectional}
   */
  public record MultiHeadAttributes(
      int numHeads, Float scale, float maskFilterValue, boolean unidirectional) {}

  /**
   * {@code GroupQueryAttention}'s attributes.
   *
   * @param numHeads {@code num_heads}
   * @param kvNumHeads {@code kv_num_heads}
   * @param scale {@code scale}, or null for 1/√D
   * @param softcap {@code softcap}, or null for none
   * @param localWindowSize {@code local_window_size}, -1 for none
   * @param doRotary {@code do_rotary}
   * @param rotaryInterleaved {@code rotary_interleaved}
   * @param causal {@code causal}
   */
  public record GroupQueryAttributes(
      int numHeads,
      int kvNumHeads,
      Float scale,
      Float softcap,
      int localWindowSize,
      boolean doRotary,
      boolean rotaryInterleaved,
      boolean causal) {}

  /**
   * {@code Attention}'s attributes.
   *
   * @param numHeads {@code num_heads}
   * @param qkvHiddenSizes {@code qkv_hidden_sizes}, or null for three equal widths
   * @param scale {@code scale}, or null for 1/√D
   * @param maskFilterValue {@code mask_filter_value}
   * @param unidirectional {@code unidirectional}
   * @param pastPresentShareBuffer {@code past_present_share_buffer}
   */
  public record AttentionAttributes(
      int numHeads,
      long[] qkvHiddenSizes,
      Float scale,
      float maskFilterValue,
      boolean unidirectional,
      boolean pastPresentShareBuffer) {}

  /** A (B, N, L, D) array of heads. */
  private record Heads(double[] data, int batch, int heads, int length, int size) {
    Heads(int batch, int heads, int length, int size) {
      this(new double[batch * heads * length * size], batch, heads, length, size);
    }

    double get(int b, int n, int l, int d) {
      return data[((b * heads + n) * length + l) * size + d];
    }

    void set(int b, int n, int l, int d, double value) {
      data[((b * heads + n) * length + l) * size + d] = value;
    }

    Tensor tensor() {
      return new Tensor(data, new int[] {batch, heads, length, size});
    }
  }

  // ---- MultiHeadAttention ----------------------------------------------------------------------

  /**
   * {@code com.microsoft.MultiHeadAttention} in float64.
   *
   * @param op the node's attributes
   * @param in the inputs by ONNX name
   * @return {@code output}, {@code present_key}, {@code present_value} and the weights
   * @throws IllegalArgumentException when the inputs do not fit
   */
  public static Result multiHeadAttention(MultiHeadAttributes op, Map<String, Tensor> in) {
    int h = op.numHeads();
    Tensor query = require(in, "query");
    int batch = query.shape()[0];
    int length = query.shape()[1];
    Tensor bias = in.get("bias");
    Heads q;
    Heads k;
    Heads v;
    boolean biasOnKeys = true;
    if (query.shape().length == 5) { // (B, S, H, 3, D)
      int d = query.shape()[4];
      q = unpack(query, 0, 3, h, d, bias, 0);
      k = unpack(query, 1, 3, h, d, bias, h * d);
      v = unpack(query, 2, 3, h, d, bias, 2 * h * d);
    } else {
      int d = query.shape()[2] / h;
      q = split(query, h, bias, 0);
      Tensor key = require(in, "key");
      if (key.shape().length == 5) { // (B, L, H, 2, D)
        k = unpack(key, 0, 2, h, d, bias, h * d);
        v = unpack(key, 1, 2, h, d, bias, 2 * h * d);
      } else if (key.shape().length == 4) { // (B, H, L, D): used as is
        k = asHeads(key);
        v = asHeads(require(in, "value"));
        biasOnKeys = false;
      } else {
        k = split(key, h, bias, h * d);
        v = split(require(in, "value"), h, bias, 2 * h * d);
      }
    }
    if (!biasOnKeys && bias != null) {
      throw new IllegalArgumentException("no bias with keys in (B, H, L, D)");
    }
    Tensor pastKey = in.get("past_key");
    Tensor pastValue = in.get("past_value");
    Tensor shared = in.get("past_sequence_length");
    int past = 0;
    Heads presentKey = k;
    Heads presentValue = v;
    int total = k.length();
    if (pastKey != null) {
      if (shared == null) {
        past = pastKey.shape()[2];
        presentKey = append(asHeads(pastKey), k);
        presentValue = append(asHeads(pastValue), v);
        total = past + k.length();
      } else {
        past = (int) shared.data()[0];
        presentKey = overwrite(asHeads(pastKey), k, past);
        presentValue = overwrite(asHeads(pastValue), v, past);
        total = past + k.length();
      }
    }
    boolean[][][] hidden = new boolean[batch][length][total];
    Tensor padding = in.get("key_padding_mask");
    if (padding != null) {
      hideByMask(hidden, padding, past, false);
    }
    if (op.unidirectional()) {
      hideLater(hidden, past);
    }
    Tensor mask = additive(hidden, in.get("attention_bias"), h, op.maskFilterValue());
    ReferenceAttention.Result r =
        ReferenceAttention.attention(
            q.tensor(),
            prefix(presentKey, total).tensor(),
            prefix(presentValue, total).tensor(),
            new ReferenceAttention.Options(mask, false, toDouble(op.scale()), null));
    Map<String, Tensor> outputs = new LinkedHashMap<>();
    outputs.put("output", merge(r.output()));
    outputs.put("present_key", presentKey.tensor());
    outputs.put("present_value", presentValue.tensor());
    return new Result(outputs, r.weights());
  }

  // ---- GroupQueryAttention ---------------------------------------------------------------------

  /**
   * {@code com.microsoft.GroupQueryAttention} in float64.
   *
   * @param op the node's attributes
   * @param in the inputs by ONNX name
   * @return {@code output}, {@code present_key}, {@code present_value} and the weights
   * @throws IllegalArgumentException when the inputs do not fit
   */
  public static Result groupQueryAttention(GroupQueryAttributes op, Map<String, Tensor> in) {
    int h = op.numHeads();
    int g = op.kvNumHeads();
    Tensor query = require(in, "query");
    int batch = query.shape()[0];
    int length = query.shape()[1];
    Heads q;
    Heads k;
    Heads v;
    if (in.get("key") == null) { // (B, S, (H + 2G)·D)
      int d = query.shape()[2] / (h + 2 * g);
      q = columns(query, 0, h, d);
      k = columns(query, h * d, g, d);
      v = columns(query, (h + g) * d, g, d);
    } else {
      int d = query.shape()[2] / h;
      q = columns(query, 0, h, d);
      k = columns(require(in, "key"), 0, g, d);
      v = columns(require(in, "value"), 0, g, d);
    }
    int d = q.size();
    double[] seqlens = require(in, "seqlens_k").data();
    int total = (int) require(in, "total_sequence_length").data()[0];
    boolean firstPrompt = total == length;
    int[] valid = new int[batch];
    int[] past = new int[batch];
    int longest = 0;
    for (int b = 0; b < batch; b++) {
      valid[b] = (int) seqlens[b] + 1;
      past[b] = firstPrompt ? 0 : valid[b] - length;
      longest = Math.max(longest, valid[b]);
    }
    Tensor pastKey = in.get("past_key");
    int buffer = pastKey == null ? 0 : pastKey.shape()[2];
    for (int b = 0; b < batch; b++) {
      if (past[b] < 0 || past[b] > buffer) {
        throw new IllegalArgumentException(
            "batch " + b + " needs " + past[b] + " cached rows; the buffer has " + buffer);
      }
    }
    if (longest != total) {
      throw new IllegalArgumentException(
          "total_sequence_length " + total + " is not the longest batch " + longest);
    }
    if (op.doRotary()) {
      Tensor cos = require(in, "cos_cache");
      Tensor sin = require(in, "sin_cache");
      q = rotate(q, cos, sin, past, op.rotaryInterleaved());
      k = rotate(k, cos, sin, past, op.rotaryInterleaved());
    }
    int present = Math.max(buffer, total);
    Heads presentKey = cache(pastKey, k, past, present);
    Heads presentValue = cache(in.get("past_value"), v, past, present);

    Tensor bias = in.get("attention_bias");
    double[] mask = new double[batch * h * length * present];
    for (int b = 0; b < batch; b++) {
      for (int n = 0; n < h; n++) {
        for (int i = 0; i < length; i++) {
          int position = past[b] + i;
          for (int j = 0; j < present; j++) {
            boolean hidden = j >= valid[b];
            if (op.causal()) {
              hidden |= j > position;
              hidden |= op.localWindowSize() >= 0 && j < position - op.localWindowSize();
            }
            double m = hidden ? Double.NEGATIVE_INFINITY : 0;
            if (bias != null && j < total) {
              m += broadcast(bias, b, n, i, j);
            }
            mask[((b * h + n) * length + i) * present + j] = m;
          }
        }
      }
    }
    ReferenceAttention.Result r =
        ReferenceAttention.attention(
            q.tensor(),
            presentKey.tensor(),
            presentValue.tensor(),
            new ReferenceAttention.Options(
                new Tensor(mask, new int[] {batch, h, length, present}),
                false,
                toDouble(op.scale()),
                toDouble(op.softcap())));
    double[] output = r.output().data().clone(); // (B, H, S, D)
    double[] weights = r.weights().data().clone(); // (B, H, S, M)
    if (firstPrompt) { // padding query rows: unspecified, zeros
      for (int b = 0; b < batch; b++) {
        for (int n = 0; n < h; n++) {
          for (int i = valid[b]; i < length; i++) {
            Arrays.fill(
                output, ((b * h + n) * length + i) * d, ((b * h + n) * length + i + 1) * d, 0);
            Arrays.fill(
                weights,
                ((b * h + n) * length + i) * present,
                ((b * h + n) * length + i + 1) * present,
                0);
          }
        }
      }
    }
    Map<String, Tensor> outputs = new LinkedHashMap<>();
    outputs.put("output", merge(new Tensor(output, r.output().shape())));
    outputs.put("present_key", presentKey.tensor());
    outputs.put("present_value", presentValue.tensor());
    return new Result(outputs, new Tensor(weights, r.weights().shape()));
  }

  // ---- Attention -------------------------------------------------------------------------------

  /**
   * {@code com.microsoft.Attention} in float64.
   *
   * @param op the node's attributes
   * @param in the inputs by ONNX name
   * @return {@code output}, {@code present} (2, B, H, T or M, D) and the weights
   * @throws IllegalArgumentException when the inputs do not fit
   */
  public static Result attention(AttentionAttributes op, Map<String, Tensor> in) {
    int h = op.numHeads();
    Tensor x = require(in, "input");
    Tensor w = require(in, "weights");
    Tensor bias = in.get("bias");
    int batch = x.shape()[0];
    int length = x.shape()[1];
    int features = x.shape()[2];
    int columns = w.shape()[1];
    long[] sizes =
        op.qkvHiddenSizes() != null
            ? op.qkvHiddenSizes()
            : new long[] {columns / 3, columns / 3, columns / 3};
    if (sizes[0] + sizes[1] + sizes[2] != columns || sizes[0] != sizes[1]) {
      throw new IllegalArgumentException(
          "widths " + Arrays.toString(sizes) + " do not split " + columns + " columns");
    }
    // input·W + bias, (B, S, columns)
    double[] projected = new double[batch * length * columns];
    for (int r = 0; r < batch * length; r++) {
      for (int c = 0; c < columns; c++) {
        double acc = bias == null ? 0 : bias.data()[c];
        for (int e = 0; e < features; e++) {
          acc += x.data()[r * features + e] * w.data()[e * columns + c];
        }
        projected[r * columns + c] = acc;
      }
    }
    Tensor all = new Tensor(projected, new int[] {batch, length, columns});
    Heads q = columns(all, 0, h, (int) sizes[0] / h);
    Heads k = columns(all, (int) sizes[0], h, (int) sizes[1] / h);
    Heads v = columns(all, (int) (sizes[0] + sizes[1]), h, (int) sizes[2] / h);
    Tensor pastTensor = in.get("past");
    int past = 0;
    Heads presentKey = k;
    Heads presentValue = v;
    if (pastTensor != null) {
      Heads[] kv = unstack(pastTensor);
      if (op.pastPresentShareBuffer()) {
        past = (int) require(in, "past_sequence_length").data()[0];
        presentKey = overwrite(kv[0], k, past);
        presentValue = overwrite(kv[1], v, past);
      } else {
        past = kv[0].length();
        presentKey = append(kv[0], k);
        presentValue = append(kv[1], v);
      }
    }
    int total = past + length;
    boolean[][][] hidden = new boolean[batch][length][total];
    Tensor maskIndex = in.get("mask_index");
    if (maskIndex != null) {
      hideByMask(hidden, maskIndex, past, true);
    }
    if (op.unidirectional()) {
      hideLater(hidden, past);
    }
    Tensor mask = additive(hidden, in.get("attention_bias"), h, op.maskFilterValue());
    ReferenceAttention.Result r =
        ReferenceAttention.attention(
            q.tensor(),
            prefix(presentKey, total).tensor(),
            prefix(presentValue, total).tensor(),
            new ReferenceAttention.Options(mask, false, toDouble(op.scale()), null));
    Map<String, Tensor> outputs = new LinkedHashMap<>();
    outputs.put("output", merge(r.output()));
    if (presentKey.size() == presentValue.size()) { // (2, B, H, T or M, D)
      double[] stacked = new double[presentKey.data().length * 2];
      System.arraycopy(presentKey.data(), 0, stacked, 0, presentKey.data().length);
      System.arraycopy(
          presentValue.data(), 0, stacked, presentKey.data().length, presentValue.data().length);
      outputs.put(
          "present",
          new Tensor(stacked, new int[] {2, batch, h, presentKey.length(), presentKey.size()}));
    }
    return new Result(outputs, r.weights());
  }

  // ---- layouts ---------------------------------------------------------------------------------

  /** Columns offset … offset + N·D of a (B, L, ·) tensor, as heads (B, N, L, D). */
  private static Heads columns(Tensor t, int offset, int heads, int size) {
    int batch = t.shape()[0];
    int length = t.shape()[1];
    int width = t.shape()[2];
    Heads out = new Heads(batch, heads, length, size);
    for (int b = 0; b < batch; b++) {
      for (int l = 0; l < length; l++) {
        for (int n = 0; n < heads; n++) {
          for (int d = 0; d < size; d++) {
            out.set(b, n, l, d, t.data()[(b * length + l) * width + offset + n * size + d]);
          }
        }
      }
    }
    return out;
  }

  /** A (B, L, H·D) tensor plus bias[offset …] as heads (B, H, L, D). */
  private static Heads split(Tensor t, int heads, Tensor bias, int offset) {
    Heads out = columns(t, 0, heads, t.shape()[2] / heads);
    if (bias != null) {
      addBias(out, bias, offset);
    }
    return out;
  }

  /** Slot {@code slot} of a packed (B, L, H, n, D) tensor plus bias[offset …], as (B, H, L, D). */
  private static Heads unpack(
      Tensor t, int slot, int slots, int heads, int size, Tensor bias, int offset) {
    int batch = t.shape()[0];
    int length = t.shape()[1];
    Heads out = new Heads(batch, heads, length, size);
    for (int b = 0; b < batch; b++) {
      for (int l = 0; l < length; l++) {
        for (int n = 0; n < heads; n++) {
          for (int d = 0; d < size; d++) {
            out.set(
                b, n, l, d, t.data()[(((b * length + l) * heads + n) * slots + slot) * size + d]);
          }
        }
      }
    }
    if (bias != null) {
      addBias(out, bias, offset);
    }
    return out;
  }

  private static void addBias(Heads x, Tensor bias, int offset) {
    for (int b = 0; b < x.batch(); b++) {
      for (int n = 0; n < x.heads(); n++) {
        for (int l = 0; l < x.length(); l++) {
          for (int d = 0; d < x.size(); d++) {
            x.set(b, n, l, d, x.get(b, n, l, d) + bias.data()[offset + n * x.size() + d]);
          }
        }
      }
    }
  }

  private static Heads asHeads(Tensor t) {
    int[] s = t.shape();
    return new Heads(t.data().clone(), s[0], s[1], s[2], s[3]);
  }

  /** (2, B, H, P, D) into keys and values. */
  private static Heads[] unstack(Tensor t) {
    int[] s = t.shape();
    int half = t.data().length / 2;
    return new Heads[] {
      new Heads(Arrays.copyOfRange(t.data(), 0, half), s[1], s[2], s[3], s[4]),
      new Heads(Arrays.copyOfRange(t.data(), half, 2 * half), s[1], s[2], s[3], s[4])
    };
  }

  private static Heads append(Heads past, Heads current) {
    Heads out =
        new Heads(past.batch(), past.heads(), past.length() + current.length(), past.size());
    for (int b = 0; b < out.batch(); b++) {
      for (int n = 0; n < out.heads(); n++) {
        for (int l = 0; l < out.length(); l++) {
          for (int d = 0; d < out.size(); d++) {
            out.set(
                b,
                n,
                l,
                d,
                l < past.length() ? past.get(b, n, l, d) : current.get(b, n, l - past.length(), d));
          }
        }
      }
    }
    return out;
  }

  /** The buffer with rows at … at + L − 1 replaced. */
  private static Heads overwrite(Heads buffer, Heads rows, int at) {
    if (at < 0 || at + rows.length() > buffer.length()) {
      throw new IllegalArgumentException(
          "rows "
              + at
              + " … "
              + (at + rows.length())
              + " do not fit a buffer of "
              + buffer.length());
    }
    Heads out =
        new Heads(
            buffer.data().clone(), buffer.batch(), buffer.heads(), buffer.length(), buffer.size());
    for (int b = 0; b < out.batch(); b++) {
      for (int n = 0; n < out.heads(); n++) {
        for (int l = 0; l < rows.length(); l++) {
          for (int d = 0; d < out.size(); d++) {
            out.set(b, n, at + l, d, rows.get(b, n, l, d));
          }
        }
      }
    }
    return out;
  }

  /** GroupQueryAttention's present: per batch, past rows, new rows at P_b, the rest of the past. */
  private static Heads cache(Tensor past, Heads rows, int[] at, int length) {
    Heads out = new Heads(rows.batch(), rows.heads(), length, rows.size());
    for (int b = 0; b < out.batch(); b++) {
      for (int n = 0; n < out.heads(); n++) {
        for (int l = 0; l < length; l++) {
          for (int d = 0; d < out.size(); d++) {
            double value = 0;
            if (l >= at[b] && l < at[b] + rows.length()) {
              value = rows.get(b, n, l - at[b], d);
            } else if (past != null && l < past.shape()[2]) {
              value = past.data()[((b * out.heads() + n) * past.shape()[2] + l) * out.size() + d];
            }
            out.set(b, n, l, d, value);
          }
        }
      }
    }
    return out;
  }

  /** The first T rows of (B, N, ·, D). */
  private static Heads prefix(Heads x, int length) {
    if (length == x.length()) {
      return x;
    }
    Heads out = new Heads(x.batch(), x.heads(), length, x.size());
    for (int b = 0; b < x.batch(); b++) {
      for (int n = 0; n < x.heads(); n++) {
        for (int l = 0; l < length; l++) {
          for (int d = 0; d < x.size(); d++) {
            out.set(b, n, l, d, x.get(b, n, l, d));
          }
        }
      }
    }
    return out;
  }

  /** (B, H, S, Dv) to (B, S, H·Dv). */
  private static Tensor merge(Tensor t) {
    int[] s = t.shape();
    double[] out = new double[t.data().length];
    for (int b = 0; b < s[0]; b++) {
      for (int n = 0; n < s[1]; n++) {
        for (int i = 0; i < s[2]; i++) {
          for (int d = 0; d < s[3]; d++) {
            out[((b * s[2] + i) * s[1] + n) * s[3] + d] =
                t.data()[((b * s[1] + n) * s[2] + i) * s[3] + d];
          }
        }
      }
    }
    return new Tensor(out, new int[] {s[0], s[2], s[1] * s[3]});
  }

  // ---- rotary ----------------------------------------------------------------------------------

  /** Rotates the first R features of each token at position P_b + i by row p of the caches. */
  private static Heads rotate(Heads x, Tensor cos, Tensor sin, int[] past, boolean interleaved) {
    int half = cos.shape()[1];
    Heads out = new Heads(x.data().clone(), x.batch(), x.heads(), x.length(), x.size());
    for (int b = 0; b < x.batch(); b++) {
      for (int n = 0; n < x.heads(); n++) {
        for (int i = 0; i < x.length(); i++) {
          int p = past[b] + i;
          for (int d = 0; d < half; d++) {
            int first = interleaved ? 2 * d : d;
            int second = interleaved ? 2 * d + 1 : d + half;
            double a = x.get(b, n, i, first);
            double c = x.get(b, n, i, second);
            double cs = cos.data()[p * half + d];
            double sn = sin.data()[p * half + d];
            out.set(b, n, i, first, a * cs - c * sn);
            out.set(b, n, i, second, c * cs + a * sn);
          }
        }
      }
    }
    return out;
  }

  // ---- masks -----------------------------------------------------------------------------------

  /**
   * Marks the keys an integer mask hides: (B) lengths; (2B) end and start positions; (B, T); (B, S,
   * T); (B, 1, M, M) read at rows P + i.
   */
  private static void hideByMask(boolean[][][] hidden, Tensor mask, int past, boolean maskIndex) {
    int batch = hidden.length;
    int length = hidden[0].length;
    int total = hidden[0][0].length;
    int[] s = mask.shape();
    double[] m = mask.data();
    for (int b = 0; b < batch; b++) {
      for (int i = 0; i < length; i++) {
        for (int j = 0; j < total; j++) {
          boolean hide;
          if (s.length == 1 && s[0] == batch) {
            hide = j >= m[b];
          } else if (s.length == 1 && maskIndex && s[0] == 2 * batch) {
            hide = j >= m[b] || j < m[batch + b];
          } else if (s.length == 2 && s[1] == total) {
            hide = m[b * total + j] == 0;
          } else if (s.length == 3 && s[1] == length && s[2] == total) {
            hide = m[(b * length + i) * total + j] == 0;
          } else if (s.length == 4 && maskIndex) {
            hide = m[(b * s[2] + past + i) * s[3] + j] == 0;
          } else {
            throw new IllegalArgumentException("no mask layout " + Arrays.toString(s));
          }
          hidden[b][i][j] |= hide;
        }
      }
    }
  }

  /** Query i, the token at position P + i, sees keys j ≤ P + i. */
  private static void hideLater(boolean[][][] hidden, int past) {
    for (boolean[][] rows : hidden) {
      for (int i = 0; i < rows.length; i++) {
        for (int j = past + i + 1; j < rows[i].length; j++) {
          rows[i][j] = true;
        }
      }
    }
  }

  /** (B, H, S, T): the attention bias plus the fill value, once, on every hidden key. */
  private static Tensor additive(boolean[][][] hidden, Tensor bias, int heads, float fill) {
    int batch = hidden.length;
    int length = hidden[0].length;
    int total = hidden[0][0].length;
    double[] mask = new double[batch * heads * length * total];
    for (int b = 0; b < batch; b++) {
      for (int n = 0; n < heads; n++) {
        for (int i = 0; i < length; i++) {
          for (int j = 0; j < total; j++) {
            double value = hidden[b][i][j] ? fill : 0;
            if (bias != null) {
              value += broadcast(bias, b, n, i, j);
            }
            mask[((b * heads + n) * length + i) * total + j] = value;
          }
        }
      }
    }
    return new Tensor(mask, new int[] {batch, heads, length, total});
  }

  /** An element of a (B or 1, H or 1, S, ·) bias. */
  private static double broadcast(Tensor bias, int b, int n, int i, int j) {
    int[] s = bias.shape();
    int bb = s[0] == 1 ? 0 : b;
    int nn = s[1] == 1 ? 0 : n;
    return bias.data()[((bb * s[1] + nn) * s[2] + i) * s[3] + j];
  }

  private static Tensor require(Map<String, Tensor> in, String name) {
    Tensor t = in.get(name);
    if (t == null) {
      throw new IllegalArgumentException("missing input '" + name + "'");
    }
    return t;
  }

  private static Double toDouble(Float value) {
    return value == null ? null : value.doubleValue();
  }
}
