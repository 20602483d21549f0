package io.github.djlattention.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * The child JVM of the training benchmark: forward and backward of one attention block on (B, S, E)
 * float32 inputs, inside a DJL {@code GradientCollector}, as a training step computes them (the
 * optimizer's update is left out: it is the same for both blocks).
 *
 * <p>Prints one line, {@code step <median ms> <min ms> <baseline KiB> <peak KiB>}: the median and
 * fastest of the timed steps, and this process's peak resident memory (VmHWM) after the warm-up
 * allocation of the inputs and after the steps. Each block runs in its own JVM so that the peaks do
 * not mix.
 *
 * <p>Shape legend: B batch, S sequence length, E embedding size, H heads.
 */
public final class TrainingStepProbe {

  private TrainingStepProbe() {}

  /**
   * Runs the probe.
   *
   * @param args block ({@code project} or {@code djl}), B, S, E, H, timed steps
   */
  public static void main(String[] args) {
    String which = args[0];
    long batch = Long.parseLong(args[1]);
    long seq = Long.parseLong(args[2]);
    int embedding = Integer.parseInt(args[3]);
    int heads = Integer.parseInt(args[4]);
    int steps = Integer.parseInt(args[5]);
    Engine.getEngine("PyTorch").setRandomSeed(7);
    AbstractBlock block = block(which, embedding, heads);
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      Shape shape = new Shape(batch, seq, embedding);
      block.initialize(manager, DataType.FLOAT32, shape);
      NDArray x = manager.randomUniform(-1, 1, shape); // (B, S, E)
      NDArray target = manager.randomUniform(-1, 1, shape); // (B, S, E)
      ParameterStore store = new ParameterStore(manager, false);
      long baseline = peakKib();
      int warmUp = Math.max(2, steps / 5);
      double[] millis = new double[steps];
      for (int step = -warmUp; step < steps; step++) {
        long start = System.nanoTime();
        try (NDManager scope = manager.newSubManager();
            GradientCollector collector = Engine.getInstance().newGradientCollector()) {
          NDArray input = x.duplicate(); // the step's arrays land in the scope
          input.attach(scope);
          NDArray out = block.forward(store, new NDList(input), true).head(); // (B, S, E)
          NDArray loss = out.sub(target).square().mean();
          collector.backward(loss);
        }
        if (step >= 0) {
          millis[step] = (System.nanoTime() - start) / 1e6;
        }
      }
      Arrays.sort(millis);
      System.out.printf(
          Locale.ROOT, "step %.3f %.3f %d %d%n", millis[steps / 2], millis[0], baseline, peakKib());
    }
  }

  private static AbstractBlock block(String which, int embedding, int heads) {
    switch (which) {
      case "project":
        return MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(embedding)
            .setHeads(heads)
            .build();
      case "djl":
        return ScaledDotProductAttentionBlock.builder()
            .setEmbeddingSize(embedding)
            .setHeadCount(heads)
            .optAttentionProbsDropoutProb(0f) // the project's block has no dropout
            .build();
      default:
        throw new IllegalArgumentException("block must be project or djl, got " + which);
    }
  }

  /** This process's peak resident memory (VmHWM), in KiB. */
  static long peakKib() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"), StandardCharsets.UTF_8)) {
        if (line.startsWith("VmHWM:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
    } catch (IOException e) {
      return -1;
    }
    return -1;
  }
}
