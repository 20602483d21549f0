package io.github.djlattention.conformance;

import java.util.List;

/**
 * A named list of cases with an oracle (the cases' expected outputs), the project's implementation,
 * and other implementations compared for information.
 *
 * @param <C> the case type
 */
public interface ConformanceSuite<C extends ConformanceCase> {

  /**
   * The suite's name, e.g. {@code onnx-attention}.
   *
   * @return the name
   */
  String name();

  /**
   * The name of the oracle whose outputs the cases hold, e.g. {@code onnx-reference}.
   *
   * @return the oracle's name
   */
  String oracleName();

  /**
   * The cases, in report order.
   *
   * @return the cases
   */
  List<C> cases();

  /**
   * The project's main implementation: the suite passes when it and every {@link #alsoProject}
   * implementation agree with the oracle on every case they run.
   *
   * @return the implementation under test
   */
  Implementation<C> project();

  /**
   * Further implementations that belong to the project (e.g. the DJL block beside the functional
   * API): the project passes a case only when every one of them that runs it agrees too.
   *
   * @return the further project implementations, empty by default
   */
  default List<Implementation<C>> alsoProject() {
    return List.of();
  }

  /**
   * Other implementations whose agreement is recorded as findings, not failures.
   *
   * @return the other implementations, possibly empty
   */
  List<Implementation<C>> others();
}
