package io.github.djlattention.blocks;

import ai.djl.nn.Block;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import io.github.djlattention.testing.TestTensors;

/** Recomputes a block's forward pass in float64 from its parameters, with plain loops. */
final class BlockReference {

  private BlockReference() {}

  /** y = x·Wᵀ + b for x (rows, in) and W (out, in); b may be null. */
  static double[] linear(double[] x, int rows, double[] w, double[] b, int in, int out) {
    double[] y = new double[rows * out];
    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double acc = b == null ? 0 : b[o];
        for (int i = 0; i < in; i++) {
          acc += x[r * in + i] * w[o * in + i];
        }
        y[r * out + o] = acc;
      }
    }
    return y;
  }

  /** (B, L, N·D) → (B, N, L, D). */
  static Tensor splitHeads(double[] x, int batch, int length, int heads, int size) {
    double[] out = new double[x.length];
    for (int b = 0; b < batch; b++) {
      for (int l = 0; l < length; l++) {
        for (int h = 0; h < heads; h++) {
          for (int d = 0; d < size; d++) {
            out[((b * heads + h) * length + l) * size + d] =
                x[((b * length + l) * heads + h) * size + d];
          }
        }
      }
    }
    return new Tensor(out, new int[] {batch, heads, length, size});
  }

  /** (B, N, L, D) → (B, L, N·D). */
  static double[] mergeHeads(Tensor t) {
    int[] s = t.shape();
    double[] out = new double[t.data().length];
    for (int b = 0; b < s[0]; b++) {
      for (int h = 0; h < s[1]; h++) {
        for (int l = 0; l < s[2]; l++) {
          for (int d = 0; d < s[3]; d++) {
            out[((b * s[2] + l) * s[1] + h) * s[3] + d] =
                t.data()[((b * s[1] + h) * s[2] + l) * s[3] + d];
          }
        }
      }
    }
    return out;
  }

  static double[] param(Block block, String name) {
    return TestTensors.doubles(block.getParameters().get(name).getArray());
  }

  static double[] optParam(Block block, String name) {
    return block.getParameters().contains(name) ? param(block, name) : null;
  }

  /**
   * The multi-head block in float64.
   *
   * @return output (B, S, E), head-averaged weights (B, S, T) and per-head weights (B, H, S, T)
   */
  static double[][] multiHead(
      MultiHeadAttentionBlock block,
      double[] query,
      double[] key,
      double[] value,
      int batch,
      int queryLength,
      int keyLength,
      ReferenceAttention.Options options) {
    int e = (int) block.getEmbeddingSize();
    int h = block.getHeads();
    int g = block.getKvHeads();
    int d = (int) block.getHeadSize();
    int ek = (int) block.getKeySize();
    int ev = (int) block.getValueSize();
    double[] q =
        linear(
            query,
            batch * queryLength,
            param(block, "q_proj.weight"),
            optParam(block, "q_proj.bias"),
            e,
            h * d);
    double[] k =
        linear(
            key,
            batch * keyLength,
            param(block, "k_proj.weight"),
            optParam(block, "k_proj.bias"),
            ek,
            g * d);
    double[] v =
        linear(
            value,
            batch * keyLength,
            param(block, "v_proj.weight"),
            optParam(block, "v_proj.bias"),
            ev,
            g * d);
    ReferenceAttention.Result r =
        ReferenceAttention.attention(
            splitHeads(q, batch, queryLength, h, d),
            splitHeads(k, batch, keyLength, g, d),
            splitHeads(v, batch, keyLength, g, d),
            options);
    double[] merged = mergeHeads(r.output());
    double[] output =
        block.isIncludeOutputProjection()
            ? linear(
                merged,
                batch * queryLength,
                param(block, "out_proj.weight"),
                optParam(block, "out_proj.bias"),
                h * d,
                e)
            : merged;
    double[] averaged = new double[batch * queryLength * keyLength];
    double[] w = r.weights().data();
    for (int b = 0; b < batch; b++) {
      for (int head = 0; head < h; head++) {
        for (int i = 0; i < queryLength * keyLength; i++) {
          averaged[b * queryLength * keyLength + i] +=
              w[(b * h + head) * queryLength * keyLength + i] / h;
        }
      }
    }
    return new double[][] {output, averaged, w};
  }
}
