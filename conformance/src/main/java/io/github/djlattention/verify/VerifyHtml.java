package io.github.djlattention.verify;

import io.github.djlattention.compare.ElementComparison;
import java.util.List;
import java.util.Locale;

/**
 * The verification as one self-contained HTML page (inline CSS, images as {@code data:} PNGs, no
 * scripts, no network): the run, a row per site, and per site its comparisons, a per-head table and
 * each head's real attention map with the differences from the float64 reference as heatmaps.
 */
public final class VerifyHtml {

  /** Pixels per cell of a map, aiming at about this many pixels along the longer side. */
  private static final int MAP_PIXELS = 150;

  private VerifyHtml() {}

  /**
   * Renders a report.
   *
   * @param report the report
   * @param settings the settings it ran with
   * @param texts the texts that were tokenized, or empty
   * @return the HTML text
   */
  public static String render(ModelReport report, VerifySettings settings, List<String> texts) {
    StringBuilder html = new StringBuilder();
    html.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>")
        .append(escape("verify-model " + fileName(report.model())))
        .append("</title>\n<style>\n")
        .append(CSS)
        .append("</style></head><body>\n<h1>verify-model <code>")
        .append(escape(fileName(report.model())))
        .append("</code> <span class=\"badge ")
        .append(report.allAgree() ? "ok\">PASS" : "bad\">FAIL")
        .append("</span></h1>\n<table class=\"small\">");
    row(html, "model", report.model() + " (" + report.producer() + ")");
    row(html, "inputs", report.inputs());
    for (int i = 0; i < texts.size(); i++) {
      row(html, "text " + i, texts.get(i));
    }
    row(html, "runtime", report.runtime());
    row(
        html,
        "tapping",
        "exposing the sites' tensors as graph outputs changed the model's outputs by "
            + VerifyConsole.format(report.tapEffect()));
    row(
        html,
        "tolerance",
        String.format(
            Locale.ROOT,
            "|x − ref| ≤ atol + rtol·|ref|; core (output, weights): rtol %s, atol %s; sublayer: rtol"
                + " %s, atol %s; relative errors use max(|ref|, %s·max|ref|) as denominator",
            VerifyConsole.format(settings.coreRtol()),
            VerifyConsole.format(settings.coreAtol()),
            VerifyConsole.format(settings.sublayerRtol()),
            VerifyConsole.format(settings.sublayerAtol()),
            VerifyConsole.format(settings.relFloor())));
    row(
        html,
        "who",
        "oracle: float64-reference (plain-Java ReferenceAttention on the captured Q, K, V and mask);"
            + " onnxruntime: the tensors of the model's run; djl: Attention.attention with the"
            + " weights; djl-fast: the output alone (fast path, default kernel); djl-block: a"
            + " MultiHeadAttentionBlock with the graph's weights over the sublayer");
    html.append("</table>\n");
    summary(html, report);
    for (SiteResult site : report.sites()) {
      section(html, site, settings);
    }
    html.append("</body></html>\n");
    return html.toString();
  }

  private static void summary(StringBuilder html, ModelReport report) {
    html.append("<h2>Sites</h2>\n<table><tr><th>#</th><th>layer</th><th>form</th><th>verdict</th>")
        .append("<th>onnxruntime<br><span class=\"sub\">output / weights / sublayer</span></th>")
        .append("<th>djl<br><span class=\"sub\">output / weights</span></th>")
        .append("<th>djl-fast<br><span class=\"sub\">output</span></th>")
        .append("<th>djl-block<br><span class=\"sub\">sublayer</span></th></tr>\n");
    for (SiteResult site : report.sites()) {
      html.append("<tr class=\"")
          .append(rowClass(site.verdict()))
          .append("\"><td>")
          .append(site.site().index())
          .append("</td><td><a href=\"#site-")
          .append(site.site().index())
          .append("\">")
          .append(escape(site.site().layer()))
          .append("</a></td><td>")
          .append(escape(site.site().form().label()))
          .append("</td><td>")
          .append(escape(site.verdict().kind().name()))
          .append("</td><td>");
      cells(html, site, SiteChecker.ORT, "output", "weights", "sublayer|merged");
      html.append("</td><td>");
      cells(html, site, SiteChecker.DJL, "output", "weights");
      html.append("</td><td>");
      cells(html, site, SiteChecker.DJL_FAST, "output");
      html.append("</td><td>");
      cells(html, site, SiteChecker.DJL_BLOCK, "sublayer|merged");
      html.append("</td></tr>\n");
    }
    html.append("</table>\n<p class=\"sub\">Cells: max abs error against the float64 reference;")
        .append(" red where an element is outside the tolerance.</p>\n");
  }

  private static void cells(
      StringBuilder html, SiteResult site, String implementation, String... outputs) {
    for (int i = 0; i < outputs.length; i++) {
      if (i > 0) {
        html.append(" / ");
      }
      var check = VerifyConsole.find(site.checks(), implementation, outputs[i]);
      if (check.isEmpty()) {
        html.append("<span class=\"sub\">-</span>");
      } else if (check.get().error() != null) {
        html.append("<span class=\"bad\" title=\"")
            .append(escape(check.get().error()))
            .append("\">error</span>");
      } else {
        html.append("<span class=\"")
            .append(check.get().agrees() ? "ok" : "bad")
            .append("\">")
            .append(VerifyConsole.format(check.get().whole().statistics().maxAbsError()))
            .append("</span>");
      }
    }
  }

  private static void section(StringBuilder html, SiteResult site, VerifySettings settings) {
    int index = site.site().index();
    html.append("<section id=\"site-")
        .append(index)
        .append("\"><h3>")
        .append(index)
        .append(". ")
        .append(escape(site.site().layer()))
        .append(" <span class=\"badge ")
        .append(site.verdict().agrees() ? "ok" : "bad")
        .append("\">")
        .append(escape(site.verdict().kind().name()))
        .append("</span></h3>\n<p>")
        .append(escape(site.verdict().summary()))
        .append("</p>\n");
    if (site.verdict().kind() == SiteVerdict.Kind.NOT_VERIFIED) {
      html.append("</section>\n");
      return;
    }
    html.append("<table class=\"small\">");
    row(
        html,
        "site",
        site.site().form().label()
            + ", "
            + site.site().heads()
            + " heads ("
            + site.site().kvHeads()
            + " kv) of "
            + site.site().headSize()
            + ", scale "
            + String.format(Locale.ROOT, "%.9g", site.scale())
            + " ("
            + site.site().scaleDescription()
            + ")"
            + (site.site().causal() ? ", causal" : ""));
    row(html, "core", site.shapes());
    row(html, "sublayer", site.sublayer());
    html.append("</table>\n<table><tr><th>implementation</th><th>output</th><th>agrees</th>")
        .append("<th>max abs</th><th>max rel</th><th>p50</th><th>p90</th><th>p99</th>")
        .append("<th>cosine</th><th>outside</th><th>worst index</th><th>ref there</th>")
        .append("<th>got</th></tr>\n");
    for (SiteResult.Check check : site.checks()) {
      html.append("<tr class=\"")
          .append(check.agrees() ? "agree" : "fail")
          .append("\"><td>")
          .append(escape(check.implementation()))
          .append("</td><td>")
          .append(escape(check.output()))
          .append("</td>");
      if (check.error() != null) {
        html.append("<td class=\"bad\">no</td><td colspan=\"10\">")
            .append(escape(check.error()))
            .append("</td></tr>\n");
        continue;
      }
      ElementComparison s = check.whole();
      html.append("<td class=\"").append(s.agrees() ? "ok\">yes" : "bad\">no").append("</td>");
      for (double v :
          new double[] {
            s.statistics().maxAbsError(),
            s.statistics().maxFlooredRelError(),
            s.statistics().absolute().p50(),
            s.statistics().absolute().p90(),
            s.statistics().absolute().p99()
          }) {
        html.append("<td>").append(VerifyConsole.format(v)).append("</td>");
      }
      html.append("<td>")
          .append(String.format(Locale.ROOT, "%.9f", s.statistics().cosineSimilarity()))
          .append("</td><td>")
          .append(s.mismatched())
          .append(" / ")
          .append(s.statistics().elements())
          .append("</td><td>")
          .append(escape(s.worst().indexText()))
          .append("</td><td>")
          .append(String.format(Locale.ROOT, "%.7g", s.worst().expected()))
          .append("</td><td>")
          .append(String.format(Locale.ROOT, "%.7g", s.worst().actual()))
          .append("</td></tr>\n");
    }
    html.append("</table>\n");
    perHead(html, site);
    maps(html, site, settings);
    html.append("</section>\n");
  }

  /** Max abs error per head and per output, red where the head deviates. */
  private static void perHead(StringBuilder html, SiteResult site) {
    List<SiteResult.Check> split =
        site.checks().stream().filter(c -> c.error() == null && !c.perHead().isEmpty()).toList();
    if (split.isEmpty()) {
      return;
    }
    int heads = split.get(0).perHead().size();
    html.append(
        "<details><summary>max abs error per head</summary><table class=\"small\"><tr><th>head</th>");
    for (SiteResult.Check check : split) {
      html.append("<th>")
          .append(escape(check.implementation()))
          .append("<br><span class=\"sub\">")
          .append(escape(check.output()))
          .append("</span></th>");
    }
    html.append("</tr>");
    for (int h = 0; h < heads; h++) {
      html.append("<tr><td>").append(h).append("</td>");
      for (SiteResult.Check check : split) {
        if (h >= check.perHead().size()) {
          html.append("<td>-</td>");
          continue;
        }
        ElementComparison s = check.perHead().get(h);
        html.append("<td class=\"")
            .append(s.agrees() ? "" : "bad")
            .append("\" title=\"worst ")
            .append(escape(s.worst().indexText()))
            .append(", cosine ")
            .append(String.format(Locale.ROOT, "%.9f", s.statistics().cosineSimilarity()))
            .append("\">")
            .append(VerifyConsole.format(s.statistics().maxAbsError()))
            .append("</td>");
      }
      html.append("</tr>");
    }
    html.append("</table></details>\n");
  }

  /**
   * Each head's attention map (ONNX Runtime's, else the reference's) on 0..max of that map, and the
   * differences onnxruntime − reference and djl − reference on one symmetric scale for the site: at
   * least the tolerance, so agreeing sites stay pale and a deviation saturates.
   */
  private static void maps(StringBuilder html, SiteResult site, VerifySettings settings) {
    SiteResult.HeadMaps maps = site.maps();
    if (maps == null || maps.reference().isEmpty()) {
      return;
    }
    boolean ort = !maps.onnxRuntime().isEmpty();
    boolean project = !maps.project().isEmpty();
    float largest = 0;
    for (int h = 0; h < maps.reference().size(); h++) {
      if (ort) {
        largest =
            Math.max(largest, maxAbsDifference(maps.onnxRuntime().get(h), maps.reference().get(h)));
      }
      if (project) {
        largest =
            Math.max(largest, maxAbsDifference(maps.project().get(h), maps.reference().get(h)));
      }
    }
    float tolerance = (float) (settings.coreAtol() + settings.coreRtol());
    float range = Math.max(largest, Float.MIN_NORMAL);
    int cell =
        Math.max(2, Math.min(24, MAP_PIXELS / Math.max(1, Math.max(maps.rows(), maps.columns()))));
    html.append("<p class=\"sub\">Attention weights of batch element ")
        .append(maps.batch())
        .append(" (rows: queries, columns: keys; padded keys get ~0 weight). Maps: white to blue")
        .append(" over 0..the map's max. Differences from the float64 reference: blue (negative) –")
        .append(" white – red (positive) over ±")
        .append(VerifyConsole.format(range))
        .append(", the largest difference at this site, so that its pattern shows; the tolerance")
        .append(" near a weight of 1 is atol + rtol = ")
        .append(VerifyConsole.format(tolerance))
        .append(").</p>\n<div class=\"heads\">");
    for (int h = 0; h < maps.reference().size(); h++) {
      float[] shown = ort ? maps.onnxRuntime().get(h) : maps.reference().get(h);
      html.append("<div class=\"head\"><div class=\"title\">head ").append(h).append("</div>");
      image(html, maps, shown, false, 0, cell, (ort ? "onnxruntime" : "float64-reference"));
      if (ort) {
        image(
            html,
            maps,
            minus(maps.onnxRuntime().get(h), maps.reference().get(h)),
            true,
            range,
            cell,
            "onnxruntime − ref");
      }
      if (project) {
        image(
            html,
            maps,
            minus(maps.project().get(h), maps.reference().get(h)),
            true,
            range,
            cell,
            "djl − ref");
      }
      html.append("</div>");
    }
    html.append("</div>\n");
  }

  private static void image(
      StringBuilder html,
      SiteResult.HeadMaps maps,
      float[] values,
      boolean difference,
      float range,
      int cell,
      String caption) {
    float max = 0;
    for (float v : values) {
      max = Math.max(max, Math.abs(v));
    }
    int[] rgb = new int[values.length];
    for (int i = 0; i < values.length; i++) {
      rgb[i] =
          difference
              ? diverging(range == 0 ? 0 : values[i] / range)
              : sequential(max == 0 ? 0 : values[i] / max);
    }
    html.append("<figure><img alt=\"")
        .append(escape(caption))
        .append("\" width=\"")
        .append(maps.columns() * cell)
        .append("\" height=\"")
        .append(maps.rows() * cell)
        .append("\" src=\"")
        .append(Png.dataUri(maps.columns(), maps.rows(), rgb))
        .append("\"><figcaption>")
        .append(escape(caption))
        .append("<br><span class=\"sub\">")
        .append(
            difference
                ? "max |d| " + VerifyConsole.format(max)
                : "max " + String.format(Locale.ROOT, "%.3f", max))
        .append("</span></figcaption></figure>");
  }

  private static float maxAbsDifference(float[] a, float[] b) {
    float max = 0;
    for (int i = 0; i < a.length; i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
    }
    return max;
  }

  private static float[] minus(float[] a, float[] b) {
    float[] d = new float[a.length];
    for (int i = 0; i < a.length; i++) {
      d[i] = a[i] - b[i];
    }
    return d;
  }

  private static int sequential(float v) {
    if (!Float.isFinite(v)) {
      return 0xff00ff;
    }
    double t = Math.max(0, Math.min(1, v));
    int r = (int) Math.round(255 - t * (255 - 8));
    int g = (int) Math.round(255 - t * (255 - 48));
    int b = (int) Math.round(255 - t * (255 - 107));
    return (r << 16) | (g << 8) | b;
  }

  private static int diverging(float v) {
    if (!Float.isFinite(v)) {
      return 0xff00ff;
    }
    double t = Math.max(-1, Math.min(1, v));
    int fade = (int) Math.round(255 - Math.abs(t) * 215);
    return t >= 0 ? (0xff << 16) | (fade << 8) | fade : (fade << 16) | (fade << 8) | 0xff;
  }

  private static String rowClass(SiteVerdict verdict) {
    switch (verdict.kind()) {
      case ALL_AGREE:
        return "agree";
      case NOT_VERIFIED:
        return "skipped";
      default:
        return "fail";
    }
  }

  private static void row(StringBuilder html, String label, String value) {
    html.append("<tr><th>")
        .append(escape(label))
        .append("</th><td>")
        .append(escape(value))
        .append("</td></tr>");
  }

  private static String fileName(String path) {
    int slash = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
    return path.substring(slash + 1);
  }

  static String escape(String text) {
    StringBuilder out = new StringBuilder(text.length());
    for (char ch : text.toCharArray()) {
      switch (ch) {
        case '<':
          out.append("&lt;");
          break;
        case '>':
          out.append("&gt;");
          break;
        case '&':
          out.append("&amp;");
          break;
        case '"':
          out.append("&quot;");
          break;
        default:
          out.append(ch < 0x20 && ch != '\n' && ch != '\t' ? '?' : ch);
      }
    }
    return out.toString();
  }

  private static final String CSS =
      String.join(
          "\n",
          "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1a1a1a}",
          "h1{font-size:24px}h2{margin-top:28px;border-bottom:1px solid #ddd}h3{margin-bottom:4px}",
          "table{border-collapse:collapse;font-size:13px;margin:10px 0}",
          "td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}",
          "th{background:#f3f3f3}.small td,.small th{padding:2px 8px}",
          "tr.fail{background:#fde8e8}tr.skipped{color:#888}",
          ".ok{color:#176f2c;font-weight:600}.bad{color:#b42318;font-weight:600}",
          "td.bad{background:#fde8e8}.sub{color:#666;font-size:11px;font-weight:400}",
          ".badge{font-size:13px;padding:2px 8px;border-radius:10px;color:#fff}",
          ".badge.ok{background:#176f2c}.badge.bad{background:#b42318}",
          "section{border-top:1px solid #eee;padding-top:6px;margin-top:18px}",
          ".heads{display:flex;gap:14px;flex-wrap:wrap;align-items:flex-start}",
          ".head{border:1px solid #eee;padding:4px}.head .title{font-size:12px;font-weight:600}",
          "figure{margin:2px;display:inline-block;vertical-align:top}",
          "figcaption{font-size:11px;text-align:center}",
          "img{border:1px solid #999;image-rendering:pixelated;image-rendering:crisp-edges}",
          "");
}
