package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.io.Npz;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A kernel that fails inside ONNX Runtime must not add ONNX Runtime's own log lines to the
 * command's one stderr line. ONNX Runtime 1.26's {@code Attention} operator refuses an empty query
 * (S = 0), so {@code check} on an opset-23 export with S = 0 fails in the kernel; native log lines
 * reach the process's stderr only, so this runs in a child JVM.
 */
class CheckStderrTest {

  @Test
  void aFailingOnnxRuntimeKernelGivesOneStderrLine(@TempDir Path dir) throws Exception {
    Path weights = CliFuzzScenario.MODELS.resolve("mha_self_bias").resolve("state_dict.npz");
    Path model = dir.resolve("m23.onnx");
    CliRun export =
        CliRun.of("export", "--weights=" + weights, "--heads=4", "--opset=23", "--out=" + model);
    assertEquals(0, export.exitCode(), export.toString());
    Path inputs = dir.resolve("empty.npz");
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> arrays = new LinkedHashMap<>();
      arrays.put("query", manager.zeros(new Shape(2, 0, 16)));
      arrays.put("key", manager.zeros(new Shape(2, 4, 16)));
      arrays.put("value", manager.zeros(new Shape(2, 4, 16)));
      Npz.write(inputs, arrays);
    }
    CliFuzzScenario scenario =
        new CliFuzzScenario(
            0,
            "check opset-23 S=0",
            List.of(
                "check",
                "--onnx=" + model,
                "--inputs=" + inputs,
                "--weights=" + weights,
                "--heads=4"),
            List.of(),
            java.util.Set.of(ExitCodes.BAD_INPUT));
    TreeSet<String> before = CliFuzz.snapshot(dir);
    CliFuzz.Outcome outcome = CliFuzz.childJvm(scenario, dir, null, 120);
    assertEquals(
        1, outcome.errLines().size(), "exit " + outcome.exitCode() + ", stderr:\n" + outcome.err());
    // S = 0 made the opset-23 Attention kernel fail (and mha_self_bias's model crash the JVM
    // with SIGFPE): check now refuses empty inputs before ONNX Runtime sees them.
    assertTrue(outcome.err().contains("empty along axis 1"), outcome.err());
    assertEquals(List.of(), CliFuzz.problems(scenario, outcome, before, CliFuzz.snapshot(dir)));
  }
}
