package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.conformance.Comparison;
import io.github.djlattention.io.Npz;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, class 9: {@code check} and the conformance suite apply one element rule — NaN never
 * agrees, not even with NaN; an infinity agrees only with the same infinity; finite values within
 * the tolerance. Both compare through {@code compare.ElementComparison}: an end-to-end {@code
 * check} whose two sides are both NaN, and a generated family of pairs sprinkled with NaN, ±∞ and
 * near misses.
 */
class NanRuleTest {

  private static final Path MODEL = Path.of("models", "mha_self_bias");

  @TempDir Path dir;

  @Test
  void bothSidesEntirelyNanFailsCheckAsItFailsTheSuite() throws Exception {
    Path inputs = dir.resolve("nan-inputs.npz");
    try (NDManager m = TestTensors.manager()) {
      Map<String, NDArray> nan = new LinkedHashMap<>();
      Npz.read(m, MODEL.resolve("inputs.npz"))
          .forEach((name, array) -> nan.put(name, array.mul(Float.NaN)));
      Npz.write(inputs, nan);
      NDArray all = m.full(new ai.djl.ndarray.types.Shape(2, 3), Float.NaN);
      assertFalse(
          Comparison.compare("output", all, all.duplicate(), new Tolerance(0, 1e-4)).agrees());
    }
    Path json = dir.resolve("report.json");
    CliRun run =
        CliRun.of(
            "check",
            "--onnx=" + MODEL.resolve("model.onnx"),
            "--weights=" + MODEL.resolve("state_dict.npz"),
            "--heads=4",
            "--inputs=" + inputs,
            "--json=" + json);
    assertEquals(ExitCodes.CHECK_FAILED, run.exitCode(), run.toString());
    assertTrue(run.out().contains("non-finite mismatches"), run.out());
    JsonNode output = new ObjectMapper().readTree(json.toFile()).get("djl_vs_ort").get("outputs");
    for (String name : new String[] {"output", "weights"}) {
      JsonNode o = output.get(name);
      assertFalse(o.get("passed").asBoolean(), name);
      assertTrue(o.get("same_shape").asBoolean(), name);
      assertEquals(
          size(o.get("shape")),
          o.get("nonfinite_mismatches").asLong(),
          name + ": every element is a NaN pair");
    }
  }

  private static long size(JsonNode shape) {
    long n = 1;
    for (JsonNode dim : shape) {
      n *= dim.asLong();
    }
    return n;
  }

  @Test
  void checksVerdictIsTheElementRuleOnEveryGeneratedPair() {
    Random random = new Random(9);
    double[] specials = {
      Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 0, -0.0, 1, 1e-4, 2e-4
    };
    int passed = 0;
    int withNan = 0;
    try (NDManager m = TestTensors.manager()) {
      for (int c = 0; c < 400; c++) {
        int n = 1 + random.nextInt(6);
        float[] want = new float[n];
        float[] got = new float[n];
        for (int i = 0; i < n; i++) {
          want[i] = (float) random.nextGaussian();
          got[i] = want[i] + (float) ((random.nextInt(3) - 1) * random.nextDouble() * 2e-4);
          if (random.nextInt(4) == 0) {
            want[i] = (float) specials[random.nextInt(specials.length)];
          }
          if (random.nextInt(4) == 0) {
            got[i] = random.nextBoolean() ? want[i] : (float) specials[random.nextInt(3)];
          }
        }
        double atol = random.nextBoolean() ? 1e-4 : 1e-3;
        // what ModelCheck compares for a pair's output: Tolerance(0, --atol)
        Tolerance tolerance = new Tolerance(0, atol);
        boolean check = Comparison.compare("o", m.create(want), m.create(got), tolerance).agrees();
        boolean everyElement = true;
        boolean nan = false;
        for (int i = 0; i < n; i++) {
          everyElement &= tolerance.accepts(want[i], got[i]);
          nan |= Float.isNaN(want[i]) || Float.isNaN(got[i]);
        }
        assertEquals(
            everyElement,
            check,
            java.util.Arrays.toString(want) + " vs " + java.util.Arrays.toString(got));
        if (nan) {
          assertFalse(check, "a NaN passed");
          withNan++;
        }
        passed += check ? 1 : 0;
      }
    }
    // the family has passing and failing pairs, and many with NaN
    assertTrue(passed > 40 && passed < 360, "" + passed);
    assertTrue(withNan > 50, "" + withNan);
  }
}
