package io.github.djlattention.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@link NativeMemoryProbe} in a fresh JVM with a fixed, pre-touched Java heap (so that its
 * resident memory reflects native allocations only) and {@code MALLOC_ARENA_MAX=2}, and parses its
 * {@code result} line.
 */
public final class ProbeProcess {

  private ProbeProcess() {}

  /**
   * Runs the probe and returns the numbers of its {@code result} line.
   *
   * @param target {@code block} or {@code ort}
   * @param calls measured calls
   * @param warmup calls before the first measurement
   * @param timeoutSeconds how long to wait before killing the probe and failing
   * @return e.g. {@code growth_kib} and {@code second_half_growth_kib}
   */
  public static Map<String, Long> run(String target, int calls, int warmup, long timeoutSeconds)
      throws IOException, InterruptedException {
    Path java = Paths.get(System.getProperty("java.home"), "bin", "java");
    List<String> command = new ArrayList<>();
    command.add(java.toString());
    command.add("-Xms64m");
    command.add("-Xmx64m");
    command.add("-XX:+AlwaysPreTouch");
    command.add("-Dai.djl.offline=true");
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(NativeMemoryProbe.class.getName());
    command.add(target);
    command.add(Integer.toString(calls));
    command.add(Integer.toString(warmup));
    Path log = Files.createTempFile("native-memory-" + target, ".log");
    try {
      ProcessBuilder builder =
          new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
      // glibc opens malloc arenas per thread lazily and trims them at unpredictable times; two
      // arenas keep that noise well below the leaks the bounds are meant to catch.
      builder.environment().put("MALLOC_ARENA_MAX", "2");
      Process process = builder.start();
      if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        fail("the probe did not finish in " + timeoutSeconds + " s");
      }
      String output = Files.readString(log, StandardCharsets.UTF_8);
      if (process.exitValue() != 0) {
        fail("the probe exited with " + process.exitValue() + ":\n" + output);
      }
      for (String line : output.split("\n")) {
        if (line.startsWith("result ")) {
          Map<String, Long> numbers = new HashMap<>();
          for (String pair : line.substring(7).split(" ")) {
            String[] kv = pair.split("=", 2);
            if (kv[0].endsWith("_kib") || kv[0].equals("calls")) {
              numbers.put(kv[0], Long.parseLong(kv[1]));
            }
          }
          return numbers;
        }
      }
      fail("no result line from the probe:\n" + output);
      return Map.of();
    } finally {
      Files.deleteIfExists(log);
    }
  }
}
