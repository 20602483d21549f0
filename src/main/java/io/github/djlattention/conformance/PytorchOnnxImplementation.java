package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnxruntime.OrtLoggingLevel;
import io.github.djlattention.ort.OrtDevice;
import io.github.djlattention.ort.OrtRunner;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Runs PyTorch's own exported {@code model.onnx} of a reference model on ONNX Runtime. */
public final class PytorchOnnxImplementation implements Implementation<PytorchModelCase> {

  /** This implementation's name in reports. */
  public static final String NAME = "onnxruntime";

  private final OrtDevice device;
  private final int threads;

  /**
   * Creates the implementation.
   *
   * @param device where ONNX Runtime runs
   * @param threads intra-op threads per session
   */
  public PytorchOnnxImplementation(OrtDevice device, int threads) {
    this.device = device;
    this.threads = threads;
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public CaseOutputs run(PytorchModelCase testCase, NDManager manager) {
    try (OrtRunner runner =
        OrtRunner.builder()
            .optDevice(device)
            .optIntraOpThreads(threads)
            .optInterOpThreads(1)
            .optLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL)
            .build(testCase.model())) {
      Map<String, NDArray> outputs =
          runner.run(
              testCase.inputs(manager), new LinkedHashSet<>(List.of("output", "weights")), manager);
      return new CaseOutputs(outputs, Optional.ofNullable(outputs.get("weights")));
    }
  }
}
