package io.github.djlattention.verify;

import io.github.djlattention.onnx.inspect.AttentionSite;
import io.github.djlattention.onnx.inspect.Projection;
import io.github.djlattention.onnx.inspect.SiteMask;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** The tensors a site's check reads from the model's run. */
final class CapturePlan {

  private CapturePlan() {}

  /**
   * Every tensor the site's core and sublayer checks need: inputs, masks, scale factors, ONNX
   * Runtime's own results, and the projections' inputs (quantized ones included).
   */
  static List<String> tensors(AttentionSite site) {
    Set<String> names = new LinkedHashSet<>();
    add(names, site.query(), site.key(), site.value(), site.weights(), site.output());
    add(names, site.merged(), site.sublayerOutput(), site.input());
    for (SiteMask mask : site.masks()) {
      add(names, mask.tensor());
      if (mask instanceof SiteMask.Select select) {
        add(names, select.fill());
      }
    }
    for (AttentionSite.ScaleStep step : site.scaleSteps()) {
      add(names, step.tensor());
    }
    for (Projection projection :
        new Projection[] {
          site.queryProjection(),
          site.keyProjection(),
          site.valueProjection(),
          site.outputProjection()
        }) {
      if (projection == null) {
        continue;
      }
      add(names, projection.input(), projection.output());
      if (projection instanceof Projection.DynamicQuantized q) {
        add(names, q.quantizedInput(), q.inputScale(), q.inputZeroPoint());
      } else if (projection instanceof Projection.QLinear q) {
        add(names, q.quantizedInput(), q.inputScale(), q.inputZeroPoint());
      }
    }
    return new ArrayList<>(names);
  }

  private static void add(Set<String> names, String... tensors) {
    for (String tensor : tensors) {
      if (tensor != null && !tensor.isEmpty()) {
        names.add(tensor);
      }
    }
  }
}
