package io.github.djlattention.ops;

import ai.djl.ndarray.NDArray;

/**
 * The step-by-step chain ({@link Attention#attentionStepByStep}) as the last kernel of the fast
 * path: it computes every call, each step an NDArray op that autograd records, so it serves the
 * calls that record gradients where no fused kernel does, and the empty ones (S = 0 or T = 0). It
 * holds the (B, H, S, T) scores.
 */
final class StepByStepKernel implements AttentionKernel {

  static final StepByStepKernel INSTANCE = new StepByStepKernel();

  private StepByStepKernel() {}

  @Override
  public String name() {
    return "STEP_BY_STEP";
  }

  @Override
  public String unsupported(AttentionCall call) {
    if (call.bfloat16() && !call.records()) {
      // bfloat16 products are an opt-in of the TorchScript kernel; a call that records gradients
      // computes in its own precision (there is no differentiable bfloat16 kernel).
      return "bfloat16 precision needs PyTorch-engine arrays and kernel; got "
          + call.inputs().query().getClass().getSimpleName()
          + " (the step-by-step chain computes in the input precision)";
    }
    return null;
  }

  @Override
  public boolean recordsGradients() {
    return true;
  }

  @Override
  public NDArray compute(AttentionCall call) {
    AttentionCall.Inputs in = call.inputs();
    AttentionOptions noWeights = in.options().toBuilder().optReturnWeights(false).build();
    return Attention.attentionStepByStep(in.query(), in.key(), in.value(), noWeights).output();
  }

  @Override
  public String toString() {
    return name();
  }
}
