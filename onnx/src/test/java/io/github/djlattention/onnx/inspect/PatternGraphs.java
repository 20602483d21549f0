package io.github.djlattention.onnx.inspect;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import io.github.djlattention.onnx.OnnxGraphBuilder;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Small ONNX graphs that write attention out in the ways exporters do, and graphs around ONNX
 * Runtime's fused attention operators, for the graph analysis and for verify-model's tests. Every
 * graph runs on ONNX Runtime 1.26 (CPU). Weights are seeded uniform values in [-0.5, 0.5).
 *
 * <p>Shape legend: B batch (symbolic), S sequence (symbolic), E = 16 embedding, H = 4 heads, D = 4
 * head size.
 */
public final class PatternGraphs {

  /** Embedding size of every graph. */
  public static final long E = 16;

  /** Heads of every graph. */
  public static final long H = 4;

  /** Head size. */
  public static final long D = E / H;

  private static final int FLOAT = 1;
  private static final int BOOL = 9;
  private static final int INT32 = 6;

  private PatternGraphs() {}

  /** A seeded weight. */
  private static NDArray weight(NDManager manager, long seed, long... shape) {
    manager.getEngine().setRandomSeed((int) seed);
    return manager.randomUniform(-0.5f, 0.5f, new Shape(shape), DataType.FLOAT32);
  }

  /** x (B, S, E) → MatMul(W) + b, then Reshape (B, S, H, D) and Transpose to (B, H, S, D). */
  private static String projectHeads(
      OnnxGraphBuilder g, NDManager m, String x, String name, long seed, long... perm) {
    String w = g.initializer(name + ".weight", weight(m, seed, E, E));
    String b = g.initializer(name + ".bias", weight(m, seed + 100, E));
    String y = g.node("Add", name + "_biased", List.of(g.node("MatMul", name, List.of(x, w)), b));
    String split =
        g.node("Reshape", name + "_heads", List.of(y, g.longs("shape_" + name, false, 0, 0, H, D)));
    return g.node("Transpose", name + "_t", List.of(split), OnnxGraphBuilder.ints("perm", perm));
  }

  private static String outputProjection(OnnxGraphBuilder g, NDManager m, String context) {
    String tokens =
        g.node(
            "Transpose",
            "context_tokens",
            List.of(context),
            OnnxGraphBuilder.ints("perm", 0, 2, 1, 3));
    String merged =
        g.node("Reshape", "merged", List.of(tokens, g.longs("merge_shape", false, 0, 0, E)));
    String w = g.initializer("o.weight", weight(m, 9, E, E));
    String b = g.initializer("o.bias", weight(m, 109, E));
    return g.node("Add", "attn_out", List.of(b, g.node("MatMul", "o", List.of(merged, w))));
  }

  /**
   * BERT-style self-attention with a padding mask: Q·Kᵀ with Kᵀ from Transpose(0, 2, 3, 1), scores
   * multiplied by {@code scale} (0.5 = 1/√D), an additive mask {@code (1 − mask)·(−10000)} from an
   * int64 {@code attention_mask} (B, S), Softmax, MatMul with V, the output projection. Inputs:
   * {@code x} (B, S, E) float, {@code attention_mask} (B, S) int64.
   */
  public static ModelProto bertStyle(NDManager m, float scale) {
    OnnxGraphBuilder g = new OnnxGraphBuilder("bert_style", 17);
    String x = g.input("x", FLOAT, "batch", "seq", E);
    String mask = g.input("attention_mask", 7, "batch", "seq");
    String q = projectHeads(g, m, x, "q", 1, 0, 2, 1, 3);
    String kT = projectHeads(g, m, x, "k", 2, 0, 2, 3, 1);
    String v = projectHeads(g, m, x, "v", 3, 0, 2, 1, 3);
    String scores =
        g.node(
            "Mul",
            "scores",
            List.of(g.node("MatMul", "qk", List.of(q, kT)), g.scalar("scale", scale)));
    String m4 =
        g.node("Unsqueeze", "mask4", List.of(mask, g.longs("axes", false, 1, 2))); // (B, 1, 1, S)
    String keep = g.node("Cast", "keep", List.of(m4), OnnxGraphBuilder.attribute("to", 1L));
    String additive =
        g.node(
            "Mul",
            "additive",
            List.of(
                g.node("Sub", "hidden", List.of(g.scalar("one", 1f), keep)),
                g.scalar("big", -10000f)));
    String masked = g.node("Add", "masked", List.of(scores, additive));
    String p = g.node("Softmax", "probs", List.of(masked), OnnxGraphBuilder.attribute("axis", -1L));
    String context = g.node("MatMul", "context", List.of(p, v));
    String out = outputProjection(g, m, context);
    g.output(out, FLOAT, "batch", "seq", E);
    return g.build(Map.of());
  }

  /**
   * GPT-style causal attention, packed: one MatMul to (B, S, 3E), Split into Q, K, V, the scale on
   * Q and on Kᵀ (each 1/√√D, as some exports write it), a causal Where with a lower-triangular bool
   * constant sliced to (S, S), Softmax, MatMul with V. Input {@code x} (B, S, E), S ≤ 8.
   */
  public static ModelProto gptStyle(NDManager m) {
    OnnxGraphBuilder g = new OnnxGraphBuilder("gpt_style", 17);
    String x = g.input("x", FLOAT, "batch", "seq", E);
    String w = g.initializer("c_attn.weight", weight(m, 4, E, 3 * E));
    String b = g.initializer("c_attn.bias", weight(m, 104, 3 * E));
    String qkv = g.node("Add", "qkv", List.of(g.node("MatMul", "c_attn", List.of(x, w)), b));
    String q0 = g.fresh("q0");
    String k0 = g.fresh("k0");
    String v0 = g.fresh("v0");
    g.node(
        "Split",
        List.of(qkv, g.longs("split", false, E, E, E)),
        List.of(q0, k0, v0),
        OnnxGraphBuilder.attribute("axis", 2L));
    String[] heads = new String[3];
    String[] names = {q0, k0, v0};
    long[][] perms = {{0, 2, 1, 3}, {0, 2, 3, 1}, {0, 2, 1, 3}};
    for (int i = 0; i < 3; i++) {
      String r =
          g.node("Reshape", "heads", List.of(names[i], g.longs("heads_shape", false, 0, 0, H, D)));
      heads[i] =
          g.node("Transpose", "heads_t", List.of(r), OnnxGraphBuilder.ints("perm", perms[i]));
    }
    float quarter = (float) Math.pow(D, -0.25);
    String q = g.node("Mul", "q_scaled", List.of(heads[0], g.scalar("q_scale", quarter)));
    String kT = g.node("Mul", "k_scaled", List.of(g.scalar("k_scale", quarter), heads[1]));
    String scores = g.node("MatMul", "qk", List.of(q, kT));
    boolean[] lower = new boolean[64];
    for (int i = 0; i < 8; i++) {
      for (int j = 0; j <= i; j++) {
        lower[i * 8 + j] = true;
      }
    }
    String bias = g.initializer("bias", m.create(lower, new Shape(1, 1, 8, 8)));
    String length =
        g.node(
            "Slice",
            "seq_len",
            List.of(
                g.node("Shape", "x_shape", List.of(x)),
                g.longs("one_s", false, 1),
                g.longs("two_s", false, 2),
                g.longs("zero_a", false, 0)));
    String visible =
        g.node(
            "Slice",
            "visible",
            List.of(
                bias,
                g.longs("zeros", false, 0, 0),
                g.node(
                    "Concat",
                    "ends",
                    List.of(length, length),
                    OnnxGraphBuilder.attribute("axis", 0L)),
                g.longs("axes23", false, 2, 3)));
    String masked =
        g.node("Where", "masked", List.of(visible, scores, g.scalar("min", -Float.MAX_VALUE)));
    String p = g.node("Softmax", "probs", List.of(masked), OnnxGraphBuilder.attribute("axis", -1L));
    String context = g.node("MatMul", "context", List.of(p, heads[2]));
    g.output(outputProjection(g, m, context), FLOAT, "batch", "seq", E);
    return g.build(Map.of());
  }

  /**
   * Softcapped attention on 4-D inputs given directly: Q (B, H, S, D), K (B, H, S, D) transposed by
   * Transpose(0, 1, 3, 2), scores divided by 2, then 30·tanh(scores/30), Softmax, MatMul with V.
   */
  public static ModelProto softcapped() {
    OnnxGraphBuilder g = new OnnxGraphBuilder("softcapped", 17);
    String q = g.input("q", FLOAT, "batch", H, "seq", D);
    String k = g.input("k", FLOAT, "batch", H, "seq", D);
    String v = g.input("v", FLOAT, "batch", H, "seq", D);
    String kT = g.node("Transpose", "k_t", List.of(k), OnnxGraphBuilder.ints("perm", 0, 1, 3, 2));
    String scores =
        g.node(
            "Div", "scores", List.of(g.node("MatMul", "qk", List.of(q, kT)), g.scalar("two", 2f)));
    String cap = g.scalar("cap", 30f);
    String capped =
        g.node(
            "Mul",
            "capped",
            List.of(
                g.node("Tanh", "tanh", List.of(g.node("Div", "over_cap", List.of(scores, cap)))),
                cap));
    String p = g.node("Softmax", "probs", List.of(capped), OnnxGraphBuilder.attribute("axis", -1L));
    String out = g.node("MatMul", "context", List.of(p, v));
    g.output(out, FLOAT, "batch", H, "seq", D);
    return g.build(Map.of());
  }

  /**
   * ONNX Runtime's fused operators, one site each after a shared input {@code x} (B, S, E): {@code
   * com.microsoft.Attention} (packed (E, 3E) weights, num_heads, unidirectional=1), {@code
   * MultiHeadAttention} on projected Q, K, V with a {@code key_padding_mask} (B, S) int32, and
   * {@code GroupQueryAttention} (num_heads 4, kv_num_heads 2) with {@code seqlens_k}.
   */
  public static ModelProto fused(NDManager m) {
    OnnxGraphBuilder g = new OnnxGraphBuilder("fused", 17);
    String x = g.input("x", FLOAT, "batch", "seq", E);
    String padding = g.input("key_padding_mask", INT32, "batch", "seq");
    String seqlens = g.input("seqlens_k", INT32, "batch");
    String total = g.input("total_sequence_length", INT32);
    String packed = g.initializer("attn.weight", weight(m, 5, E, 3 * E));
    String packedBias = g.initializer("attn.bias", weight(m, 105, 3 * E));
    String a = g.fresh("ms_attention");
    g.node(
        "Attention",
        List.of(x, packed, packedBias),
        List.of(a),
        OnnxGraphBuilder.attribute("num_heads", H),
        OnnxGraphBuilder.attribute("unidirectional", 1L));
    String[] qkv = new String[3];
    for (int i = 0; i < 3; i++) {
      String w = g.initializer("mha" + i + ".weight", weight(m, 10 + i, E, E));
      qkv[i] = g.node("MatMul", "mha_in", List.of(a, w));
    }
    String mha = g.fresh("ms_mha");
    g.node(
        "MultiHeadAttention",
        List.of(qkv[0], qkv[1], qkv[2], "", padding),
        List.of(mha),
        OnnxGraphBuilder.attribute("num_heads", H));
    String wq = g.initializer("gqa_q.weight", weight(m, 20, E, E));
    String wk = g.initializer("gqa_k.weight", weight(m, 21, E, E / 2));
    String wv = g.initializer("gqa_v.weight", weight(m, 22, E, E / 2)); // one kv head of 8
    String gq = g.node("MatMul", "gqa_q", List.of(mha, wq));
    String gk = g.node("MatMul", "gqa_k", List.of(mha, wk));
    String gv = g.node("MatMul", "gqa_v", List.of(mha, wv));
    String gqa = g.fresh("ms_gqa");
    g.node(
        "GroupQueryAttention",
        List.of(gq, gk, gv, "", "", seqlens, total),
        List.of(gqa, g.fresh("present_key"), g.fresh("present_value")),
        OnnxGraphBuilder.attribute("num_heads", 2L),
        OnnxGraphBuilder.attribute("kv_num_heads", 1L));
    g.output(gqa, FLOAT, "batch", "seq", E);
    return microsoft(
        g.build(Map.of()), Set.of("Attention", "MultiHeadAttention", "GroupQueryAttention"));
  }

  /** Moves the named operators to the com.microsoft domain and imports it. */
  static ModelProto microsoft(ModelProto model, Set<String> ops) {
    ModelProto.Builder builder = model.toBuilder();
    for (NodeProto.Builder node : builder.getGraphBuilder().getNodeBuilderList()) {
      if (ops.contains(node.getOpType())) {
        node.setDomain(ModelGraph.MICROSOFT_DOMAIN);
      }
    }
    builder.addOpsetImport(
        OperatorSetIdProto.newBuilder().setDomain(ModelGraph.MICROSOFT_DOMAIN).setVersion(1));
    return builder.build();
  }

  /** A bool input for tests that need one. */
  static int boolType() {
    return BOOL;
  }
}
