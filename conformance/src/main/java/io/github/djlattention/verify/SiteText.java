package io.github.djlattention.verify;

import io.github.djlattention.onnx.inspect.AttentionSite;
import io.github.djlattention.onnx.inspect.ModelGraph;
import io.github.djlattention.onnx.inspect.Projection;
import io.github.djlattention.onnx.inspect.SiteMask;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;

/** Attention sites as text: what {@code inspect} prints, a table and then each site's tensors. */
public final class SiteText {

  private SiteText() {}

  /**
   * The summary table, one row per site.
   *
   * @param sites the sites
   * @param out where to print
   */
  public static void table(List<AttentionSite> sites, PrintWriter out) {
    int layerWidth = Math.max(5, sites.stream().mapToInt(s -> s.layer().length()).max().orElse(5));
    String format = "  %3s  %-" + layerWidth + "s  %-12s %5s %4s %5s  %-9s %-6s  %s%n";
    out.printf(
        Locale.ROOT,
        format,
        "#",
        "layer",
        "form",
        "heads",
        "kv",
        "head",
        "scale",
        "causal",
        "mask; projections");
    for (AttentionSite site : sites) {
      out.printf(
          Locale.ROOT,
          format,
          site.index(),
          site.layer(),
          site.form().label().replace("com.microsoft.", "ms."),
          text(site.heads()),
          text(site.kvHeads()),
          text(site.headSize()),
          site.scale() == null ? "default" : String.format(Locale.ROOT, "%.6g", site.scale()),
          site.causal() ? "yes" : "no",
          maskSummary(site) + "; " + projectionSummary(site));
    }
  }

  /**
   * Each site's tensors, mask, scale and projections, one line each.
   *
   * @param sites the sites
   * @param graph the model's graph, for weight shapes
   * @param out where to print
   */
  public static void details(List<AttentionSite> sites, ModelGraph graph, PrintWriter out) {
    for (AttentionSite site : sites) {
      out.printf(
          Locale.ROOT,
          "%nsite %d: %s (%s: %s)%n",
          site.index(),
          site.layer(),
          site.form().label(),
          String.join(", ", shortNames(site.nodes())));
      line(out, "input", site.input());
      line(out, "query", site.query());
      line(
          out,
          "key",
          site.key() == null
              ? null
              : site.key()
                  + (site.form() == AttentionSite.Form.WRITTEN_OUT ? "  (K transposed)" : ""));
      line(out, "value", site.value());
      for (SiteMask mask : site.masks()) {
        line(out, "mask", maskLine(mask));
      }
      line(out, "weights", site.weights());
      line(out, "output", site.output());
      line(out, "merged", site.merged());
      line(out, "sublayer", site.sublayerOutput());
      line(out, "scale", site.scaleDescription());
      if (site.softcap() != null) {
        line(out, "softcap", String.format(Locale.ROOT, "%.6g", site.softcap()));
      }
      line(out, "q proj", projectionLine(site.queryProjection(), graph));
      line(out, "k proj", projectionLine(site.keyProjection(), graph));
      line(out, "v proj", projectionLine(site.valueProjection(), graph));
      line(out, "out proj", projectionLine(site.outputProjection(), graph));
      for (String note : site.notes()) {
        line(out, "note", note);
      }
    }
  }

  private static void line(PrintWriter out, String label, String value) {
    out.printf(Locale.ROOT, "  %-9s %s%n", label, value == null ? "-" : value);
  }

  private static String maskLine(SiteMask mask) {
    if (mask instanceof SiteMask.Additive) {
      return mask.tensor() + "  (added) from " + mask.source();
    }
    if (mask instanceof SiteMask.Select s) {
      return mask.tensor()
          + "  (Where, "
          + (s.keepWhere() ? "keeps scores where true" : "hides scores where true")
          + ", fill "
          + s.fill()
          + ") from "
          + mask.source();
    }
    return mask.tensor()
        + "  ("
        + ((SiteMask.OperatorInput) mask).role()
        + ") from "
        + mask.source();
  }

  private static String projectionLine(Projection p, ModelGraph graph) {
    if (p == null) {
      return null;
    }
    StringBuilder text = new StringBuilder(p.kind());
    text.append(": W ")
        .append(p.weight())
        .append(" (")
        .append(SiteJson.shape(graph, p.weight()))
        .append(' ')
        .append(SiteJson.type(graph, p.weight()))
        .append(')');
    if (p.columnStart() != 0 || p.columnEnd() != totalColumns(p, graph)) {
      text.append(" columns ").append(p.columnStart()).append("..").append(p.columnEnd());
    }
    if (p.bias() != null) {
      text.append(", b ").append(p.bias());
    }
    if (p instanceof Projection.DynamicQuantized d) {
      text.append(", W scale ")
          .append(d.weightScale())
          .append(" (")
          .append(SiteJson.shape(graph, d.weightScale()))
          .append(')');
      if (d.weightZeroPoint() != null) {
        text.append(", W zero point ").append(d.weightZeroPoint());
      }
      text.append(", x quantized by DynamicQuantizeLinear -> ").append(d.quantizedInput());
    } else if (p instanceof Projection.QLinear q) {
      text.append(", W scale ").append(q.weightScale()).append(", x scale ").append(q.inputScale());
    }
    return text.toString();
  }

  /** The weight's output columns: (in, out) as MatMul takes it, (out, in) when transposed. */
  private static long totalColumns(Projection p, ModelGraph graph) {
    long[] dims =
        graph
            .constant(p.weight())
            .map(io.github.djlattention.onnx.inspect.ConstantValues::dims)
            .orElse(new long[0]);
    if (dims.length != 2) {
      return -1;
    }
    return p instanceof Projection.FloatWeights f && f.transposed() ? dims[0] : dims[1];
  }

  private static String maskSummary(AttentionSite site) {
    if (site.masks().isEmpty()) {
      return "no mask";
    }
    StringBuilder text = new StringBuilder();
    for (SiteMask mask : site.masks()) {
      if (text.length() > 0) {
        text.append(" + ");
      }
      text.append(mask.source());
    }
    return text.toString();
  }

  private static String projectionSummary(AttentionSite site) {
    Projection[] all = {
      site.queryProjection(), site.keyProjection(), site.valueProjection(), site.outputProjection()
    };
    String[] names = {"q", "k", "v", "out"};
    StringBuilder text = new StringBuilder();
    String previous = null;
    StringBuilder group = new StringBuilder();
    for (int i = 0; i < all.length; i++) {
      String kind = all[i] == null ? "not found" : shortKind(all[i]);
      if (previous != null && !kind.equals(previous)) {
        text.append(text.length() > 0 ? ", " : "")
            .append(previous)
            .append(" (")
            .append(group)
            .append(')');
        group.setLength(0);
      }
      group.append(group.length() > 0 ? " " : "").append(names[i]);
      previous = kind;
    }
    text.append(text.length() > 0 ? ", " : "")
        .append(previous)
        .append(" (")
        .append(group)
        .append(')');
    return text.toString();
  }

  private static String shortKind(Projection p) {
    if (p instanceof Projection.FloatWeights) {
      return "float";
    }
    if (p instanceof Projection.DynamicQuantized) {
      return "MatMulInteger";
    }
    return "QLinearMatMul";
  }

  private static List<String> shortNames(List<String> nodes) {
    return nodes.stream().map(n -> n.substring(n.lastIndexOf('/') + 1)).toList();
  }

  private static String text(Integer value) {
    return value == null ? "?" : value.toString();
  }
}
