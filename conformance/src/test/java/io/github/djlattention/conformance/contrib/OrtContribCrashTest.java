package io.github.djlattention.conformance.contrib;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The contrib cases that {@link OrtContribImplementation} declines do crash ONNX Runtime 1.26: each
 * runs in a child JVM ({@link OrtCrashProbe}), which must die in the session's run with a fatal
 * native error rather than finish or fail with an exception. When ONNX Runtime stops crashing this
 * test fails, and the case can run in-process again.
 */
class OrtContribCrashTest {

  @Test
  void attentionWithoutBiasCrashesTheProcess() throws IOException, InterruptedException {
    ContribCase testCase =
        ContribCases.standard().stream()
            .filter(c -> c.name().equals("att_no_bias"))
            .findFirst()
            .orElseThrow();
    assertTrue(OrtContribImplementation.crashes(testCase));
    Path java = Paths.get(System.getProperty("java.home"), "bin", "java");
    Path log = Files.createTempFile("ort-crash-probe", ".log");
    Path workDirectory = Files.createTempDirectory("ort-crash-probe");
    try {
      Process process =
          new ProcessBuilder(
                  List.of(
                      java.toString(),
                      "-XX:-CreateCoredumpOnCrash",
                      "-XX:ErrorFile=" + workDirectory.resolve("hs_err.log"),
                      "-cp",
                      System.getProperty("java.class.path"),
                      OrtCrashProbe.class.getName(),
                      testCase.name()))
              .directory(workDirectory.toFile())
              .redirectErrorStream(true)
              .redirectOutput(log.toFile())
              .start();
      if (!process.waitFor(120, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        fail("the probe did not finish in 120 s");
      }
      String output = Files.readString(log, StandardCharsets.UTF_8);
      assertTrue(output.contains("running"), () -> "the probe did not reach the run:\n" + output);
      assertTrue(
          !output.contains("finished"),
          () -> "ONNX Runtime no longer crashes on " + testCase.name() + ":\n" + output);
      assertNotEquals(0, process.exitValue(), output);
      assertTrue(
          output.contains("SIGSEGV") || output.contains("fatal error"),
          () -> "the probe failed without a native crash:\n" + output);
    } finally {
      Files.deleteIfExists(log);
      try (var files = Files.list(workDirectory)) {
        for (Path file : files.toList()) {
          Files.deleteIfExists(file);
        }
      }
      Files.deleteIfExists(workDirectory);
    }
  }
}
