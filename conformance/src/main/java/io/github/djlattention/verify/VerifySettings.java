package io.github.djlattention.verify;

import ai.djl.ndarray.NDArray;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.AttentionResult;

/**
 * How {@link ModelVerifier} compares: the tolerances of the core and of the sublayer, the floor of
 * the relative error, which batch element the attention maps show, and the attention function under
 * test (the project's {@link Attention#attention}; tests replace it with broken ones to show that
 * the report catches them).
 *
 * @param coreRtol relative tolerance of the attention output and weights
 * @param coreAtol absolute tolerance of the attention output and weights
 * @param sublayerRtol relative tolerance of the sublayer (projections, attention, output
 *     projection)
 * @param sublayerAtol absolute tolerance of the sublayer
 * @param relFloor the relative error's denominator is at least this fraction of the largest
 *     expected magnitude of the tensor
 * @param mapBatch the batch element whose attention maps the report draws
 * @param attention the project's attention function
 */
public record VerifySettings(
    double coreRtol,
    double coreAtol,
    double sublayerRtol,
    double sublayerAtol,
    double relFloor,
    int mapBatch,
    AttentionFunction attention) {

  /** The attention function under test. */
  @FunctionalInterface
  public interface AttentionFunction {
    /**
     * Computes attention.
     *
     * @param query (B, H, S, D)
     * @param key (B, G, T, D)
     * @param value (B, G, T, Dv)
     * @param options mask, scale, softcap, causal, and whether to return the weights
     * @return the result
     */
    AttentionResult apply(NDArray query, NDArray key, NDArray value, AttentionOptions options);
  }

  /**
   * Checks the values.
   *
   * @throws IllegalArgumentException for a negative or non-finite tolerance, a floor outside [0,
   *     1], a negative batch element or a null function
   */
  public VerifySettings {
    for (double t : new double[] {coreRtol, coreAtol, sublayerRtol, sublayerAtol}) {
      if (!(t >= 0) || Double.isInfinite(t)) {
        throw new IllegalArgumentException("tolerances must be finite and >= 0, got " + t);
      }
    }
    if (!(relFloor >= 0 && relFloor <= 1)) {
      throw new IllegalArgumentException(
          "the relative-error floor must be in [0, 1], got " + relFloor);
    }
    if (mapBatch < 0) {
      throw new IllegalArgumentException("the map batch element must be >= 0, got " + mapBatch);
    }
    if (attention == null) {
      throw new IllegalArgumentException("the attention function must not be null");
    }
  }

  /**
   * The defaults: the core at float32's conformance tolerance (rtol 1e-4, atol 1e-6), the sublayer
   * at rtol 1e-4, atol 1e-5 (its products sum hundreds of float32 terms), a floor of 1e-3, batch
   * element 0, the project's {@link Attention#attention}.
   *
   * @return the default settings
   */
  public static VerifySettings defaults() {
    return new VerifySettings(1e-4, 1e-6, 1e-4, 1e-5, 1e-3, 0, Attention::attention);
  }

  /**
   * The same settings with another attention function.
   *
   * @param function the function under test
   * @return new settings
   */
  public VerifySettings withAttention(AttentionFunction function) {
    return new VerifySettings(
        coreRtol, coreAtol, sublayerRtol, sublayerAtol, relFloor, mapBatch, function);
  }

  /**
   * The same settings with another batch element for the maps.
   *
   * @param batch the element
   * @return new settings
   */
  public VerifySettings withMapBatch(int batch) {
    return new VerifySettings(
        coreRtol, coreAtol, sublayerRtol, sublayerAtol, relFloor, batch, attention);
  }
}
