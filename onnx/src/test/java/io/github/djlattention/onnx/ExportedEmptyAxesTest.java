package io.github.djlattention.onnx;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoopTranslator;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.ort.OrtRunner;
import io.github.djlattention.testing.TestTensors;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Exported multi-head blocks on ONNX Runtime with an empty batch, query or key axis, against the
 * DJL block.
 *
 * <p>What works and what does not, pinned so that a change shows:
 *
 * <ul>
 *   <li>opset 17 without grouped heads (G = H): every empty axis gives the DJL block's result;
 *   <li>opset 17 with grouped heads (G &lt; H): S = 0 works; B = 0 and T = 0 fail in a Reshape
 *       whose shape mixes 0 (copy the input's size) with −1 (infer), which ONNX cannot resolve for
 *       an empty tensor;
 *   <li>opset 23: ONNX Runtime 1.26's {@code Attention} kernel refuses any empty B, S or T.
 * </ul>
 */
class ExportedEmptyAxesTest {

  static Stream<Arguments> cases() {
    Stream.Builder<Arguments> cases = Stream.builder();
    for (int opset : new int[] {17, 23}) {
      for (int kvHeads : new int[] {4, 2}) {
        for (long[] bst : new long[][] {{0, 3, 4}, {2, 0, 4}, {2, 3, 0}}) {
          boolean works = opset == 17 && (kvHeads == 4 || bst[1] == 0);
          String failsIn = opset == 23 ? "Attention" : "Reshape";
          cases.add(Arguments.of(opset, kvHeads, bst[0], bst[1], bst[2], works, failsIn));
        }
      }
    }
    return cases.build();
  }

  @ParameterizedTest(name = "opset {0} G={1} B={2} S={3} T={4} works={5}")
  @MethodSource("cases")
  void emptyAxesOnOnnxRuntime(
      int opset, int kvHeads, long b, long s, long t, boolean works, String failsIn)
      throws Exception {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(8)
            .setHeads(4)
            .optKvHeads(kvHeads)
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .build();
    try (Model model = Model.newInstance("empty", "PyTorch");
        NDManager m = TestTensors.manager()) {
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 3, 8));
      byte[] onnx = OnnxExporter.export(block, ExportOptions.builder().optOpset(opset).build());
      Map<String, NDArray> inputs = new LinkedHashMap<>();
      inputs.put("query", m.ones(new Shape(b, s, 8)));
      inputs.put("key", m.ones(new Shape(b, t, 8)));
      inputs.put("value", m.ones(new Shape(b, t, 8)));
      try (OrtRunner runner =
              OrtRunner.builder()
                  .optIntraOpThreads(1)
                  .optLogLevel(ai.onnxruntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL)
                  .build(onnx);
          Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        NDList expected = predictor.predict(new NDList(inputs.values().toArray(NDArray[]::new)));
        if (!works) {
          IllegalArgumentException e =
              assertThrows(IllegalArgumentException.class, () -> runner.run(inputs, m));
          assertTrue(e.getMessage().contains(failsIn), e.getMessage());
          return;
        }
        Map<String, NDArray> actual = runner.run(inputs, m);
        assertEquals(expected.get(0).getShape(), actual.get("output").getShape());
        assertEquals(expected.get(1).getShape(), actual.get("weights").getShape());
        assertClose("output", doubles(expected.get(0)), doubles(actual.get("output")), 1e-6, 0);
      }
    }
  }
}
