package io.github.djlattention.ops;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import io.github.djlattention.testing.TestTensors;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * When a call must record gradients ({@link Autograd#records}): every case of the rule, each on a
 * thread of its own so that libtorch's thread-local grad mode starts as DJL leaves it on threads
 * other than the engine's first (on).
 */
class AutogradTest {

  private static final AttentionOptions INFERENCE =
      AttentionOptions.builder().optReturnWeights(false).build();

  private static boolean onNewThread(Supplier<Boolean> check) {
    return CompletableFuture.supplyAsync(check, r -> new Thread(r).start()).join();
  }

  @Test
  void plainInputsRecordNothing() {
    try (NDManager m = TestTensors.manager()) {
      NDArray x = m.ones(new Shape(1, 2, 3, 4));
      assertFalse(onNewThread(() -> Autograd.records(INFERENCE, x, x, x)));
    }
  }

  @Test
  void aLeafThatRequiresAGradientRecords() {
    try (NDManager m = TestTensors.manager()) {
      NDArray x = m.ones(new Shape(1, 2, 3, 4));
      NDArray leaf = m.ones(new Shape(1, 2, 3, 4));
      leaf.setRequiresGradient(true);
      assertTrue(onNewThread(() -> Autograd.records(INFERENCE, x, leaf, x)));
      NDArray mask = m.zeros(new Shape(3, 3));
      mask.setRequiresGradient(true);
      AttentionOptions masked = INFERENCE.toBuilder().optMask(mask).build();
      assertTrue(onNewThread(() -> Autograd.records(masked, x, x, x)), "a float mask leaf");
    }
  }

  @Test
  void trackedResultsRecordOnlyWhileACollectorIsOpen() {
    try (NDManager m = TestTensors.manager()) {
      NDArray weight = m.ones(new Shape(4, 4));
      weight.setRequiresGradient(true); // like a block's parameter
      NDArray x = m.ones(new Shape(1, 2, 3, 4));
      // A Predictor on another thread: grad mode on, projections tracked, no collector open.
      assertFalse(
          onNewThread(
              () -> {
                NDArray q = x.matMul(weight); // tracked by autograd, not a leaf
                return Autograd.records(INFERENCE, q, x, x);
              }),
          "inference outside a collector keeps the fast kernels");
      try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
        NDArray q = x.matMul(weight);
        assertTrue(Autograd.records(INFERENCE, q, x, x), "inside a collector");
        assertFalse(Autograd.records(INFERENCE, x, x, x), "untracked inputs inside a collector");
      }
    }
  }

  @Test
  void gradModeOffRecordsNothingAndTrainingAlwaysRecords() {
    try (NDManager m = TestTensors.manager()) {
      NDArray leaf = m.ones(new Shape(1, 2, 3, 4));
      leaf.setRequiresGradient(true);
      assertFalse(
          onNewThread(
              () -> {
                JniUtils.setGradMode(false);
                return Autograd.records(INFERENCE, leaf, leaf, leaf);
              }));
      AttentionOptions training = INFERENCE.toBuilder().optTraining(true).build();
      NDArray x = m.ones(new Shape(1, 2, 3, 4));
      assertTrue(onNewThread(() -> Autograd.records(training, x, x, x)));
    }
  }
}
