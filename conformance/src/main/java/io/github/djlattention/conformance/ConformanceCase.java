package io.github.djlattention.conformance;

import ai.djl.ndarray.NDManager;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.compare.Tolerances;

/** One conformance case: a named input set with the oracle's expected outputs. */
public interface ConformanceCase {

  /**
   * A unique name within the suite.
   *
   * @return the name
   */
  String name();

  /**
   * The group the console table aggregates this case into, e.g. {@code kv-cache}.
   *
   * @return the group
   */
  String group();

  /**
   * The element type of the case's main inputs, e.g. {@code float32}.
   *
   * @return the type name
   */
  String dataType();

  /**
   * The oracle's outputs.
   *
   * @param manager owns the returned arrays
   * @return the expected outputs, and the oracle's attention weights if known
   */
  CaseOutputs expected(NDManager manager);

  /**
   * The tolerance for one output. By default it follows the oracle's element type; a case whose
   * oracle computes in a wider type than the inputs (a float64 control for float32 inputs) picks
   * the inputs' type instead.
   *
   * @param output the output's name
   * @param expected the oracle's array
   * @return the tolerance
   */
  default Tolerance tolerance(String output, ai.djl.ndarray.NDArray expected) {
    return Tolerances.forType(expected.getDataType());
  }
}
