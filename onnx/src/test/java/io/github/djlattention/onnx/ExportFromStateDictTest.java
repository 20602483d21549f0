package io.github.djlattention.onnx;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.StateDicts;
import io.github.djlattention.io.Npz;
import io.github.djlattention.ort.OrtRunner;
import io.github.djlattention.testing.ReferenceModels;
import io.github.djlattention.testing.TestTensors;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A model exported from a PyTorch module's state dict, in both forms, reproduces PyTorch's outputs
 * on ONNX Runtime within 1e-4: export from {@code models/<name>/state_dict.npz}, run on {@code
 * inputs.npz}, compare with {@code outputs.npz}.
 */
class ExportFromStateDictTest {

  private static final double TOLERANCE = 1e-4;
  private static final double[] WORST = new double[2];

  static Stream<Arguments> cases() {
    return ReferenceModels.all().stream()
        .flatMap(
            model ->
                Stream.of(OnnxConstants.DECOMPOSED_OPSET, OnnxConstants.ATTENTION_OPSET)
                    .map(opset -> Arguments.of(model, opset)));
  }

  @ParameterizedTest(name = "{0} opset {1}")
  @MethodSource("cases")
  void exportedModelReproducesPyTorch(ReferenceModels.Model model, int opset) {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> stateDict = Npz.read(manager, model.dir().resolve("state_dict.npz"));
      Map<String, NDArray> inputs = Npz.read(manager, model.dir().resolve("inputs.npz"));
      Map<String, NDArray> expected = Npz.read(manager, model.dir().resolve("outputs.npz"));
      Block block =
          StateDicts.load(
              manager, stateDict, model.heads(), model.causal(), AttentionWeights.AVERAGED);
      ExportOptions options =
          ExportOptions.builder()
              .optOpset(opset)
              .optMask(
                  model.maskInput() ? ExportOptions.MaskType.FLOAT : ExportOptions.MaskType.NONE, 2)
              .build();
      try (OrtRunner runner =
          OrtRunner.builder().optIntraOpThreads(1).build(OnnxExporter.export(block, options))) {
        assertEquals(List.copyOf(inputs.keySet()), runner.inputNames());
        Map<String, NDArray> actual = runner.run(inputs, manager);
        assertEquals(List.copyOf(expected.keySet()), List.copyOf(actual.keySet()));
        for (String name : expected.keySet()) {
          String what = model + " opset " + opset + " " + name;
          assertEquals(expected.get(name).getShape(), actual.get(name).getShape(), what);
          double[] want = doubles(expected.get(name));
          double[] got = doubles(actual.get(name));
          assertClose(what, want, got, TOLERANCE, 0);
          int form = opset == OnnxConstants.DECOMPOSED_OPSET ? 0 : 1;
          synchronized (WORST) {
            WORST[form] = Math.max(WORST[form], TestTensors.maxAbsError(want, got));
          }
        }
      }
    }
  }

  @AfterAll
  static void printWorst() {
    System.out.printf(
        "exported from state dicts vs PyTorch: max abs error opset 17 %.3e, opset 23 %.3e%n",
        WORST[0], WORST[1]);
  }
}
