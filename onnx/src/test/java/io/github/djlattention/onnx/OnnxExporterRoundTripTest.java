package io.github.djlattention.onnx;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import io.github.djlattention.ort.OrtRunner;
import io.github.djlattention.testing.TestTensors;
import java.util.List;
import java.util.Map;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Round trip: a block's own output equals its exported model's output on ONNX Runtime, in both
 * forms, for random seeded configurations, within 1e-5 (float32).
 */
class OnnxExporterRoundTripTest {

  private static final double TOLERANCE = 1e-5;

  /**
   * Outputs reach |15| here: float32 sums of 72 products round differently on CPUs whose matrix
   * kernels block differently (seen: 1.3e-5 on an AMD EPYC), so the bound grows with the value.
   */
  private static final double RELATIVE_TOLERANCE = 1e-6;

  private static final double[] WORST = new double[2];

  static Stream<ExportCase> cases() {
    return LongStream.range(0, 40).mapToObj(ExportCase::random);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void decomposedGraphMatchesTheBlock(ExportCase c) {
    roundTrip(c, OnnxConstants.DECOMPOSED_OPSET);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void attentionOperatorGraphMatchesTheBlock(ExportCase c) {
    roundTrip(c, OnnxConstants.ATTENTION_OPSET);
  }

  private static void roundTrip(ExportCase c, int opset) {
    try (NDManager manager = TestTensors.manager()) {
      Block block = c.block(manager);
      Map<String, NDArray> inputs = c.inputs(manager);
      NDList expected =
          block.forward(new ParameterStore(manager, false), ExportCase.blockInputs(inputs), false);
      byte[] model = OnnxExporter.export(block, c.options(opset));
      try (OrtRunner runner = OrtRunner.builder().optIntraOpThreads(1).build(model)) {
        assertEquals(List.copyOf(inputs.keySet()), runner.inputNames());
        assertEquals(List.of("output", "weights", "head_weights"), runner.outputNames());
        Map<String, NDArray> actual = runner.run(inputs, manager);
        check(c + " opset " + opset + " output", expected.get(0), actual.get("output"), opset);
        check(c + " opset " + opset + " weights", expected.get(1), actual.get("weights"), opset);
      }
    }
  }

  private static void check(String what, NDArray expected, NDArray actual, int opset) {
    assertEquals(expected.getShape(), actual.getShape(), what + " shape");
    double[] want = doubles(expected);
    double[] got = doubles(actual);
    assertClose(what, want, got, TOLERANCE, RELATIVE_TOLERANCE);
    int form = opset == OnnxConstants.DECOMPOSED_OPSET ? 0 : 1;
    synchronized (WORST) {
      WORST[form] = Math.max(WORST[form], TestTensors.maxAbsError(want, got));
    }
  }

  @AfterAll
  static void printWorst() {
    System.out.printf(
        "round trip max abs error: opset 17 %.3e, opset 23 %.3e%n", WORST[0], WORST[1]);
  }
}
