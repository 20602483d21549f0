package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.djlattention.onnx.OnnxExporter;
import io.github.djlattention.ort.OrtDevice;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Exports a {@link BlockCase}'s block with {@link OnnxExporter} in one form (opset 17 decomposed or
 * opset 23 with the {@code Attention} operator) and runs the graph on ONNX Runtime.
 *
 * @param <C> the case type
 */
public final class ExportedOnnxImplementation<C extends BlockCase> implements Implementation<C> {

  private final int opset;
  private final OrtSettings ort;

  /**
   * Creates the implementation.
   *
   * @param opset 17 or 23
   * @param device where ONNX Runtime runs
   * @param threads intra-op threads per session
   */
  public ExportedOnnxImplementation(int opset, OrtDevice device, int threads) {
    this.opset = opset;
    this.ort = new OrtSettings(device, threads);
  }

  /**
   * The report name of the export in one opset.
   *
   * @param opset 17 or 23
   * @return e.g. {@code ort-opset23}
   */
  public static String name(int opset) {
    return "ort-opset" + opset;
  }

  @Override
  public String name() {
    return name(opset);
  }

  @Override
  public Optional<String> notApplicable(C testCase) {
    Optional<String> block = testCase.blockUnsupported();
    if (block.isPresent()) {
      return block;
    }
    if (!testCase.dataType().equals(DataType.FLOAT32.toString())) {
      return Optional.of("the exporter writes float32 graphs, the case is " + testCase.dataType());
    }
    return Optional.empty();
  }

  @Override
  public CaseOutputs run(C testCase, NDManager manager) {
    try (NDManager work = manager.newSubManager()) {
      byte[] model = OnnxExporter.export(testCase.block(work), testCase.exportOptions(opset));
      // The outputs go straight to the caller's manager, so that they outlive the work scope.
      Map<String, NDArray> outputs =
          ort.runOnce(model, testCase.onnxInputs(work), Set.of("output", "weights"), manager);
      return testCase.fromBlock(outputs.get("output"), outputs.get("weights"), manager);
    }
  }
}
