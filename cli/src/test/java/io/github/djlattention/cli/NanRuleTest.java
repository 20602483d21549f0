package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.conformance.Comparison;
import io.github.djlattention.testing.TestTensors;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Issue 11, class 9: {@code check} and the conformance suite apply one element rule — NaN never
 * agrees, not even with NaN; an infinity agrees only with the same infinity; finite values within
 * the tolerance. A generated family of pairs sprinkled with NaN, ±∞ and near misses.
 */
class NanRuleTest {

  @Test
  void bothSidesEntirelyNanFailsCheckAsItFailsTheSuite() {
    try (NDManager m = TestTensors.manager()) {
      NDArray nan = m.full(new ai.djl.ndarray.types.Shape(2, 3), Float.NaN);
      assertFalse(OutputComparison.of("output", nan, nan.duplicate(), 1e-4).passed());
      assertFalse(
          Comparison.compare("output", nan, nan.duplicate(), new Tolerance(0, 1e-4)).agrees());
    }
  }

  @Test
  void checkAndTheSuiteAgreeOnEveryGeneratedPair() {
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
        NDArray expected = m.create(want);
        NDArray actual = m.create(got);
        boolean check = OutputComparison.of("o", actual, expected, atol).passed();
        boolean suite = Comparison.compare("o", expected, actual, new Tolerance(0, atol)).agrees();
        assertEquals(
            suite,
            check,
            java.util.Arrays.toString(want) + " vs " + java.util.Arrays.toString(got));
        boolean nan = false;
        for (int i = 0; i < n; i++) {
          nan |= Float.isNaN(want[i]) || Float.isNaN(got[i]);
        }
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
