package io.github.djlattention.conformance;

import io.github.djlattention.ort.OrtDevice;
import java.nio.file.Path;
import java.util.List;

/**
 * The PyTorch reference models of {@code models/}: the project's block, loaded from each model's
 * state dict and run through a DJL predictor, against PyTorch's eager outputs; ONNX Runtime on
 * PyTorch's {@code model.onnx} and on the project's own exports (opsets 17 and 23) for information.
 */
public final class PytorchSuite extends ListedSuite<PytorchModelCase> {

  /** The suite's name. */
  public static final String NAME = "pytorch";

  /** The oracle's name: PyTorch's eager outputs. */
  public static final String ORACLE = "pytorch";

  /**
   * Creates the suite.
   *
   * @param cases the models
   * @param project the project's implementation (the block)
   * @param others other implementations
   */
  public PytorchSuite(
      List<PytorchModelCase> cases,
      Implementation<PytorchModelCase> project,
      List<Implementation<PytorchModelCase>> others) {
    super(NAME, ORACLE, cases, project, List.of(), others);
  }

  /**
   * The suite with the project's block, ONNX Runtime on PyTorch's graphs and on both exported
   * forms.
   *
   * @param directory the models folder, e.g. {@link PytorchModels#DEFAULT_DIRECTORY}
   * @param ortDevice where ONNX Runtime runs
   * @param threads ONNX Runtime intra-op threads
   * @return the suite
   */
  public static PytorchSuite standard(Path directory, OrtDevice ortDevice, int threads) {
    return new PytorchSuite(
        PytorchModels.load(directory),
        new BlockImplementation<>(),
        List.of(
            new PytorchOnnxImplementation(ortDevice, threads),
            new ExportedOnnxImplementation<>(17, ortDevice, threads),
            new ExportedOnnxImplementation<>(23, ortDevice, threads)));
  }
}
