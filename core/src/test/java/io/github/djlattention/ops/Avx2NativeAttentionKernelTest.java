package io.github.djlattention.ops;

import io.github.djlattention.ops.FastAttention.Kernel;

/**
 * {@link NativeAttentionKernelTest} on the native kernel's AVX2 variant ({@code prefill_avx2.c}):
 * on a CPU without AVX-512 the dispatcher's kernel is this variant already; on one with AVX-512
 * this runs it beside the AVX-512 variant, so that both are checked wherever the tests run.
 */
class Avx2NativeAttentionKernelTest extends NativeAttentionKernelTest {

  @Override
  Kernel kernel() {
    return Kernel.NATIVE_AVX2;
  }
}
