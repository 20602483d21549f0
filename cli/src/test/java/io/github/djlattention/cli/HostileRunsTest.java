package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.io.Npz;
import io.github.djlattention.ort.HostileModels;
import io.github.djlattention.ort.OrtRunner;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, classes 4, 5, 6 and 10 through the command line: runs and loads that never end are
 * bounded by {@code --timeout}, inputs that crash ONNX Runtime are refused before it sees them,
 * external data is read from beside the model, and {@code --device cuda} without CUDA is an
 * environment failure that says what is needed.
 */
class HostileRunsTest {
  @TempDir Path dir;

  private static final Path SEED = CliFuzzScenario.MODELS.resolve("seed_self_attention");

  private static List<String> check(Path model, Path weights, Path inputs, String... extra) {
    List<String> args =
        new ArrayList<>(
            List.of("check", "--onnx=" + model, "--weights=" + weights, "--inputs=" + inputs));
    args.addAll(List.of(extra));
    return args;
  }

  private static void assertOneLine(CliRun run, int code, String contains) {
    assertEquals(code, run.exitCode(), run.toString());
    assertEquals(1, run.errLines().size(), run.toString());
    assertTrue(run.err().contains(contains), run.toString());
  }

  @Test
  void anEndlessLoopIsTerminatedByTimeout() throws Exception {
    Path model = dir.resolve("loop.onnx");
    Files.write(model, HostileModels.loop("x", 1L << 62).toByteArray());
    for (String timeout : List.of("2", "3")) {
      long start = System.nanoTime();
      CliRun run =
          CliRun.of(
              check(
                      model,
                      SEED.resolve("state_dict.npz"),
                      SEED.resolve("inputs.npz"),
                      "--timeout=" + timeout)
                  .toArray(new String[0]));
      double seconds = (System.nanoTime() - start) / 1e9;
      assertOneLine(
          run,
          ExitCodes.BAD_INPUT,
          "ONNX Runtime did not finish the run within the timeout of " + timeout + " s");
      assertTrue(seconds < 30, seconds + " s");
    }
  }

  @Test
  void badTimeoutsAreRefused() {
    for (String bad : List.of("0", "-1", "NaN", "Infinity", "1e9", "soon")) {
      for (List<String> args :
          List.of(
              check(
                  SEED.resolve("model.onnx"),
                  SEED.resolve("state_dict.npz"),
                  SEED.resolve("inputs.npz"),
                  "--timeout=" + bad),
              List.of("conformance", "--suite=generated", "--case=none", "--timeout=" + bad))) {
        CliRun run = CliRun.of(args.toArray(new String[0]));
        assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run.toString());
        assertEquals(1, run.errLines().size(), run.toString());
        assertTrue(run.err().contains("--timeout"), run.toString());
      }
    }
    assertEquals(OrtRunner.DEFAULT_TIMEOUT, OrtRunner.defaultTimeout());
  }

  @Test
  void aModelThatLoadsForeverIsGivenUpInAChildJvm() throws Exception {
    // 2^12 nested Ifs, 600 KB: ONNX Runtime 1.26 takes over 20 s to load it on this machine;
    // the nesting limit refuses it at once. 2^6 (as deep as allowed, 126 subgraphs) loads in
    // about 100 ms, so a 5 ms timeout gives it up, and the child must still exit cleanly.
    for (int depth : new int[] {12, 6}) {
      Path model = dir.resolve("ifs" + depth + ".onnx");
      Files.write(model, HostileModels.nestedIfs(depth, true).toByteArray());
      CliFuzzScenario scenario =
          new CliFuzzScenario(
              0,
              "check nested Ifs",
              check(
                  model,
                  SEED.resolve("state_dict.npz").toAbsolutePath(),
                  SEED.resolve("inputs.npz").toAbsolutePath(),
                  depth == 12 ? "--timeout=2" : "--timeout=0.005"),
              List.of(),
              Set.of(ExitCodes.BAD_INPUT));
      TreeSet<String> before = CliFuzz.snapshot(dir);
      CliFuzz.Outcome outcome = CliFuzz.childJvm(scenario, dir, null, 60);
      assertEquals(List.of(), CliFuzz.problems(scenario, outcome, before, CliFuzz.snapshot(dir)));
      assertTrue(
          outcome.err().contains(depth == 12 ? "deeper than 6 levels" : "did not load the model"),
          outcome.err());
      assertTrue(outcome.seconds() < 30, outcome.seconds() + " s");
    }
  }

  @Test
  void anEmptyQuerySequenceOnMhaSelfBiasIsRefusedNotACrash() throws Exception {
    Path d = CliFuzzScenario.MODELS.resolve("mha_self_bias");
    Path inputs = dir.resolve("s0.npz");
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> arrays = new LinkedHashMap<>();
      for (String name : List.of("query", "key", "value")) {
        arrays.put(name, manager.zeros(new Shape(2, 0, 16)));
      }
      Npz.write(inputs, arrays);
    }
    CliFuzzScenario scenario =
        new CliFuzzScenario(
            0,
            "check mha_self_bias S=0",
            check(
                d.resolve("model.onnx").toAbsolutePath(),
                d.resolve("state_dict.npz").toAbsolutePath(),
                inputs,
                "--heads=4"),
            List.of(),
            Set.of(ExitCodes.BAD_INPUT));
    TreeSet<String> before = CliFuzz.snapshot(dir);
    CliFuzz.Outcome outcome = CliFuzz.childJvm(scenario, dir, null, 120);
    assertEquals(List.of(), CliFuzz.problems(scenario, outcome, before, CliFuzz.snapshot(dir)));
    assertTrue(outcome.err().contains("empty along axis 1"), outcome.err());
  }

  @Test
  void everyEmptyAxisOfEveryCommittedModelIsRefused() throws Exception {
    JsonNode manifest =
        new ObjectMapper().readTree(CliFuzzScenario.MODELS.resolve("manifest.json").toFile());
    int cases = 0;
    try (NDManager manager = TestTensors.manager()) {
      for (JsonNode model : manifest.path("models")) {
        Path d = CliFuzzScenario.MODELS.resolve(model.path("name").asText());
        for (Iterator<String> names = model.path("inputs").fieldNames(); names.hasNext(); ) {
          String emptied = names.next();
          int rank = model.path("inputs").get(emptied).size();
          for (int axis = 0; axis < rank; axis++) {
            Map<String, NDArray> arrays = new LinkedHashMap<>();
            for (Iterator<String> all = model.path("inputs").fieldNames(); all.hasNext(); ) {
              String name = all.next();
              long[] dims = new long[model.path("inputs").get(name).size()];
              for (int i = 0; i < dims.length; i++) {
                dims[i] = model.path("inputs").get(name).get(i).asLong();
              }
              if (name.equals(emptied)) {
                dims[axis] = 0;
              }
              arrays.put(name, manager.ones(new Shape(dims)));
            }
            Path inputs = dir.resolve("in" + cases + ".npz");
            Npz.write(inputs, arrays);
            List<String> args = check(d.resolve("model.onnx"), d.resolve("state_dict.npz"), inputs);
            JsonNode config = model.path("config");
            if (config.has("num_heads")) {
              args.add("--heads=" + config.path("num_heads").asInt());
            }
            if (config.path("causal").asBoolean(false)) {
              args.add("--causal");
            }
            CliRun run = CliRun.of(args.toArray(new String[0]));
            assertOneLine(run, ExitCodes.BAD_INPUT, "input '" + emptied + "' has shape ");
            assertTrue(run.err().contains("empty along axis " + axis), run.toString());
            cases++;
          }
        }
      }
    }
    assertEquals(71, cases);
  }

  @Test
  void externalDataIsReadFromBesideTheModelNotTheWorkingDirectory() throws Exception {
    Path models = Files.createDirectories(dir.resolve("elsewhere"));
    Path model = models.resolve("add.onnx");
    Files.write(model, HostileModels.externalAdd("x", 8, "add.weights").toByteArray());
    Files.write(models.resolve("add.weights"), HostileModels.floats(8, 0f));
    CliRun run =
        CliRun.of(
            check(model, SEED.resolve("state_dict.npz"), SEED.resolve("inputs.npz"))
                .toArray(new String[0]));
    // It loads and runs (x + 0 is not the attention block, so the comparison fails: exit 1).
    assertEquals(ExitCodes.CHECK_FAILED, run.exitCode(), run.toString());
    assertTrue(run.out().contains("djl_vs_ort"), run.toString());

    Path outside = Files.write(dir.resolve("secret.bin"), HostileModels.floats(8, 7f));
    for (String location : List.of("../secret.bin", outside.toString())) {
      Files.write(model, HostileModels.externalAdd("x", 8, location).toByteArray());
      CliRun escape =
          CliRun.of(
              check(model, SEED.resolve("state_dict.npz"), SEED.resolve("inputs.npz"))
                  .toArray(new String[0]));
      assertOneLine(escape, ExitCodes.BAD_INPUT, "external data must lie in the model's directory");
    }
  }

  @Test
  void cudaWithoutCudaIsAnEnvironmentFailureThatSaysWhatIsNeeded() {
    Assumptions.assumeFalse(OrtRunner.cudaAvailable(), "this ONNX Runtime has CUDA");
    CliRun check =
        CliRun.of(
            check(
                    SEED.resolve("model.onnx"),
                    SEED.resolve("state_dict.npz"),
                    SEED.resolve("inputs.npz"),
                    "--device=cuda")
                .toArray(new String[0]));
    assertOneLine(check, ExitCodes.FAILURE, "-Pcuda build (onnxruntime_gpu) and an NVIDIA GPU");
    assertTrue(check.err().contains("cuDNN"), check.toString());
  }
}
