package io.github.djlattention.testing;

import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Random;

/** Test helpers: NDArray and reference tensors, element-wise comparison, golden JSON. */
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

  /** Worst element-wise disagreement of two arrays. */
  public record Diff(double maxAbs, double maxRel, int worstIndex) {}

  /** Computes the largest absolute and relative errors and where the worst one is. */
  public static Diff diff(double[] expected, double[] actual) {
    if (expected.length != actual.length) {
      fail("size differs: expected " + expected.length + " elements, got " + actual.length);
    }
    double maxAbs = 0;
    double maxRel = 0;
    int worst = -1;
    for (int n = 0; n < expected.length; n++) {
      double abs = Math.abs(expected[n] - actual[n]);
      if (Double.isNaN(expected[n]) != Double.isNaN(actual[n])) {
        abs = Double.POSITIVE_INFINITY;
      } else if (Double.isNaN(abs)) {
        abs = 0; // both NaN, or equal infinities
      }
      if (abs > maxAbs || worst < 0) {
        maxAbs = Math.max(maxAbs, abs);
        worst = abs >= maxAbs ? n : worst;
      }
      maxRel = Math.max(maxRel, abs / Math.max(Math.abs(expected[n]), 1e-30));
    }
    return new Diff(maxAbs, maxRel, worst);
  }

  /**
   * Asserts |actual - expected| ≤ atol + rtol·|expected| element-wise, naming the worst element.
   */
  public static void assertClose(
      String what, double[] expected, double[] actual, double atol, double rtol) {
    if (expected.length != actual.length) {
      fail(what + ": expected " + expected.length + " elements, got " + actual.length);
    }
    int worst = -1;
    double worstExcess = 0;
    for (int n = 0; n < expected.length; n++) {
      double allowed = atol + rtol * Math.abs(expected[n]);
      double err = Math.abs(expected[n] - actual[n]);
      boolean nanMismatch = Double.isNaN(expected[n]) != Double.isNaN(actual[n]);
      boolean bothSame =
          expected[n] == actual[n] || (Double.isNaN(expected[n]) && Double.isNaN(actual[n]));
      if (nanMismatch || (!bothSame && !(err <= allowed))) {
        double excess = nanMismatch ? Double.POSITIVE_INFINITY : err - allowed;
        if (worst < 0 || excess > worstExcess) {
          worst = n;
          worstExcess = excess;
        }
      }
    }
    if (worst >= 0) {
      Diff d = diff(expected, actual);
      fail(
          String.format(
              "%s: element %d is %s, expected %s (atol %.1e, rtol %.1e); max abs error %.3e",
              what, worst, actual[worst], expected[worst], atol, rtol, d.maxAbs()));
    }
  }

  /** Shape as ints. */
  public static int[] ints(long... shape) {
    return Arrays.stream(shape).mapToInt(Math::toIntExact).toArray();
  }
}
