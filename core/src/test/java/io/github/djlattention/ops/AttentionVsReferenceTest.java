package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.testing.RandomAttentionCase;
import io.github.djlattention.testing.TestTensors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Seeded random comparisons of {@link Attention#attention} with the float64 {@link
 * ReferenceAttention}: ranks 2-4, cross-attention lengths, GQA, boolean and float masks, causal,
 * scale and softcap, in float32, float64 and float16.
 */
class AttentionVsReferenceTest {

  private static NDManager manager;

  @BeforeAll
  static void open() {
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  static Stream<RandomAttentionCase> float32Cases() {
    return IntStream.range(0, 300)
        .mapToObj(seed -> RandomAttentionCase.generate(seed, DataType.FLOAT32));
  }

  static Stream<RandomAttentionCase> float64Cases() {
    return IntStream.range(1000, 1100)
        .mapToObj(seed -> RandomAttentionCase.generate(seed, DataType.FLOAT64));
  }

  static Stream<RandomAttentionCase> float16Cases() {
    return IntStream.range(2000, 2040)
        .mapToObj(seed -> RandomAttentionCase.generate(seed, DataType.FLOAT16));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("float32Cases")
  void float32AgreesWithTheReference(RandomAttentionCase c) {
    check(c, 1e-5, 0);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("float64Cases")
  void float64AgreesWithTheReference(RandomAttentionCase c) {
    check(c, 1e-12, 0);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("float16Cases")
  void float16AgreesWithTheReferenceWithinHalfPrecision(RandomAttentionCase c) {
    check(c, 2e-3, 1e-2);
  }

  private static void check(RandomAttentionCase c, double atol, double rtol) {
    try (NDManager scope = manager.newSubManager()) {
      NDArray q = c.query(scope);
      NDArray k = c.key(scope);
      NDArray v = c.value(scope);
      NDArray mask = c.mask(scope);
      AttentionResult actual = Attention.attention(q, k, v, c.options(mask));
      ReferenceAttention.Result expected = c.reference(q, k, v, mask);
      assertEquals(c.dtype(), actual.output().getDataType());
      assertEquals(new Shape(c.outputShape()), actual.output().getShape());
      assertEquals(new Shape(c.weightsShape()), actual.weights().getShape());
      assertClose(c + " output", expected.output().data(), doubles(actual.output()), atol, rtol);
      assertClose(c + " weights", expected.weights().data(), doubles(actual.weights()), atol, rtol);
    }
  }
}
