package io.github.djlattention.ort;

import java.util.Locale;

/** Where ONNX Runtime executes a model. */
public enum OrtDevice {
  /** The default CPU execution provider. */
  CPU,
  /**
   * The CUDA execution provider; needs the {@code onnxruntime_gpu} artifact (Maven profile {@code
   * -Pcuda}) and a GPU.
   */
  CUDA;

  /**
   * Parses {@code cpu} or {@code cuda} (case-insensitive).
   *
   * @param text the device name
   * @return the device
   * @throws IllegalArgumentException for any other name
   */
  public static OrtDevice parse(String text) {
    switch (text.toLowerCase(Locale.ROOT)) {
      case "cpu":
        return CPU;
      case "cuda":
      case "gpu":
        return CUDA;
      default:
        throw new IllegalArgumentException("unknown device '" + text + "': expected cpu or cuda");
    }
  }
}
