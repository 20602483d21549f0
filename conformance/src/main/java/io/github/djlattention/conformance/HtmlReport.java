package io.github.djlattention.conformance;

import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.compare.Tolerances;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Writes suite results as one self-contained HTML page (inline CSS and SVG, no scripts, no
 * network): a summary, one row per case, and attention-weight heatmaps of each implementation and
 * of their difference for failing cases and chosen ones.
 */
public final class HtmlReport {

  /** Heatmaps aim at about this many pixels along their longer side. */
  private static final int MAP_SIZE = 160;

  /** Smallest half-range of the difference maps' color scale. */
  private static final float MIN_DIFFERENCE_RANGE = 0.01f;

  private HtmlReport() {}

  /**
   * Heatmaps for every case on which someone disagrees with the oracle, and for the first case of
   * each group.
   *
   * @param suites the results the page will show
   * @return the default choice of cases with heatmaps
   */
  public static Predicate<CaseResult> defaultHeatmapChoice(List<SuiteResult> suites) {
    Set<String> firstOfGroup = new HashSet<>();
    Set<String> seen = new HashSet<>();
    for (SuiteResult suite : suites) {
      for (CaseResult c : suite.cases()) {
        if (seen.add(suite.name() + "/" + c.group())) {
          firstOfGroup.add(c.name());
        }
      }
    }
    return c -> c.verdict().kind() != Verdict.Kind.ALL_AGREE || firstOfGroup.contains(c.name());
  }

  /**
   * Renders the page.
   *
   * @param suites the suite results
   * @param showHeatmaps which cases get heatmaps
   * @return the HTML text
   */
  public static String render(List<SuiteResult> suites, Predicate<CaseResult> showHeatmaps) {
    StringBuilder html = new StringBuilder();
    boolean pass = suites.stream().allMatch(s -> s.failed() == 0);
    html.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
        .append("<title>djl-attention conformance</title>\n<style>\n")
        .append(CSS)
        .append("</style></head><body>\n");
    html.append("<h1>djl-attention conformance <span class=\"badge ")
        .append(pass ? "ok\">PASS" : "bad\">FAIL")
        .append("</span></h1>\n");
    html.append("<p>Each case's outputs are compared element-wise with the oracle's: ")
        .append("|actual &minus; expected| &le; atol + rtol&middot;|expected|; equal infinities ")
        .append("agree, NaN never does. The project passes a case when every one of its ")
        .append("implementations that runs it agrees; other implementations' disagreements are ")
        .append("findings. Hover over <i>not run</i> for the reason.</p>\n");
    html.append("<table class=\"small\"><tr><th>dtype</th><th>rtol</th><th>atol</th></tr>");
    tolRow(html, "float32", Tolerances.FLOAT32);
    tolRow(html, "float16", Tolerances.FLOAT16);
    tolRow(html, "float64", Tolerances.FLOAT64);
    html.append("<tr><td>int, bool</td><td>0</td><td>0</td></tr></table>\n");
    for (SuiteResult suite : suites) {
      suiteSection(html, suite, showHeatmaps);
    }
    html.append("</body></html>\n");
    return html.toString();
  }

  private static void tolRow(StringBuilder html, String type, Tolerance t) {
    html.append("<tr><td>")
        .append(type)
        .append("</td><td>")
        .append(t.rtol())
        .append("</td><td>")
        .append(t.atol())
        .append("</td></tr>");
  }

  private static void suiteSection(
      StringBuilder html, SuiteResult suite, Predicate<CaseResult> showHeatmaps) {
    List<String> implementations = suite.implementations();
    html.append("<h2>Suite <code>").append(escape(suite.name())).append("</code></h2>\n");
    html.append("<p>Oracle: <b>")
        .append(escape(suite.oracle()))
        .append("</b>. Project: <b>")
        .append(escape(String.join(", ", suite.projects())))
        .append("</b>.</p>\n<div class=\"cards\">");
    card(html, "passed", suite.passed(), "ok");
    card(html, "failed", suite.failed(), suite.failed() == 0 ? "muted" : "bad");
    card(html, "skipped", suite.skipped(), "muted");
    card(html, "total", suite.total(), "muted");
    for (String implementation : implementations) {
      html.append("<div class=\"card\"><div class=\"num\">")
          .append(suite.agreeing(implementation))
          .append("/")
          .append(suite.ran(implementation))
          .append("</div><div>")
          .append(escape(implementation))
          .append(" agrees</div></div>");
    }
    html.append("</div>\n<table><tr><th>case</th><th>group</th><th>dtype</th><th>verdict</th>");
    for (String implementation : implementations) {
      html.append("<th>")
          .append(escape(implementation))
          .append("<br><span class=\"sub\">max abs / max rel / worst</span></th>");
    }
    html.append("</tr>\n");
    for (CaseResult c : suite.cases()) {
      html.append("<tr class=\"")
          .append(rowClass(c.verdict()))
          .append("\"><td><a href=\"#")
          .append(anchor(suite, c))
          .append("\">")
          .append(escape(c.name()))
          .append("</a></td><td>")
          .append(escape(c.group()))
          .append("</td><td>")
          .append(escape(c.dataType()))
          .append("</td><td>")
          .append(escape(c.verdict().summary()))
          .append("</td>");
      for (String implementation : implementations) {
        html.append("<td>");
        c.all().stream()
            .filter(r -> r.implementation().equals(implementation))
            .findFirst()
            .ifPresentOrElse(
                r -> cell(html, r),
                () ->
                    html.append("<span class=\"sub\" title=\"")
                        .append(escape(c.notRun().getOrDefault(implementation, "")))
                        .append("\">not run</span>"));
        html.append("</td>");
      }
      html.append("</tr>\n");
    }
    html.append("</table>\n<h3>Case details</h3>\n");
    for (CaseResult c : suite.cases()) {
      if (c.verdict().kind() == Verdict.Kind.SKIPPED) {
        continue;
      }
      boolean maps = showHeatmaps.test(c) && !c.heatmaps().isEmpty();
      if (!maps && c.verdict().kind() == Verdict.Kind.ALL_AGREE) {
        continue;
      }
      detail(html, suite, c, maps);
    }
  }

  private static void card(StringBuilder html, String label, int value, String kind) {
    html.append("<div class=\"card ")
        .append(kind)
        .append("\"><div class=\"num\">")
        .append(value)
        .append("</div><div>")
        .append(label)
        .append("</div></div>");
  }

  private static void cell(StringBuilder html, ImplementationResult r) {
    html.append("<span class=\"")
        .append(r.agrees() ? "ok" : "bad")
        .append("\">")
        .append(r.agrees() ? "agrees" : "differs")
        .append("</span> ");
    if (r.error().isPresent()) {
      html.append("<span class=\"sub\">error</span>");
      return;
    }
    html.append(ConsoleReport.format(r.maxAbsError()))
        .append(" / ")
        .append(ConsoleReport.format(r.maxRelError()));
    r.worst()
        .ifPresent(
            w ->
                html.append(" <span class=\"sub\">")
                    .append(escape(w.output()))
                    .append(escape(w.elements().worst().indexText()))
                    .append("</span>"));
  }

  private static void detail(StringBuilder html, SuiteResult suite, CaseResult c, boolean maps) {
    html.append("<section id=\"")
        .append(anchor(suite, c))
        .append("\"><h4>")
        .append(escape(c.name()))
        .append(" <span class=\"badge ")
        .append(c.verdict().projectPasses() ? "ok" : "bad")
        .append("\">")
        .append(escape(c.verdict().kind().name()))
        .append("</span></h4>\n<p>")
        .append(escape(c.verdict().summary()))
        .append("</p>\n<ul>");
    for (ImplementationResult r : c.all()) {
      html.append("<li><b>").append(escape(r.implementation())).append("</b>: ");
      if (r.agrees()) {
        html.append("agrees (max abs ")
            .append(ConsoleReport.format(r.maxAbsError()))
            .append(", max rel ")
            .append(ConsoleReport.format(r.maxRelError()))
            .append(")");
      } else {
        html.append("<span class=\"bad\">").append(escape(r.explanation())).append("</span>");
      }
      html.append("</li>");
    }
    html.append("</ul>\n");
    if (maps) {
      html.append("<p class=\"sub\">Attention weights, batch 0, head 0; rows are queries, ")
          .append("columns are keys.</p><div class=\"maps\">");
      for (Heatmap map : c.heatmaps()) {
        svg(html, map);
      }
      html.append("</div>\n");
    }
    html.append("</section>\n");
  }

  /**
   * Draws one map: probabilities on a white-to-blue scale 0..1, differences on blue-white-red
   * scaled to their largest magnitude (at least ±0.01). Hover a cell for its value.
   */
  private static void svg(StringBuilder html, Heatmap map) {
    boolean difference = map.title().contains(" - ");
    float max = 0;
    for (float v : map.values()) {
      max = Math.max(max, Math.abs(v));
    }
    // Differences use a symmetric scale of at least ±0.01 so rounding noise stays near white.
    float range = difference ? Math.max(max, MIN_DIFFERENCE_RANGE) : 1f;
    int cell =
        Math.max(6, Math.min(40, MAP_SIZE / Math.max(1, Math.max(map.rows(), map.columns()))));
    int width = map.columns() * cell;
    int height = map.rows() * cell;
    html.append("<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"")
        .append(width)
        .append("\" height=\"")
        .append(height)
        .append("\" viewBox=\"0 0 ")
        .append(width)
        .append(' ')
        .append(height)
        .append("\">");
    for (int row = 0; row < map.rows(); row++) {
      for (int col = 0; col < map.columns(); col++) {
        float v = map.values()[row * map.columns() + col];
        html.append("<rect x=\"")
            .append(col * cell)
            .append("\" y=\"")
            .append(row * cell)
            .append("\" width=\"")
            .append(cell)
            .append("\" height=\"")
            .append(cell)
            .append("\" fill=\"")
            .append(difference ? diverging(v / range) : sequential(v))
            .append("\"><title>[")
            .append(row)
            .append(", ")
            .append(col)
            .append("] ")
            .append(String.format(Locale.ROOT, "%.6g", v))
            .append("</title></rect>");
      }
    }
    html.append("</svg><figcaption>")
        .append(escape(map.title()))
        .append("<br><span class=\"sub\">")
        .append(map.rows())
        .append("&times;")
        .append(map.columns())
        .append(
            difference
                ? ", max |diff| "
                    + ConsoleReport.format(max)
                    + ", scale &plusmn;"
                    + ConsoleReport.format(range)
                : ", scale 0..1")
        .append("</span></figcaption></figure>");
  }

  private static String sequential(float v) {
    if (!Float.isFinite(v)) {
      return "#ff00ff";
    }
    double t = Math.max(0, Math.min(1, v));
    int r = (int) Math.round(255 - t * (255 - 8));
    int g = (int) Math.round(255 - t * (255 - 48));
    int b = (int) Math.round(255 - t * (255 - 107));
    return String.format(Locale.ROOT, "#%02x%02x%02x", r, g, b);
  }

  private static String diverging(float v) {
    if (!Float.isFinite(v)) {
      return "#ff00ff";
    }
    double t = Math.max(-1, Math.min(1, v));
    int r;
    int g;
    int b;
    if (t >= 0) {
      r = 255;
      g = (int) Math.round(255 - t * 200);
      b = (int) Math.round(255 - t * 200);
    } else {
      r = (int) Math.round(255 + t * 200);
      g = (int) Math.round(255 + t * 200);
      b = 255;
    }
    return String.format(Locale.ROOT, "#%02x%02x%02x", r, g, b);
  }

  private static String rowClass(Verdict verdict) {
    switch (verdict.kind()) {
      case ALL_AGREE:
        return "agree";
      case OTHER_DEVIATES:
        return "finding";
      case SKIPPED:
        return "skipped";
      default:
        return "fail";
    }
  }

  private static String anchor(SuiteResult suite, CaseResult c) {
    return (suite.name() + "-" + c.name()).replaceAll("[^A-Za-z0-9_-]", "_");
  }

  /**
   * Escapes text for HTML.
   *
   * @param text raw text
   * @return escaped text
   */
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
          out.append(ch);
      }
    }
    return out.toString();
  }

  private static final String CSS =
      String.join(
          "\n",
          "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1a1a1a}",
          "h1{font-size:24px}h2{margin-top:32px;border-bottom:1px solid #ddd}",
          "table{border-collapse:collapse;font-size:13px;margin:12px 0}",
          "td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}",
          "th{background:#f3f3f3}.small td,.small th{padding:2px 8px}",
          "tr.fail{background:#fde8e8}tr.finding{background:#fff6da}tr.skipped{color:#888}",
          ".ok{color:#176f2c;font-weight:600}.bad{color:#b42318;font-weight:600}",
          ".muted{color:#555}.sub{color:#666;font-size:11px;font-weight:400}",
          ".badge{font-size:13px;padding:2px 8px;border-radius:10px;color:#fff}",
          ".badge.ok{background:#176f2c}.badge.bad{background:#b42318}",
          ".cards{display:flex;gap:12px;flex-wrap:wrap}",
          ".card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:90px}",
          ".card .num{font-size:22px;font-weight:700}",
          "section{border-top:1px solid #eee;padding-top:6px}",
          ".maps{display:flex;gap:18px;flex-wrap:wrap;align-items:flex-start}",
          "figure{margin:0}figcaption{font-size:12px;text-align:center}",
          "svg{border:1px solid #999;image-rendering:pixelated}",
          "");
}
