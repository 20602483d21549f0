package io.github.djlattention.ort;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.TestTensors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * One {@link OrtRunner} (one {@code OrtSession}) shared by several threads gives, for every input,
 * exactly the bytes that serial calls give.
 */
class OrtRunnerConcurrencyTest {

  private static final int THREADS = 6;
  private static final int INPUTS = 120;

  @Test
  void aSharedSessionGivesTheSerialResults() throws Exception {
    List<float[]> inputs = new ArrayList<>();
    Random random = new Random(17);
    for (int n = 0; n < INPUTS; n++) {
      float[] x = new float[2 * 5 * 8];
      for (int i = 0; i < x.length; i++) {
        x[i] = random.nextFloat() * 2 - 1;
      }
      inputs.add(x);
    }
    try (OrtRunner runner = OrtRunner.builder().build(OrtRunnerRobustnessTest.SEED_MODEL);
        NDManager manager = TestTensors.manager()) {
      float[][] serial = new float[INPUTS][];
      for (int n = 0; n < INPUTS; n++) {
        serial[n] = run(runner, manager, inputs.get(n));
      }
      ExecutorService pool = Executors.newFixedThreadPool(THREADS);
      try {
        List<Future<float[]>> parallel = new ArrayList<>();
        // every thread runs every input, in a different order
        for (int t = 0; t < THREADS; t++) {
          for (int n = 0; n < INPUTS; n++) {
            int index = (n * (t + 1) + t) % INPUTS;
            parallel.add(pool.submit(() -> run(runner, manager, inputs.get(index))));
          }
        }
        int task = 0;
        for (int t = 0; t < THREADS; t++) {
          for (int n = 0; n < INPUTS; n++, task++) {
            int index = (n * (t + 1) + t) % INPUTS;
            assertArrayEquals(
                serial[index],
                parallel.get(task).get(60, TimeUnit.SECONDS),
                "input " + index + " on thread " + t);
          }
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }

  private static float[] run(OrtRunner runner, NDManager manager, float[] x) {
    try (NDManager scope = manager.newSubManager()) {
      Map<String, NDArray> out =
          runner.run(Map.of("x", scope.create(x, new Shape(2, 5, 8))), scope);
      float[] output = out.get("output").toFloatArray();
      float[] weights = out.get("weights").toFloatArray();
      float[] both = new float[output.length + weights.length];
      System.arraycopy(output, 0, both, 0, output.length);
      System.arraycopy(weights, 0, both, output.length, weights.length);
      return both;
    }
  }
}
