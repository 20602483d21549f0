package io.github.djlattention.bench;

/**
 * The stronger of two ONNX Runtime kernels timed on the same shape: the one with the lower median
 * (the first on a tie), which every series compares the project against.
 *
 * @param name the kernel's name in the reports, e.g. {@code GroupQueryAttention}
 * @param ms its median time
 */
record StrongestOrt(String name, double ms) {

  /**
   * Picks the faster of two kernels.
   *
   * @param firstName the first kernel's name
   * @param firstMs its median
   * @param secondName the second kernel's name
   * @param secondMs its median
   * @return the faster, the first when they tie
   */
  static StrongestOrt of(String firstName, double firstMs, String secondName, double secondMs) {
    return firstMs <= secondMs
        ? new StrongestOrt(firstName, firstMs)
        : new StrongestOrt(secondName, secondMs);
  }

  /** The project's time over this kernel's: below 1 when the project is faster. */
  double ratio(double projectMs) {
    return projectMs / ms;
  }
}
