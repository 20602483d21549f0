package io.github.djlattention.ops.contrib;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import io.github.djlattention.reference.ReferenceContribAttention;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/** Seeded inputs for the contrib operators' tests, as reference tensors and as NDArrays. */
final class ContribInputsForTests {

  private final Random random;
  private final Map<String, Tensor> tensors = new LinkedHashMap<>();
  private final Set<String> integers;

  ContribInputsForTests(long seed, Set<String> integers) {
    this.random = new Random(seed);
    this.integers = integers;
  }

  /** Uniform values in [-1, 1). */
  ContribInputsForTests floats(String name, int... shape) {
    double[] data = new double[Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
    for (int n = 0; n < data.length; n++) {
      data[n] = random.nextDouble() * 2 - 1;
    }
    tensors.put(name, new Tensor(data, shape));
    return this;
  }

  ContribInputsForTests values(String name, double[] data, int... shape) {
    tensors.put(name, new Tensor(data, shape));
    return this;
  }

  ContribInputsForTests ints(String name, int[] values, int... shape) {
    tensors.put(name, new Tensor(Arrays.stream(values).asDoubleStream().toArray(), shape));
    return this;
  }

  Map<String, Tensor> tensors() {
    return tensors;
  }

  /** float64 arrays (int32 for the integer inputs). */
  Map<String, NDArray> arrays(NDManager manager) {
    Map<String, NDArray> arrays = new LinkedHashMap<>();
    tensors.forEach(
        (name, t) -> {
          Shape shape = new Shape(Arrays.stream(t.shape()).asLongStream().toArray());
          arrays.put(
              name,
              integers.contains(name)
                  ? manager.create(Arrays.stream(t.data()).mapToInt(v -> (int) v).toArray(), shape)
                  : manager.create(t.data(), shape));
        });
    return arrays;
  }

  /** The reference's copy of a node's attributes. */
  static ReferenceContribAttention.MultiHeadAttributes attributes(ContribMultiHeadAttention op) {
    return new ReferenceContribAttention.MultiHeadAttributes(
        op.numHeads(), op.scale(), op.maskFilterValue(), op.unidirectional());
  }

  /** The reference's copy of a node's attributes. */
  static ReferenceContribAttention.GroupQueryAttributes attributes(ContribGroupQueryAttention op) {
    return new ReferenceContribAttention.GroupQueryAttributes(
        op.numHeads(),
        op.kvNumHeads(),
        op.scale(),
        op.softcap(),
        op.localWindowSize(),
        op.doRotary(),
        op.rotaryInterleaved(),
        op.causal());
  }

  /** The reference's copy of a node's attributes. */
  static ReferenceContribAttention.AttentionAttributes attributes(ContribAttention op) {
    return new ReferenceContribAttention.AttentionAttributes(
        op.numHeads(),
        op.qkvHiddenSizes(),
        op.scale(),
        op.maskFilterValue(),
        op.unidirectional(),
        op.pastPresentShareBuffer());
  }

  /** Asserts that an array holds a reference tensor's shape and values within {@code atol}. */
  static void assertClose(Tensor expected, NDArray actual, double atol, String what) {
    assertArrayEquals(
        Arrays.stream(expected.shape()).asLongStream().toArray(),
        actual.getShape().getShape(),
        what + " shape");
    double[] got = actual.toType(DataType.FLOAT64, false).toDoubleArray();
    for (int n = 0; n < got.length; n++) {
      assertEquals(expected.data()[n], got[n], atol, what + " at flat index " + n);
    }
  }
}
