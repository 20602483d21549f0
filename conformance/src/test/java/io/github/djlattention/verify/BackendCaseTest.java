package io.github.djlattention.verify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnx.proto.OnnxMl.ModelProto;
import io.github.djlattention.onnx.OnnxTensors;
import io.github.djlattention.ort.OrtRunner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A site written out as an ONNX backend-test case (model.onnx, test_data_set_0) stands alone: its
 * single Attention node on ONNX Runtime reproduces the stored reference output.
 */
class BackendCaseTest {

  @TempDir Path directory;

  @Test
  void aWrittenSiteRunsOnItsOwnAndMatchesItsExpectedOutput() throws Exception {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      ModelReport report =
          ModelVerifier.builder()
              .optWriteCases(directory, Set.of(2))
              .build()
              .verify(MiniLm.model(MiniLm.FLOAT), MiniLm.inputs(MiniLm.FLOAT, manager), manager);
      assertEquals(1, report.cases().size());
      Path folder = directory.resolve("site-02-encoder_layer.2_attention_self");
      assertEquals(folder.toString(), report.cases().get(0));
      Path data = folder.resolve("test_data_set_0");
      for (String file :
          new String[] {"input_0.pb", "input_1.pb", "input_2.pb", "input_3.pb", "output_0.pb"}) {
        assertTrue(Files.isRegularFile(data.resolve(file)), file);
      }
      String readme = Files.readString(folder.resolve("README.txt"));
      assertTrue(readme.contains("/encoder/layer.2/attention/self"), readme);
      ModelProto model = ModelProto.parseFrom(Files.readAllBytes(folder.resolve("model.onnx")));
      assertEquals(1, model.getGraph().getNodeCount());
      assertEquals("Attention", model.getGraph().getNode(0).getOpType());
      Map<String, NDArray> inputs = new LinkedHashMap<>();
      String[] names = {"Q", "K", "V", "attn_mask"};
      for (int i = 0; i < 4; i++) {
        inputs.put(
            names[i],
            OnnxTensors.toNDArray(OnnxTensors.read(data.resolve("input_" + i + ".pb")), manager));
      }
      assertEquals(4, inputs.get("Q").getShape().get(0), "the suite's four texts");
      NDArray expected =
          OnnxTensors.toNDArray(OnnxTensors.read(data.resolve("output_0.pb")), manager);
      try (OrtRunner runner = OrtRunner.builder().build(folder.resolve("model.onnx"))) {
        NDArray y = runner.run(inputs, manager).get("Y");
        assertEquals(expected.getShape(), y.getShape());
        float worst = y.sub(expected).abs().max().getFloat();
        assertTrue(worst < 1e-5, "max abs " + worst);
      }
    }
  }
}
