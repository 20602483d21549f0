package io.github.djlattention.ops;

import io.github.djlattention.ops.FastAttention.Kernel;

/**
 * Every test of {@link NativeBfloat16KernelTest} (the float64 reference on rounded and original
 * inputs, the extreme cases, exact averages across the blocks, the causal offset, libtorch's
 * bfloat16 path, shared inputs on several threads, the helper threads) on the bfloat16 kernel whose
 * products run on AMX tiles. The same error bounds hold: the tiles multiply the same rounded
 * numbers exactly and sum them in float32, in another order. Skips, naming why, where the CPU has
 * no AMX-BF16 or Linux does not grant the tile data.
 */
class AmxBfloat16KernelTest extends NativeBfloat16KernelTest {

  @Override
  Kernel kernel() {
    return Kernel.NATIVE_AMX;
  }
}
