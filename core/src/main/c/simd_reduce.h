/*
 * Sixteen dot products summed across their lanes at once, for the kernels that compute products
 * along a contiguous axis (the decode kernel's Q K^T, the linear kernel's x W^T): a tree of shuffles
 * and adds over 16 accumulators instead of 16 separate horizontal sums.
 */
#ifndef DJL_ATTENTION_SIMD_REDUCE_H
#define DJL_ATTENTION_SIMD_REDUCE_H

#include <immintrin.h>

/*
 * Sums each of 16 vectors across its lanes: lane L of the result is the sum of x[L/4 + 4 (L%4)].
 * Four levels of shuffles and adds, 45 instructions for 16 dot products.
 */
__attribute__((target("avx512f"), always_inline)) static inline __m512 reduce16(const __m512 *x) {
  __m512 y[8], z[4], w[2];
  for (int i = 0; i < 8; i++) {
    y[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], 0xEE));
  }
  for (int i = 0; i < 4; i++) {
    z[i] = _mm512_add_ps(_mm512_shuffle_f32x4(y[2 * i], y[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(y[2 * i], y[2 * i + 1], 0xDD));
  }
  for (int i = 0; i < 2; i++) {
    w[i] = _mm512_add_ps(_mm512_shuffle_ps(z[2 * i], z[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(z[2 * i], z[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

#endif
