package io.github.djlattention.conformance;

import java.util.List;
import java.util.Optional;

/**
 * How one implementation did on one case.
 *
 * @param implementation the implementation's name
 * @param comparisons one comparison per expected output, in the oracle's order
 * @param error the implementation's error message if it failed to run, else empty
 */
public record ImplementationResult(
    String implementation, List<Comparison> comparisons, Optional<String> error) {

  /**
   * Copies the comparison list.
   *
   * @throws IllegalArgumentException if an argument is null
   */
  public ImplementationResult {
    if (implementation == null || comparisons == null || error == null) {
      throw new IllegalArgumentException("implementation result fields must not be null");
    }
    comparisons = List.copyOf(comparisons);
  }

  /**
   * Whether the implementation ran and every output agrees with the oracle.
   *
   * @return true on agreement
   */
  public boolean agrees() {
    return error.isEmpty() && comparisons.stream().allMatch(Comparison::agrees);
  }

  /**
   * The comparison with the largest absolute error, preferring failed ones.
   *
   * @return the worst comparison, empty if there are none
   */
  public Optional<Comparison> worst() {
    Comparison worst = null;
    for (Comparison c : comparisons) {
      if (worst == null
          || (!c.agrees() && worst.agrees())
          || (c.agrees() == worst.agrees() && greater(maxAbsError(c), maxAbsError(worst)))) {
        worst = c;
      }
    }
    return Optional.ofNullable(worst);
  }

  /**
   * Largest absolute error over all outputs.
   *
   * @return the error, NaN if any output had NaN, infinite if any was missing
   */
  public double maxAbsError() {
    return comparisons.stream()
        .mapToDouble(ImplementationResult::maxAbsError)
        .reduce(0, (a, b) -> Double.isNaN(a) || Double.isNaN(b) ? Double.NaN : Math.max(a, b));
  }

  /**
   * Largest relative error over all outputs.
   *
   * @return the error
   */
  public double maxRelError() {
    return comparisons.stream()
        .mapToDouble(c -> c.elements().statistics().maxRelError())
        .reduce(0, (a, b) -> Double.isNaN(a) || Double.isNaN(b) ? Double.NaN : Math.max(a, b));
  }

  private static double maxAbsError(Comparison c) {
    return c.elements().statistics().maxAbsError();
  }

  private static boolean greater(double a, double b) {
    return Double.isNaN(a) ? !Double.isNaN(b) : a > b;
  }

  /**
   * One line saying why the implementation disagrees, empty when it agrees.
   *
   * @return the explanation
   */
  public String explanation() {
    if (error.isPresent()) {
      return "error: " + error.get();
    }
    return worst()
        .filter(c -> !c.agrees())
        .map(
            c ->
                c.note().isEmpty()
                    ? String.format(
                        "%s: %d element(s) outside %s, worst at %s: expected %s, got %s",
                        c.output(),
                        c.elements().mismatched(),
                        c.tolerance(),
                        c.elements().worst().indexText(),
                        c.elements().worst().expected(),
                        c.elements().worst().actual())
                    : c.output() + ": " + c.note())
        .orElse("");
  }
}
