package io.github.djlattention.conformance;

/** Told after each case of a long run. */
@FunctionalInterface
public interface ProgressListener {

  /** A listener that ignores progress. */
  ProgressListener NONE = (suite, done, total, result) -> {};

  /**
   * Called after a case finishes.
   *
   * @param suite the suite's name
   * @param done cases finished so far in this suite
   * @param total cases in this suite
   * @param result the finished case
   */
  void caseFinished(String suite, int done, int total, CaseResult result);
}
