package io.github.djlattention.ort;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.onnx.OnnxTensors;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class OrtRunnerTest {

  private static final Path CASES = Path.of("conformance", "onnx-attention");

  private static Map<String, NDArray> inputs(String testCase, List<String> names, NDManager m) {
    Map<String, NDArray> inputs = new LinkedHashMap<>();
    for (int i = 0; i < names.size(); i++) {
      TensorProto tensor =
          OnnxTensors.read(CASES.resolve(testCase).resolve("test_data_set_0/input_" + i + ".pb"));
      inputs.put(names.get(i), OnnxTensors.toNDArray(tensor, m));
    }
    return inputs;
  }

  private static NDArray expected(String testCase, NDManager m) {
    return OnnxTensors.toNDArray(
        OnnxTensors.read(CASES.resolve(testCase).resolve("test_data_set_0/output_0.pb")), m);
  }

  private static void assertClose(NDArray expected, NDArray actual) {
    assertEquals(expected.getDataType(), actual.getDataType());
    TestTensors.assertClose("output", expected, actual, new Tolerance(0, 1e-3));
  }

  @Test
  void runsAModelFileWithFloatInputs() {
    try (NDManager m = NDManager.newBaseManager();
        OrtRunner runner =
            OrtRunner.builder().build(CASES.resolve("test_attention_4d/model.onnx"))) {
      assertEquals(List.of("Q", "K", "V"), runner.inputNames());
      assertEquals(List.of("Y"), runner.outputNames());
      Map<String, NDArray> out =
          runner.run(inputs("test_attention_4d", List.of("Q", "K", "V"), m), m);
      assertClose(expected("test_attention_4d", m), out.get("Y"));
      assertEquals(m, out.get("Y").getManager());
    }
  }

  @Test
  void passesFloat16BoolAndInt64Inputs() {
    try (NDManager m = NDManager.newBaseManager()) {
      String fp16 = "test_attention_4d_gqa_causal_nonpad_decode_fp16";
      try (OrtRunner runner = OrtRunner.builder().build(CASES.resolve(fp16 + "/model.onnx"))) {
        Map<String, NDArray> in = inputs(fp16, List.of("Q", "K", "V", "nonpad_kv_seqlen"), m);
        assertEquals(DataType.INT64, in.get("nonpad_kv_seqlen").getDataType());
        NDArray y = runner.run(in, m).get("Y");
        assertEquals(DataType.FLOAT16, y.getDataType());
        assertClose(expected(fp16, m), y);
      }
      String bool = "test_attention_4d_attn_mask_bool";
      try (OrtRunner runner = OrtRunner.builder().build(CASES.resolve(bool + "/model.onnx"))) {
        Map<String, NDArray> in = inputs(bool, List.of("Q", "K", "V", "attn_mask"), m);
        assertEquals(DataType.BOOLEAN, in.get("attn_mask").getDataType());
        assertClose(expected(bool, m), runner.run(in, m).get("Y"));
      }
    }
  }

  @Test
  void acceptsNonContiguousInputs() {
    try (NDManager m = NDManager.newBaseManager();
        OrtRunner runner =
            OrtRunner.builder().build(CASES.resolve("test_attention_4d/model.onnx"))) {
      Map<String, NDArray> in = inputs("test_attention_4d", List.of("Q", "K", "V"), m);
      Map<String, NDArray> strided = new LinkedHashMap<>();
      // store (B, H, D, S) densely, then view it as (B, H, S, D): same values, transposed strides
      in.forEach(
          (name, array) -> {
            NDArray transposed = array.swapAxes(2, 3); // (B, H, D, S)
            NDArray dense = m.create(transposed.toFloatArray(), transposed.getShape());
            strided.put(name, dense.swapAxes(2, 3)); // (B, H, S, D), non-contiguous
          });
      assertClose(expected("test_attention_4d", m), runner.run(strided, m).get("Y"));
    }
  }

  @Test
  void oneSessionServesSeveralThreads() throws Exception {
    String name = "test_attention_4d_gqa";
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try (NDManager m = NDManager.newBaseManager();
        OrtRunner runner =
            OrtRunner.builder()
                .optIntraOpThreads(1)
                .build(java.nio.file.Files.readAllBytes(CASES.resolve(name + "/model.onnx")))) {
      NDArray want = expected(name, m);
      List<Future<float[]>> futures = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        futures.add(
            pool.submit(
                () -> {
                  try (NDManager local = NDManager.newBaseManager()) {
                    return runner
                        .run(inputs(name, List.of("Q", "K", "V"), local), Set.of("Y"), local)
                        .get("Y")
                        .toFloatArray();
                  }
                }));
      }
      for (Future<float[]> future : futures) {
        assertArrayEquals(want.toFloatArray(), future.get(), 1e-5f);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void rejectsUnknownNamesAndClosedRunners() {
    try (NDManager m = NDManager.newBaseManager()) {
      OrtRunner runner = OrtRunner.builder().build(CASES.resolve("test_attention_4d/model.onnx"));
      Map<String, NDArray> in = inputs("test_attention_4d", List.of("Q", "K", "V"), m);
      IllegalArgumentException badInput =
          assertThrows(
              IllegalArgumentException.class, () -> runner.run(Map.of("X", in.get("Q")), m));
      assertTrue(badInput.getMessage().contains("'X'"), badInput.getMessage());
      assertThrows(IllegalArgumentException.class, () -> runner.run(in, Set.of("Z"), m));
      runner.close();
      assertThrows(IllegalStateException.class, () -> runner.run(in, m));
    }
  }

  @Test
  void rejectsBadThreadCountsAndBrokenModels() {
    assertThrows(
        IllegalArgumentException.class,
        () -> OrtRunner.builder().optIntraOpThreads(0).build(new byte[0]));
    assertThrows(
        IllegalArgumentException.class, () -> OrtRunner.builder().build(new byte[] {1, 2}));
  }

  @Test
  void cudaWithoutTheGpuBuildFailsWithAClearMessage() {
    Assumptions.assumeFalse(OrtRunner.cudaAvailable(), "this ONNX Runtime has CUDA");
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () ->
                OrtRunner.builder()
                    .optDevice(OrtDevice.CUDA)
                    .build(CASES.resolve("test_attention_4d/model.onnx")));
    // says everything it needs, not only the build profile (issue 11, class 10)
    assertTrue(
        e.getMessage().startsWith("--device cuda needs the -Pcuda build (onnxruntime_gpu) and an"),
        e.getMessage());
    assertTrue(e.getMessage().contains("NVIDIA GPU"), e.getMessage());
    assertTrue(e.getMessage().contains("cuDNN"), e.getMessage());
    assertTrue(e.getMessage().endsWith("available: [CPU]"), e.getMessage());
  }

  @Test
  void runsOnCudaWhenAvailable() {
    Assumptions.assumeTrue(OrtRunner.cudaAvailable(), "needs onnxruntime_gpu (-Pcuda) and a GPU");
    try (NDManager m = NDManager.newBaseManager();
        OrtRunner runner =
            OrtRunner.builder()
                .optDevice(OrtDevice.CUDA)
                .build(CASES.resolve("test_attention_4d/model.onnx"))) {
      NDArray y = runner.run(inputs("test_attention_4d", List.of("Q", "K", "V"), m), m).get("Y");
      assertClose(expected("test_attention_4d", m), y);
    }
  }

  @Test
  void parsesDeviceNames() {
    assertEquals(OrtDevice.CUDA, OrtDevice.parse("CUDA"));
    assertEquals(OrtDevice.CPU, OrtDevice.parse("cpu"));
    assertThrows(IllegalArgumentException.class, () -> OrtDevice.parse("tpu"));
  }
}
