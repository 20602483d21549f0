package io.github.djlattention.verify;

import io.github.djlattention.compare.ElementComparison;
import io.github.djlattention.onnx.inspect.AttentionSite;
import java.util.List;

/**
 * How one attention site of a model compares: every implementation's outputs against the float64
 * reference, whole and per head, and the verdict.
 *
 * @param site the site as the graph analysis found it
 * @param verdict who deviates from the reference
 * @param checks one comparison per implementation and output
 * @param shapes the core's shapes, e.g. {@code query (2, 12, 9, 32), key (2, 12, 9, 32)}
 * @param scale the scale the core applies (the graph's factors multiplied out)
 * @param sublayer how the sublayer check was fed, or why it was not run
 * @param maps the attention maps of one batch element, for the report; null when not verified
 */
public record SiteResult(
    AttentionSite site,
    SiteVerdict verdict,
    List<Check> checks,
    String shapes,
    double scale,
    String sublayer,
    HeadMaps maps) {

  /** Copies the list. */
  public SiteResult {
    checks = List.copyOf(checks);
  }

  /**
   * One implementation's output against the reference.
   *
   * @param implementation e.g. {@code onnxruntime}, {@code djl}, {@code djl-fast}, {@code
   *     djl-block}
   * @param output {@code output} (the attention output per head), {@code weights} (the softmax
   *     probabilities), {@code sublayer} (after the output projection) or {@code merged} (the heads
   *     merged, before a quantized output projection)
   * @param whole the statistics over the whole tensor
   * @param perHead one statistic per head, empty where heads are mixed (after the output
   *     projection)
   * @param error the implementation's error message when it failed to run, else null (then {@code
   *     whole} is null)
   */
  public record Check(
      String implementation,
      String output,
      ElementComparison whole,
      List<ElementComparison> perHead,
      String error) {

    /** Copies the list. */
    public Check {
      perHead = List.copyOf(perHead);
    }

    /**
     * Whether the implementation ran and every element agrees.
     *
     * @return true on agreement
     */
    public boolean agrees() {
      return error == null && whole.agrees();
    }

    /**
     * The heads that disagree, 0 first.
     *
     * @return their indices
     */
    public List<Integer> deviatingHeads() {
      List<Integer> heads = new java.util.ArrayList<>();
      for (int h = 0; h < perHead.size(); h++) {
        if (!perHead.get(h).agrees()) {
          heads.add(h);
        }
      }
      return heads;
    }
  }

  /**
   * Attention maps (S, T) of one batch element, per head.
   *
   * @param batch the batch element shown
   * @param rows S
   * @param columns T
   * @param reference the float64 reference's weights, one map per head
   * @param onnxRuntime ONNX Runtime's weights, or empty when the graph does not hold them
   * @param project the project's weights ({@code djl})
   */
  public record HeadMaps(
      int batch,
      int rows,
      int columns,
      List<float[]> reference,
      List<float[]> onnxRuntime,
      List<float[]> project) {}
}
