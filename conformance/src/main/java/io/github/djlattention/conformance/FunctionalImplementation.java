package io.github.djlattention.conformance;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import io.github.djlattention.ops.AttentionResult;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Runs a {@link FunctionalCase} of the generated suite through the project's {@link
 * Attention#attention} on DJL (PyTorch engine), in the case's element type.
 */
public final class FunctionalImplementation implements Implementation<GeneratedCase> {

  /** This implementation's name in reports. */
  public static final String NAME = "djl";

  private final Device device;
  private final DjlAttentionImplementation.AttentionFunction function;

  /**
   * The project's functional API on a device.
   *
   * @param device where DJL computes
   */
  public FunctionalImplementation(Device device) {
    this(device, Attention::attention);
  }

  /**
   * An implementation that calls another attention function, e.g. a deliberately broken one.
   *
   * @param device where DJL computes
   * @param function the attention function
   */
  public FunctionalImplementation(
      Device device, DjlAttentionImplementation.AttentionFunction function) {
    this.device = device;
    this.function = function;
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Optional<String> notApplicable(GeneratedCase testCase) {
    return testCase instanceof FunctionalCase
        ? Optional.empty()
        : Optional.of("a block case: the block calls the functional API itself");
  }

  @Override
  public CaseOutputs run(GeneratedCase generated, NDManager manager) {
    FunctionalCase testCase = (FunctionalCase) generated; // notApplicable declined the others
    try (NDManager work = NDManager.newBaseManager(device)) {
      NDArray query = testCase.data().create(work, testCase.tensor("query"));
      NDArray key = testCase.data().create(work, testCase.tensor("key"));
      NDArray value = testCase.data().create(work, testCase.tensor("value"));
      AttentionOptions.Builder options = AttentionOptions.builder().optCausal(testCase.causal());
      testCase.optMask().ifPresent(m -> options.optMask(m.toNDArray(work, testCase.type())));
      if (testCase.scale() != null) {
        options.optScale(testCase.scale());
      }
      if (testCase.softcap() != null) {
        options.optSoftcap(testCase.softcap());
      }
      AttentionResult result = function.apply(query, key, value, options.build());
      Map<String, NDArray> outputs = new LinkedHashMap<>();
      outputs.put("output", copy(result.output(), manager));
      NDArray weights = copy(result.weights(), manager);
      outputs.put("weights", weights);
      return new CaseOutputs(outputs, Optional.of(weights));
    }
  }

  private static NDArray copy(NDArray array, NDManager manager) {
    NDArray copied = array.toDevice(Device.cpu(), true);
    copied.attach(manager);
    return copied;
  }
}
