package io.github.djlattention.onnx.inspect;

/**
 * A learned linear map found in the graph around an attention: y = x·W + b with W stored (in, out)
 * as ONNX's {@code MatMul} takes it (a weight stored (out, in) and transposed in the graph, or a
 * {@code Gemm} with {@code transB}, says so with {@link FloatWeights#transposed}). A projection
 * that fills only some columns of a packed weight (a fused QKV matrix) names them with {@link
 * #columnStart} and {@link #columnEnd}.
 */
public sealed interface Projection {

  /**
   * The float tensor the projection reads (before any quantization).
   *
   * @return its name
   */
  String input();

  /**
   * The float tensor it produces, after the bias; for a packed weight, the packed result.
   *
   * @return its name
   */
  String output();

  /**
   * The weight initializer.
   *
   * @return its name
   */
  String weight();

  /**
   * The bias initializer.
   *
   * @return its name, or null when there is none
   */
  String bias();

  /**
   * The first column of the weight this projection uses.
   *
   * @return 0 unless the weight is packed
   */
  long columnStart();

  /**
   * One past the last column this projection uses.
   *
   * @return the weight's column count unless it is packed
   */
  long columnEnd();

  /**
   * A short description, e.g. {@code float MatMul+Add} or {@code DynamicQuantizeLinear +
   * MatMulInteger (int8, per-column scales)}.
   *
   * @return the kind
   */
  String kind();

  /**
   * A float weight: {@code MatMul} (+ {@code Add}) or {@code Gemm}.
   *
   * @param input the float input
   * @param weight the weight initializer
   * @param transposed whether the initializer is stored (out, in) and transposed in the graph
   * @param bias the bias initializer, or null
   * @param output the result after the bias
   * @param columnStart the first used column
   * @param columnEnd one past the last used column
   */
  record FloatWeights(
      String input,
      String weight,
      boolean transposed,
      String bias,
      String output,
      long columnStart,
      long columnEnd)
      implements Projection {
    @Override
    public String kind() {
      return "float MatMul" + (bias != null ? "+Add" : "") + (transposed ? " (W transposed)" : "");
    }
  }

  /**
   * A dynamically quantized weight as ONNX Runtime's {@code quantize_dynamic} writes it: {@code
   * DynamicQuantizeLinear(x)}, {@code MatMulInteger(x_q, W_q, x_zero_point, W_zero_point)}, a
   * {@code Cast} to float, a {@code Mul} by {@code x_scale · W_scale}, then the bias {@code Add}.
   *
   * @param input the float input of {@code DynamicQuantizeLinear}
   * @param quantizedInput its quantized output (uint8)
   * @param inputScale its scale output
   * @param inputZeroPoint its zero-point output
   * @param weight the quantized weight initializer (int8 or uint8)
   * @param weightScale the weight's scale initializer (a scalar or one per column)
   * @param weightZeroPoint the weight's zero-point initializer, or null for zero
   * @param bias the bias initializer, or null
   * @param output the result after the bias
   * @param columnStart the first used column
   * @param columnEnd one past the last used column
   */
  record DynamicQuantized(
      String input,
      String quantizedInput,
      String inputScale,
      String inputZeroPoint,
      String weight,
      String weightScale,
      String weightZeroPoint,
      String bias,
      String output,
      long columnStart,
      long columnEnd)
      implements Projection {
    @Override
    public String kind() {
      return "DynamicQuantizeLinear + MatMulInteger" + (bias != null ? " + Add" : "");
    }
  }

  /**
   * A statically quantized weight: {@code QuantizeLinear(x)}, {@code QLinearMatMul}, {@code
   * DequantizeLinear}, then the bias {@code Add}.
   *
   * @param input the float input of {@code QuantizeLinear}
   * @param quantizedInput its quantized output
   * @param inputScale the input's scale
   * @param inputZeroPoint the input's zero point, or null
   * @param weight the quantized weight initializer
   * @param weightScale the weight's scale
   * @param weightZeroPoint the weight's zero point, or null
   * @param outputScale the quantized result's scale
   * @param outputZeroPoint the quantized result's zero point, or null
   * @param bias the bias initializer, or null
   * @param output the float result after the bias
   * @param columnStart the first used column
   * @param columnEnd one past the last used column
   */
  record QLinear(
      String input,
      String quantizedInput,
      String inputScale,
      String inputZeroPoint,
      String weight,
      String weightScale,
      String weightZeroPoint,
      String outputScale,
      String outputZeroPoint,
      String bias,
      String output,
      long columnStart,
      long columnEnd)
      implements Projection {
    @Override
    public String kind() {
      return "QuantizeLinear + QLinearMatMul + DequantizeLinear" + (bias != null ? " + Add" : "");
    }
  }
}
