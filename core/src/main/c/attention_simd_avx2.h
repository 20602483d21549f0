/*
 * AVX2 building blocks of the float32 kernels for CPUs without AVX-512 (decode_avx2.c,
 * prefill_avx2.c): the
 * exponential and tanh polynomials, the softcap, the online-softmax step over a row of scores, the
 * mask of a row and the P V micro-kernel, eight lanes wide. The numerics are those of
 * attention_simd.h (the same polynomials, the same clamping of the weights below 2^-126, the same
 * choice between the fused and the plain exponent, the scores in natural units), so that every
 * finite result of the step-by-step chain is finite here too; only the order of the sums differs.
 * Every function is static.
 */
#ifndef DJL_ATTENTION_SIMD_AVX2_H
#define DJL_ATTENTION_SIMD_AVX2_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "attention_kernel.h"
#include "attention_scalar.h"
#include "simd_reduce.h"

#define AVX2 __attribute__((target("avx2,fma")))

static AVX2 INLINE float max8(__m256 x) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

/*
 * 2^x * down per lane, for x <= 0, down = 2^-shift and lo = -126 + shift, as exp2_scaled_avx512:
 * 0 below 2^-126 (and for -inf), NaN stays NaN. 2^n is built in the exponent field, which holds
 * every n in [lo, 0] (biased 1 to 127).
 */
static AVX2 INLINE __m256 exp2_scaled_avx2(__m256 x, float lo, float down) {
  __m256 normal = _mm256_cmp_ps(x, _mm256_set1_ps(lo), _CMP_NLT_UQ);
  x = _mm256_max_ps(_mm256_set1_ps(lo), x); /* NaN stays: max keeps its second operand */
  __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_sub_ps(x, n);
  __m256 p = _mm256_set1_ps(1.535336188319500e-4f * down);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.339887440266574e-3f * down));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(9.618437357674640e-3f * down));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.550332471162809e-2f * down));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(2.402264791363012e-1f * down));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(6.931472028550421e-1f * down));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(down));
  __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
  __m256 two_n = _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23));
  /* n >= lo, and p >= down when n = lo: the product is at least 2^-126, normal and exact */
  return _mm256_and_ps(normal, _mm256_mul_ps(p, two_n));
}

/* tanh per lane, as tanh_avx512: an odd polynomial below |x| = 0.625, else (1 - e) / (1 + e). */
static AVX2 INLINE __m256 tanh_avx2(__m256 x) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  __m256 a = _mm256_andnot_ps(sign_bit, x);
  __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  __m256 e = exp2_scaled_avx2(_mm256_mul_ps(a, _mm256_set1_ps(-2.0f * LOG2E)), -126.0f, 1.0f);
  __m256 large = _mm256_div_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), e),
                               _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  large = _mm256_or_ps(large, _mm256_and_ps(x, sign_bit)); /* tanh is odd: x's sign back */
  __m256 use_small = _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm256_blendv_ps(large, small, use_small);
}

/* scores[0, n) = cap * tanh(scores * inner), in place (inner 1: folded into the products). */
static AVX2 void softcap_row_avx2(float *scores, int64_t n, float inner, float cap) {
  const __m256 c = _mm256_set1_ps(cap), i = _mm256_set1_ps(inner);
  for (int64_t t = 0; t < n; t += 8) {
    __m256i m = lanes8(n - t);
    __m256 x = _mm256_maskload_ps(scores + t, m);
    if (inner != 1.0f) {
      x = _mm256_mul_ps(x, i);
    }
    _mm256_maskstore_ps(scores + t, m, _mm256_mul_ps(tanh_avx2(x), c));
  }
}

/* out[0, floats) *= factor, as rescale_row in attention_simd.h (floats a multiple of 8, out
 * 32-byte aligned) */
static AVX2 void rescale_row_avx2(float *out, int64_t floats, float factor) {
  const __m256 f = _mm256_set1_ps(factor);
  for (int64_t c = 0; c < floats; c += 8) {
    _mm256_store_ps(out + c, _mm256_mul_ps(_mm256_load_ps(out + c), f));
  }
}

/*
 * The weights of a block, as weights_pass in attention_simd.h: written over the scores (zeros up
 * to `padded`, a multiple of 8), their sum per lane returned. FAST is a constant in each caller.
 */
static AVX2 INLINE __m256 weights_pass_avx2(float *scores, int64_t valid, int64_t padded,
                                            __m256 max, __m256 c, float lo, float down,
                                            const int fast) {
  const __m256 log2e = _mm256_set1_ps(LOG2E);
#define WEIGHT8(s)                                                                    \
  exp2_scaled_avx2(fast ? _mm256_fmadd_ps((s), log2e, c)                              \
                        : _mm256_mul_ps(_mm256_sub_ps((s), max), log2e),              \
                   lo, down)
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t t = 0;
  for (; t + 32 <= valid; t += 32) {
    __m256 e0 = WEIGHT8(_mm256_loadu_ps(scores + t));
    __m256 e1 = WEIGHT8(_mm256_loadu_ps(scores + t + 8));
    __m256 e2 = WEIGHT8(_mm256_loadu_ps(scores + t + 16));
    __m256 e3 = WEIGHT8(_mm256_loadu_ps(scores + t + 24));
    s0 = _mm256_add_ps(s0, e0);
    s1 = _mm256_add_ps(s1, e1);
    s2 = _mm256_add_ps(s2, e2);
    s3 = _mm256_add_ps(s3, e3);
    _mm256_storeu_ps(scores + t, e0);
    _mm256_storeu_ps(scores + t + 8, e1);
    _mm256_storeu_ps(scores + t + 16, e2);
    _mm256_storeu_ps(scores + t + 24, e3);
  }
  for (; t + 8 <= valid; t += 8) {
    __m256 e = WEIGHT8(_mm256_loadu_ps(scores + t));
    s0 = _mm256_add_ps(s0, e);
    _mm256_storeu_ps(scores + t, e);
  }
  if (t < valid) { /* the lanes past `valid` may hold anything: they become 0 */
    __m256 e = _mm256_and_ps(_mm256_castsi256_ps(lanes8(valid - t)),
                             WEIGHT8(_mm256_loadu_ps(scores + t)));
    s1 = _mm256_add_ps(s1, e);
    _mm256_storeu_ps(scores + t, e);
    t += 8;
  }
#undef WEIGHT8
  for (; t < padded; t += 8) {
    _mm256_storeu_ps(scores + t, _mm256_setzero_ps());
  }
  return _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
}

/*
 * One online-softmax step for a row, as softmax_step in attention_simd.h: the row's `valid`
 * scores become weights in place (zeros up to `padded`), the running maximum and sum are updated,
 * and the factor for the row's partial output is returned.
 */
static AVX2 float softmax_step_avx2(float *scores, int64_t valid, int64_t padded, float shift,
                                    float down, float *row_max, float *row_sum) {
  const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
  __m256 m0 = minus_inf, m1 = m0, m2 = m0, m3 = m0;
  int64_t t = 0;
  for (; t + 32 <= valid; t += 32) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(scores + t));
    m1 = _mm256_max_ps(m1, _mm256_loadu_ps(scores + t + 8));
    m2 = _mm256_max_ps(m2, _mm256_loadu_ps(scores + t + 16));
    m3 = _mm256_max_ps(m3, _mm256_loadu_ps(scores + t + 24));
  }
  for (; t + 8 <= valid; t += 8) {
    m0 = _mm256_max_ps(m0, _mm256_loadu_ps(scores + t));
  }
  if (t < valid) {
    __m256 tail = _mm256_blendv_ps(minus_inf, _mm256_loadu_ps(scores + t),
                                   _mm256_castsi256_ps(lanes8(valid - t)));
    m1 = _mm256_max_ps(m1, tail);
  }
  float block_max = max8(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
  softmax_update u = softmax_update_of(*row_max, block_max, shift);
  __m256 sum = u.fused ? weights_pass_avx2(scores, valid, padded, _mm256_set1_ps(u.max),
                                           _mm256_set1_ps(u.c), u.lo, down, 1)
                       : weights_pass_avx2(scores, valid, padded, _mm256_set1_ps(u.max),
                                           _mm256_setzero_ps(), u.lo, down, 0);
  *row_sum = *row_sum * u.rescale + sum8(sum);
  *row_max = u.max;
  return u.rescale;
}

/*
 * Applies a mask to `n` scores in place, as mask_scores in attention_simd.h (a boolean mask hides
 * a key with -inf, a float mask is added); returns how many keys the mask leaves visible.
 */
static AVX2 int64_t mask_scores_avx2(const void *mask, int mask_type, int64_t stride, int64_t n,
                                     float *scores) {
  const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
  int64_t visible = 0;
  int64_t t = 0;
  if (mask_type == MASK_BOOL) {
    const uint8_t *keep_bytes = mask;
    if (stride == 1) {
      for (; t + 8 <= n; t += 8) {
        __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(keep_bytes + t)));
        __m256 hidden = _mm256_castsi256_ps(_mm256_cmpeq_epi32(bytes, _mm256_setzero_si256()));
        visible += 8 - __builtin_popcount(_mm256_movemask_ps(hidden));
        _mm256_storeu_ps(scores + t, _mm256_blendv_ps(_mm256_loadu_ps(scores + t), minus_inf, hidden));
      }
    }
    for (; t < n; t++) {
      int keep = keep_bytes[t * stride] != 0;
      visible += keep;
      if (!keep) {
        scores[t] = -INFINITY;
      }
    }
  } else {
    const float *bias = mask;
    if (stride == 1) {
      for (; t + 8 <= n; t += 8) {
        __m256 m = _mm256_loadu_ps(bias + t);
        visible += __builtin_popcount(_mm256_movemask_ps(_mm256_cmp_ps(m, minus_inf, _CMP_NEQ_UQ)));
        _mm256_storeu_ps(scores + t, _mm256_add_ps(_mm256_loadu_ps(scores + t), m));
      }
    }
    for (; t < n; t++) {
      float m = bias[t * stride];
      visible += m != -INFINITY;
      scores[t] += m;
    }
  }
  return visible;
}

/*
 * out[r][0, 8 C) += sum over t < n of weights[r][t] * value[t][0, 8 C), for R rows: R x C
 * accumulators. FULL: all 8 C columns exist (plain loads); otherwise `mask` selects those that do.
 */
#define PV8_TILE(R, C, FULL)                                                                   \
  static AVX2 void pv8_tile_##R##_##C##_##FULL(int64_t n, const float *weights,              \
                                               const float *value, int64_t value_stride,      \
                                               float *out, int64_t out_stride,                \
                                               const __m256i *mask) {                          \
    __m256 acc[R][C];                                                                          \
    for (int r = 0; r < R; r++) {                                                              \
      for (int c = 0; c < C; c++) {                                                            \
        acc[r][c] = _mm256_load_ps(out + r * out_stride + 8 * c);                              \
      }                                                                                        \
    }                                                                                          \
    for (int64_t t = 0; t < n; t++) {                                                          \
      const float *row = value + t * value_stride;                                             \
      __m256 b[C];                                                                             \
      for (int c = 0; c < C; c++) {                                                            \
        b[c] = FULL ? _mm256_loadu_ps(row + 8 * c) : _mm256_maskload_ps(row + 8 * c, mask[c]); \
      }                                                                                        \
      for (int r = 0; r < R; r++) {                                                            \
        __m256 a = _mm256_broadcast_ss(weights + r * SCORE_STRIDE + t);                        \
        for (int c = 0; c < C; c++) {                                                          \
          acc[r][c] = _mm256_fmadd_ps(a, b[c], acc[r][c]);                                     \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
    for (int r = 0; r < R; r++) {                                                              \
      for (int c = 0; c < C; c++) {                                                            \
        _mm256_store_ps(out + r * out_stride + 8 * c, acc[r][c]);                              \
      }                                                                                        \
    }                                                                                          \
  }
#define PV8_TILES(R, C) PV8_TILE(R, C, 1) PV8_TILE(R, C, 0)
PV8_TILES(1, 4)
PV8_TILES(2, 4)
PV8_TILES(3, 2)
PV8_TILES(4, 2)
PV8_TILES(5, 2)
PV8_TILES(6, 2)

/* The columns of a tile of `rows` rows (1 to 6): 32 for one or two rows, else 16; both divide the
 * 64 floats by which the output rows are padded. */
static inline int pv8_columns(int rows) { return rows <= 2 ? 32 : 16; }

/*
 * out[r][c0, c0 + w) += weights[r] . value[.][c0, c0 + w) for one tile: `rows` (1 to 6) rows of
 * weights (SCORE_STRIDE apart) and the w = pv8_columns(rows) columns of `value` from its first
 * (those below `columns` exist). out rows are out_stride floats apart, 32-byte aligned, and hold
 * w floats from out.
 */
static AVX2 void pv8_tile(int rows, int64_t n, const float *weights, const float *value,
                          int64_t value_stride, float *out, int64_t out_stride, int64_t columns) {
  const int width = pv8_columns(rows);
  const int full = columns >= width;
  __m256i mask[4];
  for (int c = 0; c < 4; c++) {
    mask[c] = lanes8(columns - 8 * c);
  }
#define PV8_CASE(R, C)                                                          \
  if (full) {                                                                   \
    pv8_tile_##R##_##C##_1(n, weights, value, value_stride, out, out_stride, mask); \
  } else {                                                                      \
    pv8_tile_##R##_##C##_0(n, weights, value, value_stride, out, out_stride, mask); \
  }
  switch (rows) {
    case 1:
      PV8_CASE(1, 4)
      break;
    case 2:
      PV8_CASE(2, 4)
      break;
    case 3:
      PV8_CASE(3, 2)
      break;
    case 4:
      PV8_CASE(4, 2)
      break;
    case 5:
      PV8_CASE(5, 2)
      break;
    default:
      PV8_CASE(6, 2)
      break;
  }
#undef PV8_CASE
}

#endif
