/*
 * Sixteen dot products summed across their lanes at once, for the kernels that compute products
 * along a contiguous axis (the decode kernel's Q K^T, the linear kernel's x W^T): a tree of shuffles
 * and adds over 16 accumulators instead of 16 separate horizontal sums, and the 4 x 4 tile of such
 * products both kernels use; then the AVX2 counterparts (a mask, one sum and eight sums at once).
 */
#ifndef DJL_ATTENTION_SIMD_REDUCE_H
#define DJL_ATTENTION_SIMD_REDUCE_H

#include <immintrin.h>
#include <stdint.h>

#include "attention_scalar.h" /* UNROLLED */

/*
 * Sums each of 16 vectors across its lanes: lane L of the result is the sum of x[L/4 + 4 (L%4)].
 * Four levels of shuffles and adds, 45 instructions for 16 dot products.
 */
__attribute__((target("avx512f"), always_inline)) static inline __m512 reduce16(const __m512 *x) {
  __m512 y[8], z[4], w[2];
  UNROLLED
  for (int i = 0; i < 8; i++) {
    y[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], 0xEE));
  }
  UNROLLED
  for (int i = 0; i < 4; i++) {
    z[i] = _mm512_add_ps(_mm512_shuffle_f32x4(y[2 * i], y[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(y[2 * i], y[2 * i + 1], 0xDD));
  }
  UNROLLED
  for (int i = 0; i < 2; i++) {
    w[i] = _mm512_add_ps(_mm512_shuffle_ps(z[2 * i], z[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(z[2 * i], z[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/*
 * The 16 dot products a[r] . b[c] of 4 rows of a and 4 rows of b over n floats (each row contiguous):
 * lane 4 r + c of the result. Each 16 floats of a row of b are loaded once for the 4 rows of a, and
 * the accumulator of (r, c) is the 4 c + r-th of reduce16's inputs. Rows a caller does not have
 * point at a repeated row or a row of zeros; their lanes are ignored.
 */
/* One step of dot4x4: 16 floats of row c of b (loaded once) times the 4 rows of a. */
#define DOT4X4_STEP(c, load)                                       \
  do {                                                             \
    const __m512 bc = (load);                                      \
    acc[4 * (c)] = _mm512_fmadd_ps(a0, bc, acc[4 * (c)]);          \
    acc[4 * (c) + 1] = _mm512_fmadd_ps(a1, bc, acc[4 * (c) + 1]);  \
    acc[4 * (c) + 2] = _mm512_fmadd_ps(a2, bc, acc[4 * (c) + 2]);  \
    acc[4 * (c) + 3] = _mm512_fmadd_ps(a3, bc, acc[4 * (c) + 3]);  \
  } while (0)

__attribute__((target("avx512f"), always_inline)) static inline __m512 dot4x4(
    const float *const *a, const float *const *b, int64_t n) {
  const float *r0 = a[0], *r1 = a[1], *r2 = a[2], *r3 = a[3];
  const float *c0 = b[0], *c1 = b[1], *c2 = b[2], *c3 = b[3];
  __m512 acc[16];
  UNROLLED
  for (int i = 0; i < 16; i++) {
    acc[i] = _mm512_setzero_ps();
  }
  int64_t d = 0;
  for (; d + 16 <= n; d += 16) {
    __m512 a0 = _mm512_loadu_ps(r0 + d), a1 = _mm512_loadu_ps(r1 + d);
    __m512 a2 = _mm512_loadu_ps(r2 + d), a3 = _mm512_loadu_ps(r3 + d);
    DOT4X4_STEP(0, _mm512_loadu_ps(c0 + d));
    DOT4X4_STEP(1, _mm512_loadu_ps(c1 + d));
    DOT4X4_STEP(2, _mm512_loadu_ps(c2 + d));
    DOT4X4_STEP(3, _mm512_loadu_ps(c3 + d));
  }
  if (d < n) {
    __mmask16 m = (__mmask16)((1u << (n - d)) - 1);
    __m512 a0 = _mm512_maskz_loadu_ps(m, r0 + d), a1 = _mm512_maskz_loadu_ps(m, r1 + d);
    __m512 a2 = _mm512_maskz_loadu_ps(m, r2 + d), a3 = _mm512_maskz_loadu_ps(m, r3 + d);
    DOT4X4_STEP(0, _mm512_maskz_loadu_ps(m, c0 + d));
    DOT4X4_STEP(1, _mm512_maskz_loadu_ps(m, c1 + d));
    DOT4X4_STEP(2, _mm512_maskz_loadu_ps(m, c2 + d));
    DOT4X4_STEP(3, _mm512_maskz_loadu_ps(m, c3 + d));
  }
  return reduce16(acc);
}
#undef DOT4X4_STEP

/* The AVX2 counterparts, eight lanes wide, for the decode and linear kernels' AVX2 variants. */
#define AVX2_REDUCE __attribute__((target("avx2,fma"), always_inline)) static inline

/* All lanes below `count` (0 to 8) set: the mask of maskload and maskstore. */
AVX2_REDUCE __m256i lanes8(int64_t count) {
  int32_t n = count <= 0 ? 0 : count >= 8 ? 8 : (int32_t)count;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The sum of x's 8 lanes. */
AVX2_REDUCE float sum8(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/*
 * Sums each of 8 vectors across its lanes: lane i of the result is the sum of x[i]. Two levels of
 * horizontal adds within the 128-bit halves, then the halves added.
 */
AVX2_REDUCE __m256 reduce8(const __m256 *x) {
  __m256 a = _mm256_hadd_ps(x[0], x[1]), b = _mm256_hadd_ps(x[2], x[3]);
  __m256 c = _mm256_hadd_ps(x[4], x[5]), d = _mm256_hadd_ps(x[6], x[7]);
  __m256 lo = _mm256_hadd_ps(a, b), hi = _mm256_hadd_ps(c, d);
  return _mm256_add_ps(_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31));
}
#undef AVX2_REDUCE

#endif
