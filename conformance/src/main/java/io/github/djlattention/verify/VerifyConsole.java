package io.github.djlattention.verify;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/** The verification as a table on the console: one row per site, then the deviating sites. */
public final class VerifyConsole {

  /** The columns: implementation and output, and their header. */
  private static final String[][] COLUMNS = {
    {SiteChecker.ORT, "output", "ort out"},
    {SiteChecker.ORT, "weights", "ort P"},
    {SiteChecker.DJL, "output", "djl out"},
    {SiteChecker.DJL, "weights", "djl P"},
    {SiteChecker.DJL_FAST, "output", "fast out"},
    {SiteChecker.ORT, "sublayer|merged", "ort sub"},
    {SiteChecker.DJL_BLOCK, "sublayer|merged", "block sub"},
  };

  private VerifyConsole() {}

  /**
   * Prints the report.
   *
   * @param report the report
   * @param settings the settings it ran with
   * @param out where to print
   */
  public static void print(ModelReport report, VerifySettings settings, PrintWriter out) {
    out.println("model:     " + report.model() + " (" + report.producer() + ")");
    out.println("inputs:    " + report.inputs());
    out.println(
        "runtime:   "
            + report.runtime()
            + "; exposing the sites' tensors changed the model's outputs by "
            + format(report.tapEffect()));
    out.printf(
        Locale.ROOT,
        "tolerance: |x - ref| <= atol + rtol*|ref|; core (output, weights P) rtol %s atol %s,"
            + " sublayer rtol %s atol %s; oracle %s%n",
        format(settings.coreRtol()),
        format(settings.coreAtol()),
        format(settings.sublayerRtol()),
        format(settings.sublayerAtol()),
        SiteChecker.REFERENCE);
    out.println("max abs error against the float64 reference per site:");
    int layerWidth =
        Math.max(
            5, report.sites().stream().mapToInt(s -> s.site().layer().length()).max().orElse(5));
    StringBuilder header =
        new StringBuilder(
            String.format(
                Locale.ROOT, "  %3s  %-" + layerWidth + "s  %-9s", "#", "layer", "verdict"));
    for (String[] column : COLUMNS) {
      header.append(String.format(Locale.ROOT, " %9s", column[2]));
    }
    out.println(header);
    for (SiteResult site : report.sites()) {
      StringBuilder row =
          new StringBuilder(
              String.format(
                  Locale.ROOT,
                  "  %3d  %-" + layerWidth + "s  %-9s",
                  site.site().index(),
                  site.site().layer(),
                  verdictWord(site.verdict())));
      for (String[] column : COLUMNS) {
        row.append(String.format(Locale.ROOT, " %9s", cell(site, column[0], column[1])));
      }
      out.println(row);
    }
    for (SiteResult site : report.sites()) {
      if (!site.verdict().agrees()) {
        out.println(
            (site.verdict().kind() == SiteVerdict.Kind.NOT_VERIFIED ? "NOT VERIFIED " : "DEVIATES ")
                + site.verdict().summary());
      }
    }
    long agreeing = report.sites().stream().filter(s -> s.verdict().agrees()).count();
    long unverified =
        report.sites().stream()
            .filter(s -> s.verdict().kind() == SiteVerdict.Kind.NOT_VERIFIED)
            .count();
    out.printf(
        Locale.ROOT,
        "%d of %d sites agree, %d deviate, %d not verified -> %s (%.1f s)%n",
        agreeing,
        report.sites().size(),
        report.deviating().size(),
        unverified,
        report.allAgree() ? "PASS" : "FAIL",
        report.seconds());
  }

  private static String verdictWord(SiteVerdict verdict) {
    switch (verdict.kind()) {
      case ALL_AGREE:
        return "agree";
      case ONNX_RUNTIME_DEVIATES:
        return "ORT DEV";
      case PROJECT_DEVIATES:
        return "DJL DEV";
      case BOTH_DEVIATE:
        return "BOTH DEV";
      default:
        return "not run";
    }
  }

  private static String cell(SiteResult site, String implementation, String outputs) {
    Optional<SiteResult.Check> check = find(site.checks(), implementation, outputs);
    if (check.isEmpty()) {
      return "-";
    }
    if (check.get().error() != null) {
      return "error";
    }
    return format(check.get().whole().statistics().maxAbsError())
        + (check.get().agrees() ? "" : "!");
  }

  static Optional<SiteResult.Check> find(
      List<SiteResult.Check> checks, String implementation, String outputs) {
    List<String> names = List.of(outputs.split("\\|"));
    return checks.stream()
        .filter(c -> c.implementation().equals(implementation) && names.contains(c.output()))
        .findFirst();
  }

  /** A number in two significant digits, e.g. {@code 1.6e-06}; 0 as {@code 0}. */
  static String format(double value) {
    if (value == 0) {
      return "0";
    }
    if (Double.isNaN(value)) {
      return "NaN";
    }
    if (Double.isInfinite(value)) {
      return value > 0 ? "inf" : "-inf";
    }
    return String.format(Locale.ROOT, "%.1e", value);
  }
}
