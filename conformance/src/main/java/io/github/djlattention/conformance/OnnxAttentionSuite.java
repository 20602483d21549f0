package io.github.djlattention.conformance;

import java.nio.file.Path;
import java.util.List;

/**
 * The ONNX {@code Attention} operator's own backend test cases, checked against the outputs of the
 * ONNX reference implementation.
 */
public final class OnnxAttentionSuite extends ListedSuite<OnnxAttentionCase> {

  /** The suite's name. */
  public static final String NAME = "onnx-attention";

  /** The oracle's name: the ONNX project's reference implementation. */
  public static final String ORACLE = "onnx-reference";

  /**
   * Creates the suite.
   *
   * @param cases the cases
   * @param project the project's implementation
   * @param others other implementations, e.g. ONNX Runtime
   */
  public OnnxAttentionSuite(
      List<OnnxAttentionCase> cases,
      Implementation<OnnxAttentionCase> project,
      List<Implementation<OnnxAttentionCase>> others) {
    this(cases, project, List.of(), others);
  }

  /**
   * Creates the suite with further project implementations, such as the fast path.
   *
   * @param cases the cases
   * @param project the project's implementation
   * @param alsoProject further project implementations
   * @param others other implementations, e.g. ONNX Runtime
   */
  public OnnxAttentionSuite(
      List<OnnxAttentionCase> cases,
      Implementation<OnnxAttentionCase> project,
      List<Implementation<OnnxAttentionCase>> alsoProject,
      List<Implementation<OnnxAttentionCase>> others) {
    super(NAME, ORACLE, cases, project, alsoProject, others);
  }

  /**
   * Loads the cases from a directory.
   *
   * @param directory the case directory, e.g. {@link OnnxAttentionCases#DEFAULT_DIRECTORY}
   * @param project the project's implementation
   * @param others other implementations
   * @return the suite
   */
  public static OnnxAttentionSuite load(
      Path directory,
      Implementation<OnnxAttentionCase> project,
      List<Implementation<OnnxAttentionCase>> others) {
    return load(directory, project, List.of(), others);
  }

  /**
   * Loads the cases from a directory, with further project implementations.
   *
   * @param directory the case directory
   * @param project the project's implementation
   * @param alsoProject further project implementations, such as the fast path
   * @param others other implementations
   * @return the suite
   */
  public static OnnxAttentionSuite load(
      Path directory,
      Implementation<OnnxAttentionCase> project,
      List<Implementation<OnnxAttentionCase>> alsoProject,
      List<Implementation<OnnxAttentionCase>> others) {
    return new OnnxAttentionSuite(OnnxAttentionCases.load(directory), project, alsoProject, others);
  }
}
