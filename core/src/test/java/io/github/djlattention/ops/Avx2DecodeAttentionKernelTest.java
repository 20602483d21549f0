package io.github.djlattention.ops;

/**
 * {@link DecodeAttentionKernelTest} on the decode kernel's AVX2 variant ({@code decode_avx2.c}): on
 * a CPU without AVX-512 the dispatcher's kernel is this variant already; on one with AVX-512 this
 * runs it beside the AVX-512 variant, so that both are checked wherever the tests run.
 */
class Avx2DecodeAttentionKernelTest extends DecodeAttentionKernelTest {

  @Override
  DecodeAttentionKernel kernel() {
    return DecodeAttentionKernel.AVX2;
  }
}
