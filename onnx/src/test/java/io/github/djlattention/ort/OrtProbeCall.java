package io.github.djlattention.ort;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.NativeMemoryProbe;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/** The ONNX Runtime runner on the seed's single-head model. */
public final class OrtProbeCall implements NativeMemoryProbe.Call {
  private final OrtRunner runner;
  private final NDManager manager;
  private final float[] x = new float[2 * 5 * 8];

  /**
   * Opens the runner.
   *
   * @param model the ONNX model
   */
  public OrtProbeCall(Path model) {
    runner = OrtRunner.builder().optIntraOpThreads(1).build(model);
    manager = NDManager.newBaseManager("PyTorch");
    Random random = new Random(43);
    for (int n = 0; n < x.length; n++) {
      x[n] = random.nextFloat() * 2 - 1;
    }
  }

  @Override
  public void run(int iteration) {
    try (NDManager scope = manager.newSubManager()) {
      x[iteration % x.length] += 1e-3f;
      Map<String, NDArray> out =
          runner.run(Map.of("x", scope.create(x, new Shape(2, 5, 8))), scope);
      if (out.get("output").toFloatArray().length != 2 * 5 * 4) {
        throw new IllegalStateException("unexpected output " + out.get("output").getShape());
      }
    }
  }

  @Override
  public void close() {
    try {
      runner.close();
    } finally {
      manager.close();
    }
  }
}
