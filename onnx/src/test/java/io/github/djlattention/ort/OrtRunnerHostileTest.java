package io.github.djlattention.ort;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OrtLoggingLevel;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, classes 4 and 6: a run or a load that never ends is bounded by the runner's timeout,
 * and a model's external data is read from beside it and only there.
 */
class OrtRunnerHostileTest {
  @TempDir Path dir;

  private static OrtRunner.Builder builder() {
    return OrtRunner.builder()
        .optIntraOpThreads(1)
        .optLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
  }

  @Test
  void endlessLoopsAreTerminatedAtTheTimeout() throws Exception {
    int cases = 0;
    for (long trips : new long[] {1L << 62, 1L << 40, Long.MAX_VALUE}) {
      Path model = dir.resolve("loop" + trips + ".onnx");
      Files.write(model, HostileModels.loop("x", trips).toByteArray());
      for (long millis : new long[] {200, 700}) {
        try (NDManager manager = TestTensors.manager();
            OrtRunner runner = builder().optTimeout(Duration.ofMillis(millis)).build(model)) {
          NDArray x = manager.ones(new Shape(2, 5, 8));
          long start = System.nanoTime();
          IllegalArgumentException e =
              assertThrows(
                  IllegalArgumentException.class, () -> runner.run(Map.of("x", x), manager));
          double seconds = (System.nanoTime() - start) / 1e9;
          assertEquals(
              "ONNX Runtime did not finish the run within the timeout of "
                  + millis
                  + " ms (--timeout); the run was terminated",
              e.getMessage());
          assertTrue(seconds >= millis / 1000.0 && seconds < millis / 1000.0 + 10, "" + seconds);
          cases++;
        }
      }
    }
    assertEquals(6, cases);
  }

  @Test
  void aShortLoopFinishesWellWithinTheDefaultTimeout() throws Exception {
    assertEquals(Duration.ofSeconds(600), OrtRunner.defaultTimeout());
    Path model = dir.resolve("loop3.onnx");
    Files.write(model, HostileModels.loop("x", 3).toByteArray());
    try (NDManager manager = TestTensors.manager();
        OrtRunner runner = builder().build(model)) {
      NDArray x = manager.arange(6f).reshape(1, 2, 3);
      NDArray y = runner.run(Map.of("x", x), manager).get("output");
      assertArrayEquals(x.neg().toFloatArray(), y.toFloatArray()); // negated three times
    }
  }

  @Test
  void aLoadLongerThanTheTimeoutIsGivenUp() throws Exception {
    // 2^6 nested Ifs (126 subgraphs, as deep as allowed) take about 100 ms to load; the loads
    // given up finish in the background.
    Path model = dir.resolve("ifs.onnx");
    Files.write(model, HostileModels.nestedIfs(6, true).toByteArray());
    for (int i = 0; i < 2; i++) {
      long start = System.nanoTime();
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () -> builder().optTimeout(Duration.ofMillis(5)).build(model).close());
      assertEquals(
          "ONNX Runtime did not load the model "
              + model
              + " within the timeout of 5 ms (--timeout)",
          e.getMessage());
      assertTrue(System.nanoTime() - start < 5_000_000_000L);
    }
  }

  /** One case of the subgraph guard's family. */
  private record GuardCase(String name, ModelProto proto, int depth, int subgraphs, boolean load) {}

  @Test
  void modelsNestingTooDeepOrWithTooManySubgraphsAreRefusedAtOnce() throws Exception {
    List<GuardCase> family = new java.util.ArrayList<>();
    for (int depth = 1; depth <= 12; depth++) {
      family.add(
          new GuardCase("chain" + depth, HostileModels.nestedIfs(depth), depth, 2 * depth, true));
    }
    for (int depth = 1; depth <= 8; depth++) {
      family.add(
          new GuardCase(
              "tree" + depth,
              HostileModels.nestedIfs(depth, true),
              depth,
              (1 << (depth + 1)) - 2,
              depth <= 4));
    }
    for (int count : new int[] {1, 64, 128, 129, 200, 1000}) {
      family.add(
          new GuardCase("wide" + count, HostileModels.wideIfs(count), 1, 2 * count, count <= 64));
    }
    int refused = 0;
    for (GuardCase c : family) {
      Path model = dir.resolve(c.name() + ".onnx");
      byte[] bytes = c.proto().toByteArray();
      Files.write(model, bytes);
      long start = System.nanoTime();
      if (c.depth() <= 6 && c.subgraphs() <= 256) {
        if (c.load()) {
          builder().build(model).close();
          builder().build(bytes).close();
        }
        continue;
      }
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> builder().build(model), c.name());
      String why =
          c.depth() > 6
              ? " nests subgraphs (If, Loop, Scan bodies) deeper than 6 levels; refused, since ONNX"
                  + " Runtime's load time grows exponentially with the nesting and cannot be"
                  + " interrupted"
              : " has more than 256 subgraphs (If, Loop, Scan bodies); refused, since ONNX Runtime"
                  + " can take minutes to load such a model and cannot be interrupted";
      assertEquals(model + why, e.getMessage());
      IllegalArgumentException fromBytes =
          assertThrows(IllegalArgumentException.class, () -> builder().build(bytes), c.name());
      assertEquals("the model" + why, fromBytes.getMessage());
      assertTrue(System.nanoTime() - start < 5_000_000_000L, c.name());
      refused++;
    }
    assertEquals(26, family.size());
    assertEquals(6 + 2 + 3, refused);
  }

  @Test
  void timeoutsMustBePositive() {
    for (Duration bad : new Duration[] {Duration.ZERO, Duration.ofSeconds(-1), null}) {
      assertThrows(IllegalArgumentException.class, () -> OrtRunner.builder().optTimeout(bad));
      assertThrows(IllegalArgumentException.class, () -> OrtRunner.setDefaultTimeout(bad));
    }
  }

  @Test
  void externalDataIsReadFromBesideTheModelAndOnlyThere() throws Exception {
    Path models = Files.createDirectories(dir.resolve("models/sub"));
    Path home = models.getParent();
    Files.write(home.resolve("w.bin"), HostileModels.floats(8, 2f));
    Files.write(models.resolve("w.bin"), HostileModels.floats(8, 3f));
    Path outside = Files.write(dir.resolve("outside.bin"), HostileModels.floats(8, 9f));
    Files.createSymbolicLink(home.resolve("link.bin"), outside);
    Files.createSymbolicLink(home.resolve("linkdir"), dir);
    // Good locations: the value each gives.
    Map<String, Float> good =
        Map.of("w.bin", 2f, "./w.bin", 2f, "sub/w.bin", 3f, "sub/./w.bin", 3f);
    try (NDManager manager = TestTensors.manager()) {
      NDArray x = manager.zeros(new Shape(1, 1, 8));
      for (Map.Entry<String, Float> entry : good.entrySet()) {
        Path model = home.resolve("good" + good.size() + entry.getKey().hashCode() + ".onnx");
        Files.write(model, HostileModels.externalAdd("x", 8, entry.getKey()).toByteArray());
        try (OrtRunner runner = builder().build(model)) {
          float[] y = runner.run(Map.of("x", x), manager).get("output").toFloatArray();
          assertEquals(entry.getValue(), y[7], entry.getKey());
        }
      }
    }
    List<String> bad =
        List.of(
            outside.toString(),
            "../outside.bin",
            "sub/../../outside.bin",
            "..",
            "link.bin",
            "linkdir/outside.bin",
            "/dev/zero",
            "");
    int refused = 0;
    for (String location : bad) {
      Path model = home.resolve("bad" + refused + ".onnx");
      ModelProto proto = HostileModels.externalAdd("x", 8, location);
      Files.write(model, proto.toByteArray());
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> builder().build(model), location);
      assertTrue(
          e.getMessage()
              .startsWith(model + ": tensor 'w' has its data in '" + location + "', which "),
          e.getMessage());
      assertTrue(
          e.getMessage().endsWith("must lie in the model's directory " + home), e.getMessage());
      refused++;
    }
    assertEquals(8, refused);
  }
}
