package io.github.djlattention.onnx.inspect;

import java.util.List;

/**
 * One attention found in a model's graph, and what surrounds it.
 *
 * <p>Legend: B batch, S query length, T key length, H query heads, G key/value heads, D head size,
 * E embedding.
 *
 * <p>For the {@linkplain Form#WRITTEN_OUT written-out} form the tensors are those the core's nodes
 * read and write: {@code query} is the first input of the scores' {@code MatMul} before any scale
 * (…, S, D), {@code key} its second input before any scale, which is Kᵀ (…, D, T), {@code value}
 * the second input of the weighted sum's {@code MatMul} (…, T, Dv), {@code weights} the {@code
 * Softmax} output and {@code output} the weighted sum (…, S, Dv). For the fused operators they are
 * the operator's own inputs and outputs, in its own layout.
 *
 * @param index the site's number, 0 first, in graph order
 * @param layer a readable name: the common prefix of the core's node names, or the operator's node
 *     name
 * @param form which kind of attention it is
 * @param nodes the names of the core's nodes (or the operator's node)
 * @param input the tensor the query projection reads (the sublayer's input), or null if unknown
 * @param query the query tensor
 * @param key the key tensor (Kᵀ for the written-out form), or null when the operator projects it
 *     internally
 * @param value the value tensor, or null when the operator projects it internally
 * @param masks the masks, in the order they apply
 * @param weights the attention weights (softmax output), or null when the graph does not hold them
 * @param output the attention output (heads not yet merged for the written-out form)
 * @param merged the heads merged (B, S, H·D), the output projection's input, or null
 * @param sublayerOutput the output projection's result (before any residual), or null
 * @param heads H, or null when the graph does not fix it
 * @param kvHeads G, or null when the graph does not fix it
 * @param headSize D, or null when the graph does not fix it
 * @param scale the product of the constant scale factors, or null when the scale is the operator's
 *     default 1/√D or is computed at run time (see {@code scaleSteps})
 * @param scaleSteps the written-out form's scale factors in the order the graph applies them
 * @param softcap the softcap c (scores become c·tanh(scores/c)), or null for none
 * @param causal whether a mask (or the operator) hides later keys
 * @param queryProjection the query's projection, or null
 * @param keyProjection the key's projection, or null
 * @param valueProjection the value's projection, or null
 * @param outputProjection the output projection, or null
 * @param notes anything else worth knowing, one line each
 */
public record AttentionSite(
    int index,
    String layer,
    Form form,
    List<String> nodes,
    String input,
    String query,
    String key,
    String value,
    List<SiteMask> masks,
    String weights,
    String output,
    String merged,
    String sublayerOutput,
    Integer heads,
    Integer kvHeads,
    Integer headSize,
    Double scale,
    List<ScaleStep> scaleSteps,
    Double softcap,
    boolean causal,
    Projection queryProjection,
    Projection keyProjection,
    Projection valueProjection,
    Projection outputProjection,
    List<String> notes) {

  /** Copies the lists. */
  public AttentionSite {
    nodes = List.copyOf(nodes);
    masks = List.copyOf(masks);
    scaleSteps = List.copyOf(scaleSteps);
    notes = List.copyOf(notes);
  }

  /** The kinds of attention the finder recognizes. */
  public enum Form {
    /** MatMul(Q, Kᵀ), scale, mask, Softmax, MatMul with V, as exporters write it out. */
    WRITTEN_OUT("written-out"),
    /** The ONNX {@code Attention} operator (opset 23 and later). */
    ONNX_ATTENTION("Attention"),
    /** ONNX Runtime's {@code com.microsoft.Attention}: packed projections inside the operator. */
    MS_ATTENTION("com.microsoft.Attention"),
    /** ONNX Runtime's {@code com.microsoft.MultiHeadAttention}. */
    MS_MULTI_HEAD_ATTENTION("com.microsoft.MultiHeadAttention"),
    /** ONNX Runtime's {@code com.microsoft.GroupQueryAttention}. */
    MS_GROUP_QUERY_ATTENTION("com.microsoft.GroupQueryAttention");

    private final String label;

    Form(String label) {
      this.label = label;
    }

    /**
     * The form as reports name it.
     *
     * @return e.g. {@code written-out} or {@code com.microsoft.Attention}
     */
    public String label() {
      return label;
    }
  }

  /**
   * One scale factor of the written-out form: the scores (or Q, or Kᵀ) multiplied or divided by a
   * tensor.
   *
   * @param tensor the factor's tensor
   * @param divide true for {@code Div}, false for {@code Mul}
   * @param constant the factor's value when it is a constant, else null (read at run time)
   * @param on what it scales: {@code scores}, {@code query} or {@code key}
   */
  public record ScaleStep(String tensor, boolean divide, Double constant, String on) {}

  /**
   * The attention's input of each projection, as one tensor when all three read the same one
   * (self-attention).
   *
   * @return whether query, key and value are projected from one tensor
   */
  public boolean selfAttention() {
    return queryProjection != null
        && keyProjection != null
        && valueProjection != null
        && queryProjection.input().equals(keyProjection.input())
        && queryProjection.input().equals(valueProjection.input());
  }

  /**
   * Where the scale comes from, for reports.
   *
   * @return e.g. {@code Div by 5.65685 on the scores (= 1/sqrt(32))}
   */
  public String scaleDescription() {
    if (form != Form.WRITTEN_OUT) {
      return scale == null ? "operator default 1/sqrt(D)" : "attribute scale=" + format(scale);
    }
    if (scaleSteps.isEmpty()) {
      return "none in the graph (1, or folded into a projection)";
    }
    StringBuilder text = new StringBuilder();
    for (ScaleStep step : scaleSteps) {
      if (text.length() > 0) {
        text.append(", ");
      }
      text.append(step.divide() ? "Div by " : "Mul by ")
          .append(step.constant() != null ? format(step.constant()) : step.tensor() + " (run time)")
          .append(" on the ")
          .append(step.on());
    }
    if (scale != null && headSize != null) {
      double ratio = scale * Math.sqrt(headSize);
      if (Math.abs(ratio - 1) < 1e-6) {
        text.append(" (= 1/sqrt(").append(headSize).append("))");
      }
    }
    return text.toString();
  }

  private static String format(double value) {
    return String.format(java.util.Locale.ROOT, "%.6g", value);
  }
}
