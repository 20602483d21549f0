package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtGradientCollector;
import ai.djl.pytorch.jni.JniUtils;
import java.lang.reflect.Field;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Tells whether an attention call must record gradients. Kernels that write their output outside
 * autograd (the native kernel; the TorchScript module, which DJL runs in inference mode) must not
 * be picked then: the output would carry no gradient, and the layers before the attention would
 * silently stop learning.
 *
 * <p>A call records when the options say it is part of a training step ({@link
 * AttentionOptions.Builder#optTraining}), or, in the PyTorch engine, when autograd is on for the
 * calling thread and either an input is a leaf that requires a gradient or a DJL {@code
 * GradientCollector} is open and an input is tracked by autograd. In other engines it records when
 * an input has a gradient attached.
 *
 * <p>Why the collector matters: libtorch's grad mode is thread-local, and DJL switches it off only
 * on the thread that started the engine, so a {@code Predictor} on any other thread runs with it
 * on, and a block's parameters require gradients. Without a collector open nobody can ask for those
 * gradients, so inference there keeps the fast kernels.
 */
final class Autograd {

  /** DJL's process-wide flag of an open PyTorch gradient collector, or null if unreadable. */
  private static final AtomicBoolean COLLECTING = collectingFlag();

  private Autograd() {}

  /**
   * Returns whether this call must record gradients.
   *
   * @param options the call's options (its mask and training flag)
   * @param query the query
   * @param key the key
   * @param value the value
   * @return whether only a differentiable kernel may compute the call
   */
  static boolean records(AttentionOptions options, NDArray query, NDArray key, NDArray value) {
    if (options.training()) {
      return true;
    }
    NDArray mask = options.mask();
    boolean leafWithGradient =
        query.hasGradient()
            || key.hasGradient()
            || value.hasGradient()
            || (mask != null && mask.hasGradient());
    if (!TorchScriptKernel.accepts(query, key, value, mask)) {
      return leafWithGradient;
    }
    if (!JniUtils.isGradMode()) {
      return false; // libtorch records nothing on this thread
    }
    if (leafWithGradient) {
      return true;
    }
    boolean collecting = COLLECTING == null || COLLECTING.get(); // unreadable: assume open
    return collecting && TorchScriptKernel.requiresGrad(query, key, value, mask);
  }

  /**
   * Reads {@code PtGradientCollector.isCollecting}, DJL's flag that one collector is open (DJL
   * allows one at a time in a process). Returns null where the field is missing or closed to
   * reflection; {@link #records} then treats every tracked input as recording.
   */
  private static AtomicBoolean collectingFlag() {
    try {
      Field field = PtGradientCollector.class.getDeclaredField("isCollecting");
      field.setAccessible(true);
      return (AtomicBoolean) field.get(null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }
}
