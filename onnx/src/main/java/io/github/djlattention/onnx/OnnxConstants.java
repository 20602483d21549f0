package io.github.djlattention.onnx;

/**
 * The ONNX versions and the producer stamp of every model this library writes, kept in one place.
 *
 * <p>Two forms are exported: the decomposed graph at {@link #DECOMPOSED_OPSET} (plain MatMul,
 * Softmax, ... that any runtime runs) and the graph around the standard {@code Attention} operator,
 * which first appeared in {@link #ATTENTION_OPSET}. Each opset is paired with the lowest IR version
 * that may carry it.
 */
public final class OnnxConstants {

  /** Opset of the decomposed graph. */
  public static final int DECOMPOSED_OPSET = 17;

  /** IR version written with {@link #DECOMPOSED_OPSET} (ONNX 1.12). */
  public static final int DECOMPOSED_IR_VERSION = 8;

  /** Opset of the graph around the ONNX {@code Attention} operator (ONNX 1.18). */
  public static final int ATTENTION_OPSET = 23;

  /** IR version written with {@link #ATTENTION_OPSET} (ONNX 1.18). */
  public static final int ATTENTION_IR_VERSION = 11;

  /** The default (ONNX) operator domain. */
  public static final String DEFAULT_DOMAIN = "";

  /** {@code ModelProto.producer_name}. */
  public static final String PRODUCER_NAME = "djl-attention";

  /** {@code ModelProto.producer_version}: the library version. */
  public static final String PRODUCER_VERSION = "0.1.0";

  /** Prefix of the {@code metadata_props} keys the exporter writes (block kind, heads, ...). */
  public static final String METADATA_PREFIX = "djl_attention.";

  private OnnxConstants() {}

  /**
   * The IR version written with an opset this library exports.
   *
   * @param opset {@link #DECOMPOSED_OPSET} or {@link #ATTENTION_OPSET}
   * @return the IR version
   * @throws IllegalArgumentException for any other opset
   */
  public static int irVersion(int opset) {
    switch (opset) {
      case DECOMPOSED_OPSET:
        return DECOMPOSED_IR_VERSION;
      case ATTENTION_OPSET:
        return ATTENTION_IR_VERSION;
      default:
        throw new IllegalArgumentException(
            "unsupported opset "
                + opset
                + ": the exporter writes opset "
                + DECOMPOSED_OPSET
                + " (decomposed) or "
                + ATTENTION_OPSET
                + " (Attention operator)");
    }
  }
}
