package io.github.djlattention.onnx.inspect;

import ai.djl.ndarray.NDManager;
import io.github.djlattention.ort.OrtRunner;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ScratchPrintTest {
  @Test
  void print() {
    for (var file : new java.nio.file.Path[] {MiniLmFiles.FLOAT, MiniLmFiles.QUANTIZED}) {
      var model = AttentionFinder.read(MiniLmFiles.require(file));
      ModelGraph graph = new ModelGraph(model);
      List<String> taps = new ArrayList<>();
      for (AttentionSite s : AttentionFinder.find(graph)) {
        taps.addAll(
            List.of(
                s.query(), s.key(), s.value(), s.weights(), s.output(), s.masks().get(0).tensor()));
      }
      byte[] bytes = ModelTaps.tap(graph, taps).toByteArray();
      try (OrtRunner runner = OrtRunner.builder().build(bytes);
          NDManager m = NDManager.newBaseManager()) {
        long[][] ids = {{101, 7592, 2088, 102, 0}, {101, 2023, 2003, 1037, 102}};
        var inputIds = m.create(ids);
        var mask = m.create(new long[][] {{1, 1, 1, 1, 0}, {1, 1, 1, 1, 1}});
        var types =
            m.zeros(new ai.djl.ndarray.types.Shape(2, 5), ai.djl.ndarray.types.DataType.INT64);
        long t0 = System.nanoTime();
        Map<String, ai.djl.ndarray.NDArray> out =
            runner.run(
                Map.of("input_ids", inputIds, "attention_mask", mask, "token_type_ids", types), m);
        System.out.println((System.nanoTime() - t0) / 1e6 + " ms");
        out.forEach((k, v) -> System.out.println(k + " " + v.getShape() + " " + v.getDataType()));
      }
    }
  }
}
