/*
 * JNI entry point of io.github.djlattention.ops.CpuPeak: the float32 multiply-add rate one core
 * sustains when nothing but the arithmetic limits it. Twelve independent chains of fused
 * multiply-adds on registers, 512 bits wide where the CPU has AVX-512, else 256 (AVX2 and FMA) (more chains than the multiply-add latency times the ports, so no
 * chain waits on itself), no loads or stores: the ceiling every float32 kernel on this core is
 * under, whatever its memory access.
 */
#include <immintrin.h>
#include <jni.h>

#include "attention_kernel.h"

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

/* fma_rounds with 8 lanes, for CPUs with AVX2 and FMA but not AVX-512 */
__attribute__((target("avx2,fma"))) static float fma_rounds_avx2(jlong iterations) {
  __m256 acc[CHAINS];
  for (int i = 0; i < CHAINS; i++) {
    acc[i] = _mm256_set1_ps(0.001f * (float)i);
  }
  const __m256 scale = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
  for (jlong n = 0; n < iterations; n++) {
#pragma GCC unroll 12
    for (int i = 0; i < CHAINS; i++) {
      acc[i] = _mm256_fmadd_ps(acc[i], scale, add);
    }
  }
  __m256 sum = acc[0];
  for (int i = 1; i < CHAINS; i++) {
    sum = _mm256_add_ps(sum, acc[i]);
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

/* The lanes of a round's multiply-adds on this CPU: 16 (AVX-512), 8 (AVX2), 0 (neither). */
JNIEXPORT jint JNICALL Java_io_github_djlattention_ops_CpuPeak_fmaLanes(JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  int level = cpu_level();
  return level == 2 ? 16 : level == 1 ? 8 : 0;
}

JNIEXPORT jfloat JNICALL Java_io_github_djlattention_ops_CpuPeak_fmaRounds(JNIEnv *env, jclass cls,
                                                                          jlong iterations) {
  (void)env;
  (void)cls;
  int level = cpu_level();
  return level == 2 ? fma_rounds(iterations) : level == 1 ? fma_rounds_avx2(iterations) : 0.0f;
}
