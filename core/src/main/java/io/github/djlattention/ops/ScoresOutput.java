package io.github.djlattention.ops;

/**
 * Which intermediate of the attention computation {@link AttentionResult#scores()} returns, as the
 * ONNX {@code Attention} operator's {@code qk_matmul_output_mode} 0 to 3 selects it.
 */
public enum ScoresOutput {
  /** Mode 0: the scaled dot products Q·Kᵀ·scale. */
  SCALED,
  /** Mode 1: the scaled scores after the softcap (equal to {@link #SCALED} without softcap). */
  SOFTCAPPED,
  /**
   * Mode 2: the scores after the softcap plus the mask and the causal, window and padding masks;
   * hidden keys hold −∞.
   */
  MASKED,
  /** Mode 3: the softmax probabilities, the same values as the weights. */
  SOFTMAX;

  /**
   * The output selected by an ONNX {@code qk_matmul_output_mode}.
   *
   * @param mode 0, 1, 2 or 3
   * @return the matching output
   * @throws IllegalArgumentException for other modes
   */
  public static ScoresOutput ofOnnxMode(int mode) {
    if (mode < 0 || mode >= values().length) {
      throw new IllegalArgumentException("qk_matmul_output_mode must be 0..3, got " + mode);
    }
    return values()[mode];
  }
}
