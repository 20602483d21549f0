package io.github.djlattention.conformance.contrib;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.compare.Tolerances;
import io.github.djlattention.conformance.CaseOutputs;
import io.github.djlattention.conformance.ConformanceCase;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import io.github.djlattention.reference.ReferenceContribAttention;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * One case of the {@code contrib} suite: a {@code com.microsoft} attention node and its inputs,
 * drawn from the case's seed. Float inputs are float32 (every value exact in float32); integer
 * inputs are int32, held here as doubles.
 *
 * <p>The oracle is {@link ReferenceContribAttention}. Outputs are compared by the node's output
 * names after {@link ContribNode#clearUnspecified} has zeroed what the operator leaves unspecified;
 * the weights are shown as heatmaps, not compared (ONNX Runtime does not return them).
 *
 * @param name the case name, unique in the suite
 * @param group the report group
 * @param seed the seed the inputs were drawn from
 * @param node the operator and its attributes
 * @param inputs the inputs by ONNX name, in the node's order
 * @param tolerance the tolerance, {@link Tolerances#FLOAT32} unless the case says why not
 */
public record ContribCase(
    String name,
    String group,
    long seed,
    ContribNode node,
    Map<String, Tensor> inputs,
    Tolerance tolerance)
    implements ConformanceCase {

  /**
   * Copies the inputs.
   *
   * @throws IllegalArgumentException if a field is null or an input is not one of the node's
   */
  public ContribCase {
    if (name == null || group == null || node == null || inputs == null || tolerance == null) {
      throw new IllegalArgumentException("contrib case fields must not be null");
    }
    for (String input : inputs.keySet()) {
      if (!node.inputNames().contains(input)) {
        throw new IllegalArgumentException(
            name + ": " + node.opType() + " has no input '" + input + "'");
      }
    }
    inputs = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(inputs));
  }

  /** The cases compare float32 inputs and outputs. */
  @Override
  public String dataType() {
    return "float32";
  }

  /** The case's tolerance, for every output. */
  @Override
  public Tolerance tolerance(String output, NDArray expected) {
    return tolerance;
  }

  /**
   * The reference outputs (float64) and weights.
   *
   * @param manager owns the arrays
   * @return the outputs, unspecified elements zeroed
   */
  @Override
  public CaseOutputs expected(NDManager manager) {
    ReferenceContribAttention.Result r = node.reference(inputs);
    Map<String, NDArray> outputs = new LinkedHashMap<>();
    for (String output : node.outputNames(inputs)) {
      Tensor t = r.outputs().get(output);
      double[] values = t.data().clone();
      node.clearUnspecified(output, values, t.shape(), inputs);
      outputs.put(output, manager.create(values, shape(t.shape())));
    }
    return new CaseOutputs(
        outputs, Optional.of(manager.create(r.weights().data(), shape(r.weights().shape()))));
  }

  /**
   * The inputs as NDArrays: float32, or int32 for the node's integer inputs.
   *
   * @param manager owns them
   * @return the inputs by name
   */
  public Map<String, NDArray> arrays(NDManager manager) {
    Map<String, NDArray> arrays = new LinkedHashMap<>();
    for (Map.Entry<String, Tensor> input : inputs.entrySet()) {
      Tensor t = input.getValue();
      NDArray array;
      if (node.integerInputs().contains(input.getKey())) {
        int[] values = Arrays.stream(t.data()).mapToInt(v -> (int) v).toArray();
        array = manager.create(values, shape(t.shape()));
      } else {
        array = manager.create(t.data(), shape(t.shape())).toType(DataType.FLOAT32, false);
      }
      arrays.put(input.getKey(), array);
    }
    return arrays;
  }

  /**
   * An implementation's outputs in comparable form: the node's outputs only, as float64 CPU arrays
   * with the unspecified elements zeroed.
   *
   * @param produced the implementation's outputs by name
   * @param manager owns the returned arrays
   * @return the outputs; those not produced are left out
   */
  public Map<String, NDArray> comparable(Map<String, NDArray> produced, NDManager manager) {
    Map<String, NDArray> outputs = new LinkedHashMap<>();
    for (String output : node.outputNames(inputs)) {
      NDArray array = produced.get(output);
      if (array != null) {
        double[] values = array.toType(DataType.FLOAT64, false).toDoubleArray();
        int[] dims =
            Arrays.stream(array.getShape().getShape()).mapToInt(Math::toIntExact).toArray();
        node.clearUnspecified(output, values, dims, inputs);
        outputs.put(
            output, manager.create(values, array.getShape()).toType(DataType.FLOAT32, false));
      }
    }
    return outputs;
  }

  static Shape shape(int[] dims) {
    return new Shape(Arrays.stream(dims).asLongStream().toArray());
  }
}
