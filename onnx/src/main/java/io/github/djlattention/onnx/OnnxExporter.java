package io.github.djlattention.onnx;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.github.djlattention.blocks.AttentionBlock;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.BlockLayout;
import io.github.djlattention.blocks.BlockParameters;
import io.github.djlattention.io.AtomicWrite;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Exports a {@link io.github.djlattention.blocks.SelfAttentionBlock} or {@link
 * io.github.djlattention.blocks.MultiHeadAttentionBlock} to ONNX, with the block's current
 * parameters as initializers under their own names ({@code q_proj.weight}, {@code W_q.weight},
 * ...).
 *
 * <p>Legend: B batch, S query length, T key/value length, E embedding, H query heads, G key/value
 * heads, D head size.
 *
 * <p>Inputs: {@code x} (B, S, E) for a self-attention block; {@code query} (B, S, E), {@code key}
 * (B, T, Ek), {@code value} (B, T, Ev) for a multi-head block; then {@code attn_mask} when {@link
 * ExportOptions#maskType()} asks for one. B, S and T are symbolic ({@code batch}, {@code seq} or
 * {@code seq_q}/{@code seq_kv}). Outputs: {@code output} (B, S, E) (or (B, S, D) for the
 * self-attention block), then {@code weights} as the block returns them: (B, S, T), averaged over
 * heads, for {@link AttentionWeights#AVERAGED}, (B, H, S, T) for {@link AttentionWeights#PER_HEAD},
 * none for {@link AttentionWeights#NONE}; then {@code head_weights} (B, H, S, T) when asked for and
 * the block's weights are averaged. A block that takes a key-padding mask is not exported.
 *
 * <p>Two forms:
 *
 * <ul>
 *   <li><b>opset 17, decomposed</b>: projections (MatMul with a transposed weight, Add), Reshape
 *       and Transpose to heads, MatMul for the scores (grouped heads folded into the rows, as the
 *       library does), Mul by 1/√D, Add (float mask) or Where (bool mask), a causal Where built
 *       from Shape/Range/LessOrEqual, Softmax, MatMul with the values, Transpose/Reshape back, the
 *       output projection, ReduceMean over heads for {@code weights}. With a mask input, rows whose
 *       keys are all masked get zero weights and a zero output, like the library, through a Where
 *       on {@code ReduceMax(scores) == -inf} (plain Softmax would give NaN).
 *   <li><b>opset 23, Attention operator</b>: the projections on 3-D tensors, then one {@code
 *       Attention} node ({@code q_num_heads}, {@code kv_num_heads}, {@code scale}) and the output
 *       projection. When weights are exported, the node's fourth output {@code qk_matmul_output}
 *       with {@code qk_matmul_output_mode=3} (the softmax probabilities, (B, H, S, T)) is averaged
 *       over heads. Causal masking uses {@code is_causal} only for the self-attention block without
 *       a mask input (S = T); otherwise the causal pattern is built (Shape/Range/LessOrEqual) and
 *       combined into the operator's mask (And for bool, Where for float), aligned top-left like
 *       the library. With a mask input, rows the mask leaves without any key are found from the
 *       mask (ReduceMax, Equal) and their weights and output set to zero by Where nodes: ONNX
 *       Runtime 1.26's operator gives such rows uniform weights (bool mask) or NaN (float mask).
 * </ul>
 *
 * <p>The model's {@code metadata_props} record the block kind, heads, kv heads, causal flag and
 * mask ({@code djl_attention.*}), so a reader can rebuild the block.
 */
public final class OnnxExporter {

  private static final int FLOAT = TensorProto.DataType.FLOAT_VALUE;

  private OnnxExporter() {}

  /**
   * Exports a block as a serialized model.
   *
   * @param block an initialized attention block
   * @param options the form and the inputs
   * @return the model's bytes
   * @throws IllegalArgumentException for other blocks or non-float32 parameters
   * @throws IllegalStateException when the block is not initialized
   */
  public static byte[] export(Block block, ExportOptions options) {
    return toModel(block, options).toByteArray();
  }

  /**
   * Exports a block and writes it atomically to {@code file}.
   *
   * @param block an initialized attention block
   * @param options the form and the inputs
   * @param file the {@code .onnx} file, replaced if it exists, untouched on failure
   * @throws IllegalArgumentException for other blocks or non-float32 parameters
   * @throws IllegalStateException when the block is not initialized
   * @throws java.io.UncheckedIOException when the file cannot be written
   */
  public static void writeTo(Block block, ExportOptions options, Path file) {
    ModelProto model = toModel(block, options);
    AtomicWrite.write(file, model::writeTo);
  }

  /**
   * Exports a block as a model message.
   *
   * @param block an initialized attention block
   * @param options the form and the inputs
   * @return the model
   * @throws IllegalArgumentException for other blocks, non-float32 parameters, a block with a
   *     key-padding mask input, or head weights asked of a block whose weights are per head
   * @throws IllegalStateException when the block is not initialized
   */
  public static ModelProto toModel(Block block, ExportOptions options) {
    if (!(block instanceof AttentionBlock attention)) {
      throw new IllegalArgumentException(
          "cannot export "
              + (block == null ? "null" : block.getClass().getName())
              + ": only MultiHeadAttentionBlock and SelfAttentionBlock are supported");
    }
    BlockLayout layout = attention.getLayout();
    if (attention.isIncludeKeyPaddingMask()) {
      throw new IllegalArgumentException(
          "cannot export "
              + block
              + " with a key-padding mask input: the exporter writes an attn_mask input only;"
              + " build the block without optKeyPaddingMask and pass the padding in the mask");
    }
    if (attention.getAttentionWeights() == AttentionWeights.PER_HEAD && options.headWeights()) {
      throw new IllegalArgumentException(
          "the block's weights are per head already, (B, H, S, T): head_weights would repeat"
              + " them; export without head weights");
    }
    String graphName =
        layout.kind() + (options.usesAttentionOperator() ? "_attention_op" : "_decomposed");
    OnnxGraphBuilder graph = new OnnxGraphBuilder(graphName, options.opset());
    return new Writer(attention, layout, options, graph).write();
  }

  /** Writes one graph; holds the value names shared between the steps. */
  private static final class Writer {
    private final AttentionBlock block;
    private final BlockLayout layout;
    private final boolean causal;
    private final AttentionWeights weightsOutput;
    private final ExportOptions options;
    private final OnnxGraphBuilder graph;
    private final String seqQ;
    private final String seqKv;
    private final Map<String, String> shapes = new HashMap<>();

    Writer(
        AttentionBlock block, BlockLayout layout, ExportOptions options, OnnxGraphBuilder graph) {
      this.block = block;
      this.layout = layout;
      this.causal = block.isCausal();
      this.weightsOutput = block.getAttentionWeights();
      this.options = options;
      this.graph = graph;
      this.seqQ = layout.selfAttention() ? "seq" : "seq_q";
      this.seqKv = layout.selfAttention() ? "seq" : "seq_kv";
    }

    ModelProto write() {
      List<String> inputs = declareInputs();
      String mask = declareMask();
      String output = graph.reserve("output");
      boolean anyWeights = weightsOutput != AttentionWeights.NONE;
      boolean perHead = weightsOutput == AttentionWeights.PER_HEAD;
      String weights = anyWeights ? graph.reserve("weights") : null;
      String headWeights =
          anyWeights && options.headWeights() ? graph.reserve("head_weights") : null;

      String q = project(inputs.get(0), layout.queryProjection(), "q", false); // (B, S, H·D)
      String k = project(inputs.get(1), layout.keyProjection(), "k", false); // (B, T, G·D)
      String v = project(inputs.get(2), layout.valueProjection(), "v", false); // (B, T, G·D)
      String mask4d = mask == null ? null : maskAgainstHeads(mask);
      // The exact name the (B, H, S, T) probabilities take, "" for a fresh one, null for none.
      String probabilities =
          !anyWeights ? null : perHead ? weights : headWeights != null ? headWeights : "";
      String merged; // (B, S, H·D)
      if (options.usesAttentionOperator()) {
        String[] result = attentionOperator(q, k, v, mask4d, probabilities);
        merged = result[0];
        probabilities = result[1];
      } else {
        String[] result = decomposed(q, k, v, mask4d, probabilities);
        merged = result[0];
        probabilities = result[1];
      }
      if (layout.outputProjection()) {
        project(merged, BlockLayout.OUTPUT_PROJECTION, output, true); // (B, S, E)
      } else {
        graph.node("Identity", List.of(merged), List.of(output));
      }
      graph.output(output, FLOAT, "batch", seqQ, layout.outputSize());
      if (perHead) {
        graph.output(weights, FLOAT, "batch", (long) layout.heads(), seqQ, seqKv); // (B, H, S, T)
      } else if (weights != null) {
        reduceMean(probabilities, 1, false, weights); // (B, S, T)
        graph.output(weights, FLOAT, "batch", seqQ, seqKv);
      }
      if (headWeights != null) {
        graph.output(headWeights, FLOAT, "batch", (long) layout.heads(), seqQ, seqKv);
      }
      return graph.build(metadata());
    }

    private List<String> declareInputs() {
      if (layout.selfAttention()) {
        String x = graph.input("x", FLOAT, "batch", "seq", layout.embeddingSize());
        return List.of(x, x, x);
      }
      return List.of(
          graph.input("query", FLOAT, "batch", "seq_q", layout.embeddingSize()),
          graph.input("key", FLOAT, "batch", "seq_kv", layout.keySize()),
          graph.input("value", FLOAT, "batch", "seq_kv", layout.valueSize()));
    }

    private String declareMask() {
      if (options.maskType() == ExportOptions.MaskType.NONE) {
        return null;
      }
      int type =
          options.maskType() == ExportOptions.MaskType.BOOL
              ? TensorProto.DataType.BOOL_VALUE
              : FLOAT;
      switch (options.maskRank()) {
        case 2:
          return graph.input("attn_mask", type, seqQ, seqKv); // (S, T)
        case 3:
          return graph.input("attn_mask", type, "batch", seqQ, seqKv); // (B, S, T)
        default:
          return graph.input(
              "attn_mask", type, "batch", (long) layout.heads(), seqQ, seqKv); // (B, H, S, T)
      }
    }

    /** A (B, S, T) mask gets a heads axis; (S, T) and (B, H, S, T) broadcast as they are. */
    private String maskAgainstHeads(String mask) {
      if (options.maskRank() != 3) {
        return mask;
      }
      return graph.node(
          "Unsqueeze",
          "attn_mask_4d",
          List.of(mask, graph.longs("axis_heads", false, 1))); // (B, 1, S, T)
    }

    /**
     * y = x·Wᵀ + b with the block's parameters {@code prefix.weight} (out, in) and {@code
     * prefix.bias}; the result is named {@code target} exactly when {@code exact}, else from it.
     */
    private String project(String x, String prefix, String target, boolean exact) {
      String weight = graph.initializer(prefix + ".weight", parameter(prefix + ".weight"));
      String transposed =
          graph.node(
              "Transpose",
              prefix + ".weight_T",
              List.of(weight),
              OnnxGraphBuilder.ints("perm", 1L, 0L)); // (in, out)
      String name = exact && !layout.bias() ? target : graph.fresh(exact ? prefix : target);
      graph.node("MatMul", List.of(x, transposed), List.of(name)); // (B, L, out)
      if (!layout.bias()) {
        return name;
      }
      String bias = graph.initializer(prefix + ".bias", parameter(prefix + ".bias"));
      String sum = exact ? target : graph.fresh(target + "_biased");
      graph.node("Add", List.of(name, bias), List.of(sum)); // (B, L, out)
      return sum;
    }

    private NDArray parameter(String name) {
      NDArray array = BlockParameters.get(block, name);
      if (array.getDataType() != DataType.FLOAT32) {
        throw new IllegalArgumentException(
            "parameter " + name + " is " + array.getDataType() + "; the exporter writes float32");
      }
      return array;
    }

    /**
     * Softmax over the keys, decomposed. Returns {merged (B, S, H·D), probabilities (B, H, S, T)}.
     *
     * @param probabilities null when not needed, "" for a fresh name, else the exact name
     */
    private String[] decomposed(String q, String k, String v, String mask, String probabilities) {
      long heads = layout.heads();
      long kvHeads = layout.kvHeads();
      long headSize = layout.headSize();
      boolean grouped = kvHeads < heads;
      String q4 =
          transpose(reshape(q, "q_heads", 0, 0, heads, headSize), "q4", 0, 2, 1, 3); // (B, H, S, D)
      String kT =
          transpose(
              reshape(k, "k_heads", 0, 0, kvHeads, headSize), "k_t", 0, 2, 3, 1); // (B, G, D, T)
      String v4 =
          transpose(
              reshape(v, "v_heads", 0, 0, kvHeads, headSize), "v4", 0, 2, 1, 3); // (B, G, T, D)
      // Query heads h = g·(H/G) + j share key head g: fold the H/G heads into the rows.
      String qGrouped =
          grouped ? reshape(q4, "q_grouped", 0, kvHeads, -1, headSize) : q4; // (B, G, H/G·S, D)
      String scores = graph.node("MatMul", "qk", List.of(qGrouped, kT)); // (B, G, H/G·S, T)
      if (grouped) {
        scores = reshape(scores, "qk_heads", 0, heads, -1, 0); // (B, H, S, T)
      }
      String scale = graph.scalar("scale", (float) (1.0 / Math.sqrt(headSize)));
      scores = graph.node("Mul", "scores", List.of(scores, scale)); // (B, H, S, T)
      String minusInf =
          mask != null || causal ? graph.scalar("minus_inf", Float.NEGATIVE_INFINITY) : null;
      if (mask != null) {
        scores =
            options.maskType() == ExportOptions.MaskType.BOOL
                ? graph.node("Where", "scores_masked", List.of(mask, scores, minusInf))
                : graph.node("Add", "scores_masked", List.of(scores, mask)); // (B, H, S, T)
      }
      if (causal) {
        String visible = causalMask(scores, 2, scores, 3); // (S, T)
        scores = graph.node("Where", "scores_causal", List.of(visible, scores, minusInf));
      }
      String target = probabilities == null || probabilities.isEmpty() ? null : probabilities;
      String softmaxOut = mask == null && target != null ? target : graph.fresh("softmax");
      graph.node(
          "Softmax", List.of(scores), List.of(softmaxOut), OnnxGraphBuilder.attribute("axis", -1L));
      String weights = softmaxOut;
      if (mask != null) {
        // A row whose keys are all masked has max -inf; Softmax would give NaN, the library 0.
        String rowMax = reduce("ReduceMax", scores, -1, "row_max"); // (B, H, S, 1)
        String blocked = graph.node("Equal", "row_blocked", List.of(rowMax, minusInf));
        weights = target != null ? target : graph.fresh("weights_guarded");
        graph.node(
            "Where",
            List.of(blocked, graph.scalar("zero", 0f), softmaxOut),
            List.of(weights)); // (B, H, S, T)
      }
      String wGrouped = grouped ? reshape(weights, "weights_grouped", 0, kvHeads, -1, 0) : weights;
      String context = graph.node("MatMul", "context", List.of(wGrouped, v4)); // (B, G, H/G·S, D)
      if (grouped) {
        context = reshape(context, "context_heads", 0, heads, -1, 0); // (B, H, S, D)
      }
      String perToken = transpose(context, "context_tokens", 0, 2, 1, 3); // (B, S, H, D)
      String merged = reshape(perToken, "merged", 0, 0, heads * headSize); // (B, S, H·D)
      return new String[] {merged, weights};
    }

    /**
     * (S, T) bool, true where key j ≤ query i, from the runtime lengths: axis {@code queryAxis} of
     * {@code queries} and axis {@code keyAxis} of {@code keys}.
     */
    private String causalMask(String queries, long queryAxis, String keys, long keyAxis) {
      String zero = graph.longs("zero_i64", true, 0);
      String one = graph.longs("one_i64", true, 1);
      String queryLength = length(queries, queryAxis, "seq_q_len");
      String keyLength = length(keys, keyAxis, "seq_kv_len");
      String rows =
          graph.node(
              "Unsqueeze",
              "causal_rows",
              List.of(
                  graph.node("Range", "query_positions", List.of(zero, queryLength, one)),
                  graph.longs("axis_1", false, 1))); // (S, 1)
      String cols =
          graph.node(
              "Unsqueeze",
              "causal_cols",
              List.of(
                  graph.node("Range", "key_positions", List.of(zero, keyLength, one)),
                  graph.longs("axis_0", false, 0))); // (1, T)
      return graph.node("LessOrEqual", "causal_visible", List.of(cols, rows)); // (S, T)
    }

    /** The runtime size of one axis, as an int64 scalar. */
    private String length(String x, long axis, String hint) {
      String shape = shapes.computeIfAbsent(x, v -> graph.node("Shape", v + "_shape", List.of(v)));
      return graph.node("Gather", hint, List.of(shape, graph.longs(hint + "_axis", true, axis)));
    }

    /**
     * The ONNX Attention operator on 3-D inputs. Returns {merged (B, S, H·D), probabilities (B, H,
     * S, T) or null}.
     */
    private String[] attentionOperator(
        String q, String k, String v, String mask, String probabilities) {
      // is_causal is used only for the self-attention block without a mask, where S = T. Else the
      // causal pattern (key j <= query i, aligned top-left like the library) goes into the mask:
      // with is_causal, ONNX Runtime 1.26 disagreed with the library when S != T (S = 1, T = 7 in
      // a test case), and a mask that holds everything tells which rows are fully masked.
      boolean causalInMask = causal && (mask != null || !layout.selfAttention());
      int maskRank = mask == null || options.maskRank() == 2 ? 2 : 4;
      boolean boolMask = mask == null || options.maskType() == ExportOptions.MaskType.BOOL;
      if (causalInMask) {
        String visible = causalMask(q, 1, k, 1); // (S, T)
        if (mask == null) {
          mask = visible;
        } else if (boolMask) {
          mask = graph.node("And", "mask_causal", List.of(mask, visible));
        } else {
          String minusInf = graph.scalar("minus_inf", Float.NEGATIVE_INFINITY);
          mask = graph.node("Where", "mask_causal", List.of(visible, mask, minusInf));
        }
      }
      List<String> inputs = new ArrayList<>(List.of(q, k, v));
      if (mask != null) {
        inputs.add(mask);
      }
      String merged = graph.fresh("attention"); // (B, S, H·D)
      List<String> outputs = new ArrayList<>(List.of(merged));
      List<AttributeProto> attributes =
          new ArrayList<>(
              List.of(
                  OnnxGraphBuilder.attribute("q_num_heads", (long) layout.heads()),
                  OnnxGraphBuilder.attribute("kv_num_heads", (long) layout.kvHeads()),
                  OnnxGraphBuilder.attribute(
                      "scale", (float) (1.0 / Math.sqrt(layout.headSize())))));
      if (causal && !causalInMask) {
        attributes.add(OnnxGraphBuilder.attribute("is_causal", 1L));
      }
      String target = probabilities == null || probabilities.isEmpty() ? null : probabilities;
      boolean guard = options.maskType() != ExportOptions.MaskType.NONE;
      String weights = null;
      if (probabilities != null) {
        weights = target != null && !guard ? target : graph.fresh("qk_softmax");
        outputs.addAll(List.of("", "", weights)); // present_key, present_value skipped
        attributes.add(OnnxGraphBuilder.attribute("qk_matmul_output_mode", 3L));
      }
      graph.node("Attention", inputs, outputs, attributes.toArray(new AttributeProto[0]));
      if (!guard) {
        return new String[] {merged, weights};
      }
      // Rows whose keys are all masked: ONNX Runtime gives uniform weights (bool mask) or NaN
      // (float mask); the library gives zero weights and a zero output.
      String blocked = fullyMaskedRows(mask, boolMask, maskRank); // (B|1, H|1, S, 1)
      String zero = graph.scalar("zero", 0f);
      if (weights != null) {
        String guarded = target != null ? target : graph.fresh("qk_softmax_guarded");
        graph.node("Where", List.of(blocked, zero, weights), List.of(guarded)); // (B, H, S, T)
        weights = guarded;
      }
      String perHead =
          reshape(
              merged, "attention_heads", 0, 0, layout.heads(), layout.headSize()); // (B, S, H, D)
      String blockedPerToken = transpose(blocked, "blocked_tokens", 0, 2, 1, 3); // (B|1, S, H|1, 1)
      String zeroed =
          graph.node("Where", "attention_guarded", List.of(blockedPerToken, zero, perHead));
      merged = reshape(zeroed, "attention_merged", 0, 0, layout.heads() * layout.headSize());
      return new String[] {merged, weights};
    }

    /** (B|1, H|1, S, 1) bool: true where a query row has no key left by the rank-2 or -4 mask. */
    private String fullyMaskedRows(String mask, boolean boolMask, int maskRank) {
      String rowMax;
      String none;
      if (boolMask) {
        String allowed =
            graph.node(
                "Cast",
                "mask_float",
                List.of(mask),
                OnnxGraphBuilder.attribute("to", (long) FLOAT));
        rowMax = reduce("ReduceMax", allowed, -1, "mask_row_max"); // (…, S, 1)
        none = graph.scalar("zero", 0f);
      } else {
        rowMax = reduce("ReduceMax", mask, -1, "mask_row_max"); // (…, S, 1)
        none = graph.scalar("minus_inf", Float.NEGATIVE_INFINITY);
      }
      String blocked = graph.node("Equal", "row_blocked", List.of(rowMax, none));
      if (maskRank == 4) {
        return blocked;
      }
      return graph.node(
          "Unsqueeze",
          "row_blocked_4d",
          List.of(blocked, graph.longs("axes_0_1", false, 0, 1))); // (1, 1, S, 1)
    }

    private String reshape(String x, String hint, long... shape) {
      return graph.node("Reshape", hint, List.of(x, graph.longs(hint + "_shape", false, shape)));
    }

    private String transpose(String x, String hint, long... perm) {
      return graph.node("Transpose", hint, List.of(x), OnnxGraphBuilder.ints("perm", perm));
    }

    /** ReduceMean over one axis into {@code target}. */
    private void reduceMean(String x, long axis, boolean keepDims, String target) {
      reduce("ReduceMean", x, axis, keepDims, target);
    }

    /** A Reduce* over one axis, keeping it, into a fresh value. */
    private String reduce(String op, String x, long axis, String hint) {
      String target = graph.fresh(hint);
      reduce(op, x, axis, true, target);
      return target;
    }

    /** A Reduce* over one axis into {@code target}: axes an attribute before opset 18. */
    private void reduce(String op, String x, long axis, boolean keepDims, String target) {
      AttributeProto keep = OnnxGraphBuilder.attribute("keepdims", keepDims ? 1L : 0L);
      if (graph.opset() < 18) {
        graph.node(op, List.of(x), List.of(target), OnnxGraphBuilder.ints("axes", axis), keep);
      } else {
        String axes = graph.longs("axes_" + (axis < 0 ? "m" + -axis : axis), false, axis);
        graph.node(op, List.of(x, axes), List.of(target), keep);
      }
    }

    private Map<String, String> metadata() {
      Map<String, String> metadata = new LinkedHashMap<>();
      String prefix = OnnxConstants.METADATA_PREFIX;
      metadata.put(prefix + "block", layout.kind());
      metadata.put(prefix + "heads", Integer.toString(layout.heads()));
      metadata.put(prefix + "kv_heads", Integer.toString(layout.kvHeads()));
      metadata.put(prefix + "head_size", Long.toString(layout.headSize()));
      metadata.put(prefix + "bias", Boolean.toString(layout.bias()));
      metadata.put(prefix + "causal", Boolean.toString(causal));
      metadata.put(
          prefix + "mask",
          options.maskType() == ExportOptions.MaskType.NONE
              ? "none"
              : options.maskType().name().toLowerCase(Locale.ROOT) + " rank " + options.maskRank());
      return metadata;
    }
  }
}
