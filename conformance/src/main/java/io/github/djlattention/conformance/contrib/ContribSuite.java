package io.github.djlattention.conformance.contrib;

import ai.djl.Device;
import io.github.djlattention.conformance.ConformanceSuite;
import io.github.djlattention.conformance.Implementation;
import io.github.djlattention.ort.OrtDevice;
import java.util.List;

/**
 * ONNX Runtime's fused {@code com.microsoft} attention operators on the generated cases of {@link
 * ContribCases}, against the float64 reference: the project's adapters must agree, ONNX Runtime's
 * disagreements are findings.
 */
public final class ContribSuite implements ConformanceSuite<ContribCase> {

  /** The suite's name. */
  public static final String NAME = "contrib";

  /** The oracle's name: the plain-Java float64 reference of the operators' semantics. */
  public static final String ORACLE = "float64-reference";

  private final List<ContribCase> cases;
  private final Implementation<ContribCase> project;
  private final List<Implementation<ContribCase>> alsoProject;
  private final List<Implementation<ContribCase>> others;

  /**
   * Creates the suite.
   *
   * @param cases the cases
   * @param project the project's main implementation
   * @param alsoProject further project implementations
   * @param others other implementations, e.g. ONNX Runtime
   */
  public ContribSuite(
      List<ContribCase> cases,
      Implementation<ContribCase> project,
      List<Implementation<ContribCase>> alsoProject,
      List<Implementation<ContribCase>> others) {
    this.cases = List.copyOf(cases);
    this.project = project;
    this.alsoProject = List.copyOf(alsoProject);
    this.others = List.copyOf(others);
  }

  /**
   * The suite on the standard cases: the adapters with and without weights, and ONNX Runtime.
   *
   * @param device where DJL computes
   * @param ortDevice where ONNX Runtime runs
   * @param threads ONNX Runtime intra-op threads
   * @return the suite
   */
  public static ContribSuite standard(Device device, OrtDevice ortDevice, int threads) {
    return new ContribSuite(
        ContribCases.standard(),
        DjlContribImplementation.withWeights(device),
        List.of(DjlContribImplementation.outputOnly(device)),
        List.of(new OrtContribImplementation(ortDevice, threads)));
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public String oracleName() {
    return ORACLE;
  }

  @Override
  public List<ContribCase> cases() {
    return cases;
  }

  @Override
  public Implementation<ContribCase> project() {
    return project;
  }

  @Override
  public List<Implementation<ContribCase>> alsoProject() {
    return alsoProject;
  }

  @Override
  public List<Implementation<ContribCase>> others() {
    return others;
  }
}
