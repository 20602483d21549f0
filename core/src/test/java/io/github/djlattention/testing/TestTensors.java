package io.github.djlattention.testing;

import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.compare.ElementComparison;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.compare.Tolerances;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Random;

/**
 * Test helpers: NDArray and reference tensors, assertions over the project's element-wise
 * comparison ({@link ElementComparison}), golden JSON.
 */
public final class TestTensors {

  private TestTensors() {}

  /** Opens a PyTorch-engine manager (the project's engine). */
  public static NDManager manager() {
    return NDManager.newBaseManager("PyTorch");
  }

  /** Reads a JSON resource from the test classpath. */
  public static JsonNode json(String resource) {
    try (InputStream in = TestTensors.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalArgumentException("missing test resource " + resource);
      }
      return new ObjectMapper().readTree(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Reads a JSON matrix (a list of rows) as a row-major double array. */
  public static double[] matrix(JsonNode rows) {
    return java.util.stream.StreamSupport.stream(rows.spliterator(), false)
        .flatMap(row -> java.util.stream.StreamSupport.stream(row.spliterator(), false))
        .mapToDouble(JsonNode::asDouble)
        .toArray();
  }

  /** Uniform random doubles in [-1, 1). */
  public static double[] uniform(Random random, int size) {
    double[] data = new double[size];
    for (int n = 0; n < size; n++) {
      data[n] = random.nextDouble() * 2 - 1;
    }
    return data;
  }

  /** Creates an NDArray of the given dtype from doubles. */
  public static NDArray create(NDManager manager, double[] data, DataType dtype, long... shape) {
    return manager.create(data, new Shape(shape)).toType(dtype, false);
  }

  /** Returns an NDArray's elements as doubles. */
  public static double[] doubles(NDArray array) {
    return array.toType(DataType.FLOAT64, false).toDoubleArray();
  }

  /** Returns a reference tensor holding the same elements as {@code array}, reshaped to 4-D. */
  public static Tensor tensor(double[] data, int... shape) {
    return new Tensor(data, shape);
  }

  /**
   * The largest absolute error of {@link ElementComparison} (NaN matching NaN, equal infinities
   * agreeing).
   */
  public static double maxAbsError(double[] expected, double[] actual) {
    return compare(expected, actual, Tolerances.EXACT).statistics().maxAbsError();
  }

  /**
   * Asserts |actual - expected| ≤ atol + rtol·|expected| element-wise ({@link ElementComparison},
   * with a NaN agreeing with a NaN: these tests check that NaN propagates), naming the worst
   * element.
   */
  public static void assertClose(
      String what, double[] expected, double[] actual, double atol, double rtol) {
    ElementComparison c = compare(expected, actual, new Tolerance(rtol, atol));
    if (!c.agrees()) {
      fail(what + ": " + describe(c));
    }
  }

  /**
   * Asserts that two arrays have the same shape and agree under {@code tolerance} ({@link
   * ElementComparison}), naming the worst element.
   */
  public static void assertClose(
      String what, NDArray expected, NDArray actual, Tolerance tolerance) {
    ElementComparison c = ElementComparison.compare(expected, actual, tolerance);
    if (!c.sameShape()) {
      fail(what + ": shape " + actual.getShape() + ", expected " + expected.getShape());
    }
    if (!c.agrees()) {
      fail(what + ": " + describe(c));
    }
  }

  private static ElementComparison compare(double[] expected, double[] actual, Tolerance t) {
    if (expected.length != actual.length) {
      fail("size differs: expected " + expected.length + " elements, got " + actual.length);
    }
    return ElementComparison.compare(
        expected, actual, new long[] {expected.length}, t.withMatchingNan());
  }

  private static String describe(ElementComparison c) {
    return String.format(
        "element %s is %s, expected %s (%s); %d of %d elements outside, max abs error %.3e",
        c.worst().indexText(),
        c.worst().actual(),
        c.worst().expected(),
        c.tolerance(),
        c.mismatched(),
        c.statistics().elements(),
        c.statistics().maxAbsError());
  }

  /** Shape as ints. */
  public static int[] ints(long... shape) {
    return Arrays.stream(shape).mapToInt(Math::toIntExact).toArray();
  }
}
