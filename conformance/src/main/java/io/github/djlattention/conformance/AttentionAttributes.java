package io.github.djlattention.conformance;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.OptionalDouble;
import java.util.OptionalInt;

/**
 * The attributes of one ONNX {@code Attention} node (opsets 23 to 25), with the operator's defaults
 * filled in.
 *
 * @param causal {@code is_causal}
 * @param scale {@code scale}; empty means {@code 1/sqrt(head size)}
 * @param softcap {@code softcap}; 0 means none
 * @param qNumHeads {@code q_num_heads}, needed for 3-D inputs
 * @param kvNumHeads {@code kv_num_heads}, needed for 3-D inputs
 * @param qkMatmulOutputMode {@code qk_matmul_output_mode}, 0 to 3
 * @param softmaxPrecision {@code softmax_precision} as an ONNX element type number (1 float, 10
 *     float16, 11 double, 16 bfloat16); empty means the inputs' type
 * @param leftWindowSize {@code left_window_size} (opset 25); -1 means unbounded
 * @param rightWindowSize {@code right_window_size} (opset 25); -1 means unbounded
 */
public record AttentionAttributes(
    boolean causal,
    OptionalDouble scale,
    double softcap,
    OptionalInt qNumHeads,
    OptionalInt kvNumHeads,
    int qkMatmulOutputMode,
    OptionalInt softmaxPrecision,
    int leftWindowSize,
    int rightWindowSize) {

  /**
   * Reads a node's attributes.
   *
   * @param node an {@code Attention} node
   * @return its attributes with defaults
   * @throws IllegalArgumentException for an attribute this project does not know
   */
  public static AttentionAttributes of(NodeProto node) {
    boolean causal = false;
    OptionalDouble scale = OptionalDouble.empty();
    double softcap = 0;
    OptionalInt qHeads = OptionalInt.empty();
    OptionalInt kvHeads = OptionalInt.empty();
    int mode = 0;
    OptionalInt precision = OptionalInt.empty();
    int left = -1;
    int right = -1;
    for (AttributeProto attribute : node.getAttributeList()) {
      switch (attribute.getName()) {
        case "is_causal":
          causal = attribute.getI() != 0;
          break;
        case "scale":
          scale = OptionalDouble.of(attribute.getF());
          break;
        case "softcap":
          softcap = attribute.getF();
          break;
        case "q_num_heads":
          qHeads = OptionalInt.of(Math.toIntExact(attribute.getI()));
          break;
        case "kv_num_heads":
          kvHeads = OptionalInt.of(Math.toIntExact(attribute.getI()));
          break;
        case "qk_matmul_output_mode":
          mode = Math.toIntExact(attribute.getI());
          break;
        case "softmax_precision":
          precision = OptionalInt.of(Math.toIntExact(attribute.getI()));
          break;
        case "left_window_size":
          left = Math.toIntExact(attribute.getI());
          break;
        case "right_window_size":
          right = Math.toIntExact(attribute.getI());
          break;
        default:
          throw new IllegalArgumentException(
              "unknown Attention attribute '" + attribute.getName() + "'");
      }
    }
    return new AttentionAttributes(
        causal, scale, softcap, qHeads, kvHeads, mode, precision, left, right);
  }

  /**
   * Whether a sliding window limits the keys a query sees.
   *
   * @return true if either window size is set
   */
  public boolean windowed() {
    return leftWindowSize >= 0 || rightWindowSize >= 0;
  }
}
