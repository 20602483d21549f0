package io.github.djlattention.conformance.contrib;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.conformance.CaseOutputs;
import io.github.djlattention.conformance.Implementation;
import java.util.Map;
import java.util.Optional;

/**
 * The project's adapters ({@code io.github.djlattention.ops.contrib}) on DJL's PyTorch engine: with
 * the weights (the step-by-step attention chain), or the output alone (the attention's fast path
 * where the node's settings allow it).
 */
public final class DjlContribImplementation implements Implementation<ContribCase> {

  /** The name of the implementation that returns the weights. */
  public static final String NAME = "djl";

  /** The name of the implementation that asks for the output alone. */
  public static final String FAST_NAME = "djl-fast";

  private final Device device;
  private final boolean weights;

  private DjlContribImplementation(Device device, boolean weights) {
    this.device = device;
    this.weights = weights;
  }

  /**
   * The adapters with the weights.
   *
   * @param device where DJL computes
   * @return the implementation
   */
  public static DjlContribImplementation withWeights(Device device) {
    return new DjlContribImplementation(device, true);
  }

  /**
   * The adapters asked for the output alone.
   *
   * @param device where DJL computes
   * @return the implementation
   */
  public static DjlContribImplementation outputOnly(Device device) {
    return new DjlContribImplementation(device, false);
  }

  @Override
  public String name() {
    return weights ? NAME : FAST_NAME;
  }

  @Override
  public CaseOutputs run(ContribCase testCase, NDManager manager) {
    try (NDManager work = NDManager.newBaseManager(device)) {
      Map<String, NDArray> outputs = testCase.node().compute(testCase.arrays(work), weights);
      Map<String, NDArray> comparable = testCase.comparable(outputs, manager);
      Optional<NDArray> map = Optional.empty();
      if (weights) {
        NDArray w = outputs.get("weights").toDevice(Device.cpu(), true);
        w.attach(manager);
        map = Optional.of(w);
      }
      return new CaseOutputs(comparable, map);
    }
  }
}
