package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.reference.ReferenceAttention;
import java.util.Arrays;

/**
 * A generated attention mask: boolean (true = the key takes part) or float (added to the scores, −∞
 * hides a key), with its values in both readings.
 *
 * @param bool whether the mask is boolean
 * @param shape its shape, outermost first
 * @param keep per element, whether the key takes part
 * @param additive per element, the value added to the scores (0 or −∞ for a boolean mask)
 */
public record GeneratedMask(boolean bool, int[] shape, boolean[] keep, double[] additive) {

  /**
   * Checks that the arrays fit the shape.
   *
   * @throws IllegalArgumentException when they do not
   */
  public GeneratedMask {
    int size = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
    if (keep.length != size || additive.length != size) {
      throw new IllegalArgumentException(
          "mask " + Arrays.toString(shape) + " needs " + size + " elements");
    }
  }

  /**
   * The mask as the library takes it.
   *
   * @param manager owns the array
   * @param floatType the element type of a float mask
   * @return a boolean array, or a float array of {@code floatType}
   */
  public NDArray toNDArray(NDManager manager, DataType floatType) {
    Shape s = new Shape(Arrays.stream(shape).asLongStream().toArray());
    if (bool) {
      return manager.create(keep, s);
    }
    return manager.create(additive, s).toType(floatType, false);
  }

  /**
   * The additive mask aligned to four axes for the reference.
   *
   * @param fourD the mask's shape on four axes (sizes 1 where it broadcasts)
   * @return the reference tensor
   */
  public ReferenceAttention.Tensor reference(int[] fourD) {
    return new ReferenceAttention.Tensor(additive, fourD);
  }
}
