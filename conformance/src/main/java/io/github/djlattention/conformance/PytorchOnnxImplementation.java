package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.ort.OrtDevice;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Runs PyTorch's own exported {@code model.onnx} of a reference model on ONNX Runtime. */
public final class PytorchOnnxImplementation implements Implementation<PytorchModelCase> {

  /** This implementation's name in reports. */
  public static final String NAME = "onnxruntime";

  private final OrtSettings ort;

  /**
   * Creates the implementation.
   *
   * @param device where ONNX Runtime runs
   * @param threads intra-op threads per session
   */
  public PytorchOnnxImplementation(OrtDevice device, int threads) {
    this.ort = new OrtSettings(device, threads);
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public CaseOutputs run(PytorchModelCase testCase, NDManager manager) {
    Map<String, NDArray> outputs =
        ort.runOnce(
            testCase.model(),
            testCase.inputs(manager),
            new LinkedHashSet<>(List.of("output", "weights")),
            manager);
    return new CaseOutputs(outputs, Optional.ofNullable(outputs.get("weights")));
  }
}
