/*
 * JNI entry point of io.github.djlattention.ops.CpuPeak: the float32 multiply-add rate one core
 * sustains when nothing but the arithmetic limits it. Twelve independent chains of 512-bit fused
 * multiply-adds on registers (more chains than the multiply-add latency times the ports, so no
 * chain waits on itself), no loads or stores: the ceiling every float32 kernel on this core is
 * under, whatever its memory access.
 */
#include <immintrin.h>
#include <jni.h>

#define CHAINS 12

/* Runs `iterations` rounds of CHAINS multiply-adds of 16 lanes; returns a sum so that none is
 * optimized away. */
__attribute__((target("avx512f,fma"))) static float fma_rounds(jlong iterations) {
  __m512 acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) {
    acc[i] = _mm512_set1_ps(0.001f * (float)i);
  }
  const __m512 scale = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f);
  for (jlong n = 0; n < iterations; n++) {
#pragma GCC unroll 12
    for (int i = 0; i < CHAINS; i++) {
      acc[i] = _mm512_fmadd_ps(acc[i], scale, add);
    }
  }
  __m512 sum = acc[0];
  for (int i = 1; i < CHAINS; i++) {
    sum = _mm512_add_ps(sum, acc[i]);
  }
  return _mm512_reduce_add_ps(sum);
}

JNIEXPORT jfloat JNICALL Java_io_github_djlattention_ops_CpuPeak_fmaRounds(JNIEnv *env, jclass cls,
                                                                          jlong iterations) {
  (void)env;
  (void)cls;
  return fma_rounds(iterations);
}
