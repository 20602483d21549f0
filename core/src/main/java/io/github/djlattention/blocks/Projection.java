package io.github.djlattention.blocks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.XavierInitializer;
import io.github.djlattention.ops.FewRowLinear;
import java.util.List;

/**
 * A learned linear map y = x·Wᵀ + b with W shaped (out, in), as PyTorch's {@code nn.Linear} and
 * DJL's {@link Linear} store it. Its parameters are named {@code <name>.weight} and {@code
 * <name>.bias}.
 */
final class Projection {

  private final Parameter weight;
  private final Parameter bias;

  private Projection(Parameter weight, Parameter bias) {
    this.weight = weight;
    this.bias = bias;
  }

  /** Creates the parameters of a projection from {@code in} to {@code out} features. */
  static Projection create(String name, long in, long out, boolean withBias) {
    Parameter weight =
        Parameter.builder()
            .setName(name + ".weight")
            .setType(Parameter.Type.WEIGHT)
            .optShape(new Shape(out, in))
            .optInitializer(new XavierInitializer())
            .build();
    Parameter bias =
        withBias
            ? Parameter.builder()
                .setName(name + ".bias")
                .setType(Parameter.Type.BIAS)
                .optShape(new Shape(out))
                .build()
            : null;
    return new Projection(weight, bias);
  }

  /** The weight, then the bias if there is one, in the order a block registers them. */
  List<Parameter> parameters() {
    return bias == null ? List.of(weight) : List.of(weight, bias);
  }

  /**
   * Applies the projection to x (…, in), giving (…, out).
   *
   * @throws IllegalArgumentException when x's data type differs from the weight's
   */
  NDArray apply(ParameterStore store, NDArray x, boolean training) {
    NDArray w = store.getValue(weight, x.getDevice(), training);
    if (x.getDataType() != w.getDataType()) {
      throw new IllegalArgumentException(
          weight.getName()
              + " is "
              + w.getDataType()
              + " but its input "
              + x.getShape()
              + " is "
              + x.getDataType()
              + ": convert the input or initialize the block with its data type");
    }
    NDArray b = bias == null ? null : store.getValue(bias, x.getDevice(), training);
    if (training) {
      return b == null
          ? Linear.linear(x, w).singletonOrThrow()
          : Linear.linear(x, w, b).singletonOrThrow();
    }
    return FewRowLinear.linear(x, w, b); // up to 128 rows: the C kernel, else DJL's
  }

  /** The output shape for an input shape (…, in). */
  Shape outputShape(Shape input) {
    return input.slice(0, input.dimension() - 1).add(weight.getShape().get(0));
  }
}
