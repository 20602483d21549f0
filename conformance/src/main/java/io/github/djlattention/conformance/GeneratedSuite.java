package io.github.djlattention.conformance;

import ai.djl.Device;
import io.github.djlattention.ort.OrtDevice;
import java.nio.file.Path;
import java.util.List;

/**
 * Seeded cases from {@code conformance/generated/cases.json}, checked against the float64
 * reference: the project's functional API and its blocks (through a DJL predictor) must agree; the
 * blocks' ONNX exports and the functional cases as a bare {@code Attention} node, both on ONNX
 * Runtime, are compared for information.
 */
public final class GeneratedSuite extends ListedSuite<GeneratedCase> {

  /** The suite's name. */
  public static final String NAME = "generated";

  /** The oracle's name: the plain-Java float64 reference attention. */
  public static final String ORACLE = "float64-reference";

  /**
   * Creates the suite.
   *
   * @param cases the cases
   * @param project the main project implementation (the functional API)
   * @param alsoProject further project implementations (the blocks)
   * @param others other implementations (the exports on ONNX Runtime)
   */
  public GeneratedSuite(
      List<GeneratedCase> cases,
      Implementation<GeneratedCase> project,
      List<Implementation<GeneratedCase>> alsoProject,
      List<Implementation<GeneratedCase>> others) {
    super(NAME, ORACLE, cases, project, alsoProject, others);
  }

  /**
   * The suite with the project's functional API and block on a device, both exported forms and the
   * bare operator on ONNX Runtime.
   *
   * @param file the matrix, e.g. {@link GeneratedCases#DEFAULT_FILE}
   * @param device where DJL computes
   * @param ortDevice where ONNX Runtime runs
   * @param threads ONNX Runtime intra-op threads
   * @return the suite
   */
  public static GeneratedSuite standard(
      Path file, Device device, OrtDevice ortDevice, int threads) {
    return new GeneratedSuite(
        GeneratedCases.load(file),
        new FunctionalImplementation(device),
        List.of(new BlockImplementation<>()),
        List.of(
            new ExportedOnnxImplementation<>(17, ortDevice, threads),
            new ExportedOnnxImplementation<>(23, ortDevice, threads),
            new OnnxOperatorImplementation(ortDevice, threads)));
  }
}
