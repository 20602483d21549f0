package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.TestTensors;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The caller's arrays are the caller's (issue 10): threads that share one query, key, value and
 * mask call the functional API at once, on every path. No call may attach, detach or close an
 * input; every result must be bit-identical to the serial one.
 */
class SharedArraysTest {

  private static final int THREADS = 8;
  private static final int CALLS_PER_THREAD = 250;

  /** A path through the functional API, named for the test report. */
  record Path(String name, Function<Inputs, NDArray> call) {
    @Override
    public String toString() {
      return name;
    }
  }

  /** The shared inputs. */
  record Inputs(NDArray q, NDArray k, NDArray v, NDArray mask) {}

  static Stream<Arguments> paths() {
    return Stream.of(
            new Path(
                "attention (fast path)",
                in -> Attention.attention(in.q, in.k, in.v, options(in, false)).output()),
            new Path(
                "attention (with weights: the chain)",
                in -> Attention.attention(in.q, in.k, in.v, options(in, true)).output()),
            new Path(
                "attentionStepByStep",
                in -> Attention.attentionStepByStep(in.q, in.k, in.v, options(in, false)).output()),
            new Path(
                "FastAttention TorchScript kernel",
                in ->
                    FastAttention.output(
                        in.q,
                        in.k,
                        in.v,
                        options(in, false),
                        FastAttention.Precision.INPUT,
                        FastAttention.Kernel.TORCHSCRIPT,
                        FastAttention.DEFAULT_TILE_ELEMENTS)),
            new Path(
                "FastAttention NDArray tiles",
                in ->
                    FastAttention.output(
                        in.q,
                        in.k,
                        in.v,
                        options(in, false),
                        FastAttention.Precision.INPUT,
                        FastAttention.Kernel.NDARRAY_TILES,
                        1L << 12)))
        .map(Arguments::of);
  }

  private static AttentionOptions options(Inputs in, boolean weights) {
    return AttentionOptions.builder().optMask(in.mask).optReturnWeights(weights).build();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("paths")
  void sharedInputsStayTheCallersAndResultsMatchSerialCalls(Path path) throws Exception {
    try (NDManager callers = TestTensors.manager()) {
      NDArray q = callers.randomNormal(new Shape(1, 8, 64, 32));
      NDArray k = callers.randomNormal(new Shape(1, 8, 96, 32));
      NDArray v = callers.randomNormal(new Shape(1, 8, 96, 32));
      NDArray mask = callers.randomUniform(0, 1, new Shape(1, 1, 64, 96)).gt(0.2);
      Inputs in = new Inputs(q, k, v, mask);
      float[] qBefore = q.toFloatArray();
      float[] expected;
      try (NDManager serial = callers.newSubManager()) {
        NDArray out = path.call.apply(in);
        assertSame(callers, out.getManager(), "the result belongs to the query's manager");
        expected = out.toFloatArray();
        out.close();
      }
      ExecutorService pool = Executors.newFixedThreadPool(THREADS);
      try {
        List<Future<Integer>> futures = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
          futures.add(
              pool.submit(
                  () -> {
                    int mismatches = 0;
                    for (int i = 0; i < CALLS_PER_THREAD; i++) {
                      NDArray out = path.call.apply(in);
                      try {
                        if (!java.util.Arrays.equals(expected, out.toFloatArray())) {
                          mismatches++;
                        }
                      } finally {
                        out.close();
                      }
                    }
                    return mismatches;
                  }));
        }
        int mismatches = 0;
        for (Future<Integer> future : futures) {
          mismatches += future.get(); // rethrows any call's exception
        }
        assertEquals(0, mismatches, "results that differ from the serial call");
      } finally {
        pool.shutdownNow();
      }
      for (NDArray input : List.of(q, k, v, mask)) {
        assertTrue(!input.isReleased(), "an input was released");
        assertSame(callers, input.getManager(), "an input changed manager");
      }
      assertArrayEquals(qBefore, q.toFloatArray(), "the query changed");
      assertEquals(DataType.BOOLEAN, mask.getDataType());
    }
  }
}
