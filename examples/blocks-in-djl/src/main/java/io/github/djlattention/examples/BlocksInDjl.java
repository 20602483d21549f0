package io.github.djlattention.examples;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A DJL application that uses djl-attention-core and nothing else of the project: a small causal
 * sequence model (DJL's {@link Linear} and {@link LayerNorm} around the project's {@link
 * MultiHeadAttentionBlock}) in a {@link SequentialBlock}, trained for a few steps with DJL's own
 * {@link Trainer}, run through a {@link Predictor}, saved and loaded back.
 *
 * <p>The task: at every position, predict the running mean of the first feature over the tokens so
 * far, which a causal attention layer can learn. The program exits with status 1 when the loss does
 * not fall or the loaded model predicts differently from the saved one.
 *
 * <p>Usage: {@code BlocksInDjl [MODEL_DIR]} (default: a temporary directory).
 */
public final class BlocksInDjl {

  private static final int BATCH = 8;
  private static final int LENGTH = 12;
  private static final int FEATURES = 4;
  private static final int EMBEDDING = 32;
  private static final int STEPS = 60;

  private BlocksInDjl() {}

  /** The model: the same architecture for training and for loading. */
  static Block model() {
    return new SequentialBlock()
        .add(Linear.builder().setUnits(EMBEDDING).build())
        .add(
            MultiHeadAttentionBlock.builder()
                .setEmbeddingSize(EMBEDDING)
                .setHeads(4)
                .optKvHeads(2)
                .optCausal(true)
                .build())
        .add(LayerNorm.builder().build())
        .add(Linear.builder().setUnits(1).build());
  }

  /**
   * Trains, predicts, saves and loads.
   *
   * @param args optional model directory
   */
  public static void main(String[] args)
      throws IOException, TranslateException, MalformedModelException {
    Path directory =
        args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("blocks-in-djl");
    Files.createDirectories(directory);
    try (NDManager manager = NDManager.newBaseManager()) {
      manager.getEngine().setRandomSeed(7);
      NDArray x = manager.randomUniform(-1, 1, new Shape(BATCH, LENGTH, FEATURES));
      NDArray y = runningMean(x.get(":, :, 0:1")); // (B, S, 1)

      float[] before;
      try (Model model = Model.newInstance("blocks-in-djl")) {
        model.setBlock(model());
        DefaultTrainingConfig config =
            new DefaultTrainingConfig(Loss.l2Loss())
                .optOptimizer(
                    Optimizer.adam().optLearningRateTracker(Tracker.fixed(0.01f)).build());
        float first = Float.NaN;
        float last = Float.NaN;
        try (Trainer trainer = model.newTrainer(config)) {
          trainer.initialize(x.getShape());
          for (int step = 0; step < STEPS; step++) {
            try (GradientCollector collector = trainer.newGradientCollector()) {
              NDList prediction = trainer.forward(new NDList(x));
              NDArray loss = trainer.getLoss().evaluate(new NDList(y), prediction);
              collector.backward(loss);
              last = loss.getFloat();
              if (step == 0) {
                first = last;
              }
            }
            trainer.step();
          }
        }
        System.out.printf(Locale.ROOT, "trained %d steps: loss %.5f -> %.5f%n", STEPS, first, last);
        if (!(last < 0.5f * first)) {
          fail("the loss did not fall by half: " + first + " -> " + last);
        }
        before = predict(model, x);
        model.save(directory, "blocks-in-djl");
      }

      try (Model loaded = Model.newInstance("blocks-in-djl")) {
        loaded.setBlock(model());
        loaded.load(directory, "blocks-in-djl");
        float[] after = predict(loaded, x);
        double worst = 0;
        for (int i = 0; i < before.length; i++) {
          worst = Math.max(worst, Math.abs(before[i] - after[i]));
        }
        System.out.printf(
            Locale.ROOT,
            "saved to %s and loaded: %d predictions, max difference %.3g%n",
            directory,
            after.length,
            worst);
        if (worst > 1e-6) {
          fail("the loaded model predicts differently: max difference " + worst);
        }
      }
    }
  }

  /** Runs the model through a predictor, as an application serves it. */
  private static float[] predict(Model model, NDArray x) throws TranslateException {
    try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
      NDList out = predictor.predict(new NDList(x));
      return out.singletonOrThrow().toFloatArray();
    }
  }

  /** The running mean along the sequence axis: out[b, s] = mean(x[b, 0..s]). */
  private static NDArray runningMean(NDArray x) {
    NDArray counts = x.getManager().arange(1f, LENGTH + 1f).reshape(1, LENGTH, 1); // (1, S, 1)
    return x.cumSum(1).div(counts);
  }

  private static void fail(String message) {
    System.err.println("BlocksInDjl: " + message);
    System.exit(1);
  }
}
