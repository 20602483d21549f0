package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The native kernel's threads do not depend on call order (issue 14): asking {@link
 * FastAttention#float32Kernel()} before the PyTorch engine has loaded used to look for libtorch's
 * OpenMP runtime too early, find none, and pin the kernel to its own helper threads for the rest of
 * the process. Runs {@link ThreadChoiceProbe} in a fresh JVM, where nothing has loaded the engine.
 */
class ThreadChoiceTest {

  @Test
  void askingBeforeTheEngineLoadsStillFindsLibtorchsOpenMpTeam() throws Exception {
    Map<String, String> result = probe();
    // the float32 kernels, AVX-512 or AVX2
    assumeTrue(
        Boolean.parseBoolean(result.get("available")),
        () -> "no native kernel runs here: " + result.get("before"));
    assumeTrue(Boolean.parseBoolean(result.get("libgomp")), "libtorch loaded no libgomp here");
    assertTrue(Boolean.parseBoolean(result.get("openmp")), result.toString());
    String team = "native " + result.get("instructions") + " kernel on libtorch's OpenMP threads";
    assertTrue(team.endsWith("on libtorch's OpenMP threads"), team);
    assertEquals(team, result.get("before"), "asked before the engine loaded");
    assertEquals(team, result.get("after"), "asked after a call");
  }

  private static Map<String, String> probe() throws IOException, InterruptedException {
    Path java = Paths.get(System.getProperty("java.home"), "bin", "java");
    List<String> command =
        List.of(
            java.toString(),
            "-Dai.djl.offline=true",
            "-cp",
            System.getProperty("java.class.path"),
            ThreadChoiceProbe.class.getName());
    Path log = Files.createTempFile("thread-choice", ".log");
    try {
      Process process =
          new ProcessBuilder(command)
              .redirectErrorStream(true)
              .redirectOutput(log.toFile())
              .start();
      if (!process.waitFor(120, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        fail("the probe did not finish in 120 s");
      }
      String output = Files.readString(log, StandardCharsets.UTF_8);
      if (process.exitValue() != 0) {
        fail("the probe exited with " + process.exitValue() + ":\n" + output);
      }
      for (String line : output.split("\n")) {
        if (line.startsWith("result ")) {
          Map<String, String> values = new HashMap<>();
          for (String pair : line.substring(7).split("\\|")) {
            String[] kv = pair.split("=", 2);
            values.put(kv[0], kv[1]);
          }
          return values;
        }
      }
      fail("no result line from the probe:\n" + output);
      return Map.of();
    } finally {
      Files.deleteIfExists(log);
    }
  }
}
