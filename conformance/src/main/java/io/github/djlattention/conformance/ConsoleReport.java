package io.github.djlattention.conformance;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Prints a suite's results as a table: one line per case group (cases, then for each implementation
 * the cases it agrees on out of those it ran and its largest absolute error), the suite's line
 * {@code all}, one line per case on which any implementation disagrees with the oracle, and the
 * suite totals; the grand total comes last.
 */
public final class ConsoleReport {

  /** Longest explanation printed per implementation; the JSON report keeps the whole text. */
  private static final int EXPLANATION_LIMIT = 200;

  private ConsoleReport() {}

  /** The width of an implementation's first column: its name or "12/12 ok", whichever is wider. */
  private static int width(String implementation) {
    return Math.max(12, implementation.length());
  }

  /** Keeps the start and the end of a long text: ONNX Runtime puts the cause at the end. */
  private static String shorten(String text, int limit) {
    if (text.length() <= limit) {
      return text;
    }
    int half = (limit - 5) / 2;
    return text.substring(0, half) + " ... " + text.substring(text.length() - half);
  }

  /**
   * Prints the table.
   *
   * @param suites the suite results
   * @param out where to print
   */
  public static void print(List<SuiteResult> suites, PrintWriter out) {
    for (SuiteResult suite : suites) {
      printSuite(suite, out);
    }
    int passed = suites.stream().mapToInt(SuiteResult::passed).sum();
    int failed = suites.stream().mapToInt(SuiteResult::failed).sum();
    int skipped = suites.stream().mapToInt(SuiteResult::skipped).sum();
    out.printf(
        Locale.ROOT,
        "TOTAL: %d passed, %d failed, %d skipped -> %s%n",
        passed,
        failed,
        skipped,
        failed == 0 ? "PASS" : "FAIL");
    out.flush();
  }

  private static void printSuite(SuiteResult suite, PrintWriter out) {
    List<String> implementations = suite.implementations();
    out.printf(
        Locale.ROOT,
        "suite %s (oracle: %s, project: %s)%n",
        suite.name(),
        suite.oracle(),
        String.join(", ", suite.projects()));
    StringBuilder header =
        new StringBuilder(String.format(Locale.ROOT, "  %-28s %5s", "group", "cases"));
    for (String implementation : implementations) {
      header.append(
          String.format(
              Locale.ROOT, " %" + width(implementation) + "s %10s", implementation, "max abs"));
    }
    out.println(header);
    Map<String, List<CaseResult>> groups = new LinkedHashMap<>();
    suite.cases().stream()
        .sorted(java.util.Comparator.comparing(CaseResult::group))
        .forEach(c -> groups.computeIfAbsent(c.group(), g -> new java.util.ArrayList<>()).add(c));
    groups.forEach((group, cases) -> out.println(row(group, cases, implementations)));
    out.println(row("all", suite.cases(), implementations));
    for (CaseResult c : suite.cases()) {
      if (c.verdict().kind() != Verdict.Kind.ALL_AGREE) {
        out.printf(
            Locale.ROOT, "  %-8s %s: %s%n", label(c.verdict()), c.name(), c.verdict().summary());
        for (ImplementationResult r : c.all()) {
          if (!r.agrees()) {
            out.printf(
                Locale.ROOT,
                "           %s: %s%n",
                r.implementation(),
                shorten(r.explanation(), EXPLANATION_LIMIT));
          }
        }
      }
    }
    out.printf(
        Locale.ROOT,
        "  %s: %d passed, %d failed, %d skipped of %d%n",
        suite.name(),
        suite.passed(),
        suite.failed(),
        suite.skipped(),
        suite.total());
  }

  private static String row(String group, List<CaseResult> cases, List<String> implementations) {
    StringBuilder line =
        new StringBuilder(String.format(Locale.ROOT, "  %-28s %5d", group, cases.size()));
    for (String implementation : implementations) {
      int ran = 0;
      int agree = 0;
      int computed = 0;
      double maxAbs = 0;
      for (CaseResult c : cases) {
        for (ImplementationResult r : c.all()) {
          if (r.implementation().equals(implementation)) {
            ran++;
            if (r.agrees()) {
              agree++;
            }
            if (r.error().isEmpty()) {
              computed++;
              double error = r.maxAbsError();
              maxAbs =
                  Double.isNaN(error) || Double.isNaN(maxAbs)
                      ? Double.NaN
                      : Math.max(maxAbs, error);
            }
          }
        }
      }
      // The worst error over every case the implementation computed, agreeing or not; "-" where
      // it computed none (not run, or an error on every case).
      line.append(
          String.format(
              Locale.ROOT,
              " %" + width(implementation) + "s %10s",
              ran == 0 ? "-" : agree + "/" + ran + " ok",
              computed == 0 ? "-" : format(maxAbs)));
    }
    return line.toString();
  }

  /**
   * Formats an error for tables.
   *
   * @param value the error
   * @return e.g. {@code 1.2e-07}
   */
  static String format(double value) {
    return Double.isFinite(value)
        ? String.format(Locale.ROOT, "%.1e", value)
        : String.valueOf(value);
  }

  private static String label(Verdict verdict) {
    switch (verdict.kind()) {
      case OTHER_DEVIATES:
        return "FINDING";
      case SKIPPED:
        return "SKIP";
      default:
        return "FAIL";
    }
  }

  /**
   * A progress listener that prints one short line per case to {@code out}.
   *
   * @param out where to print, typically stderr
   * @return the listener
   */
  public static ProgressListener progress(PrintWriter out) {
    return (suite, done, total, result) -> {
      out.printf(
          Locale.ROOT,
          "[%s %d/%d] %-60s %s%n",
          suite,
          done,
          total,
          result.name(),
          result.verdict().projectPasses() ? "ok" : result.verdict().summary());
      out.flush();
    };
  }
}
