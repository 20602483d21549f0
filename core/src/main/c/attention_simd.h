/*
 * AVX-512 building blocks shared by the attention kernels (attention_kernel.c, decode_kernel.c):
 * the exponential and tanh polynomials, the softcap, the online-softmax step over a row of
 * scores, the P V micro-kernel over a block of weights, the mask of a row of scores and the
 * derived score factors. Every function is static: each kernel compiles its own copy.
 */
#ifndef DJL_ATTENTION_SIMD_H
#define DJL_ATTENTION_SIMD_H

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "attention_kernel.h"
#include "attention_scalar.h"

#define PV_ROWS 6                       /* rows of the P V micro-kernel (x 64 value columns) */

#define AVX512 __attribute__((target("avx512f,fma")))

/*
 * 2^x * down per lane, for x <= 0 (softmax weights), where down = 2^-shift for an integer shift
 * in [0, 63] and lo = -126 + shift. The polynomial's coefficients carry the factor down, a power of
 * two, so the result is exactly down times 2^x, at no extra cost. Below 2^-126 the result is 0
 * rather than a subnormal: subnormal weights would make every product they enter many times
 * slower, and next to the row's largest weight (down) they are far below float32's precision.
 * x = -inf gives 0; NaN stays NaN (max keeps its second operand on NaN, and the unordered compare
 * keeps the lane).
 */
static AVX512 INLINE __m512 exp2_scaled_avx512(__m512 x, float lo, float down) {
  __mmask16 normal = _mm512_cmp_ps_mask(x, _mm512_set1_ps(lo), _CMP_NLT_UQ);
  x = _mm512_max_ps(_mm512_set1_ps(lo), x);
  __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_sub_ps(x, n);
  /* 2^r = 1 + r * P(r), minimax coefficients of the Cephes exp2f */
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f * down);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.339887440266574e-3f * down));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.618437357674640e-3f * down));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.550332471162809e-2f * down));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(2.402264791363012e-1f * down));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(6.931472028550421e-1f * down));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(down));
  /* n >= lo, and p >= down when n = lo: at least 2^-126, normal */
  return _mm512_maskz_scalef_ps(normal, p, n);
}

/* 2^x per lane, for x <= 0, flushed to 0 below 2^-126 */
static AVX512 INLINE __m512 exp2_avx512(__m512 x) { return exp2_scaled_avx512(x, -126.0f, 1.0f); }

static __mmask16 lanes(int64_t count);

/*
 * tanh per lane: an odd polynomial below |x| = 0.625 (Cephes tanhf coefficients), else
 * (1 - e) / (1 + e) with e = exp(-2|x|), the sign put back. ±inf gives ±1, NaN stays NaN.
 */
static AVX512 INLINE __m512 tanh_avx512(__m512 x) {
  const __m512i sign_bit = _mm512_set1_epi32((int)0x80000000u);
  __m512 a = _mm512_abs_ps(x);
  __m512 z = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
  __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
  __m512 e = exp2_avx512(_mm512_mul_ps(a, _mm512_set1_ps(-2.0f * 1.44269504088896341f)));
  __m512 large = _mm512_div_ps(_mm512_sub_ps(_mm512_set1_ps(1.0f), e),
                               _mm512_add_ps(_mm512_set1_ps(1.0f), e));
  large = _mm512_castsi512_ps(_mm512_or_epi32( /* tanh is odd: put x's sign back */
      _mm512_castps_si512(large), _mm512_and_epi32(_mm512_castps_si512(x), sign_bit)));
  __mmask16 use_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm512_mask_mov_ps(large, use_small, small);
}

/*
 * scores[0, n) = cap * tanh(scores * inner), in place: the softcap, whose 1/cap is either folded
 * into the products (inner = 1) or applied here (inner = 1/cap)
 */
static AVX512 INLINE void softcap_pass(float *scores, int64_t n, float inner, float cap,
                                       const int scaled) {
  const __m512 c = _mm512_set1_ps(cap);
  const __m512 i = _mm512_set1_ps(inner);
  for (int64_t t = 0; t < n; t += 16) {
    __mmask16 m = lanes(n - t);
    __m512 x = _mm512_maskz_loadu_ps(m, scores + t);
    if (scaled) {
      x = _mm512_mul_ps(x, i);
    }
    _mm512_mask_storeu_ps(scores + t, m, _mm512_mul_ps(tanh_avx512(x), c));
  }
}

static AVX512 void softcap_row(float *scores, int64_t n, float inner, float cap) {
  if (inner == 1.0f) {
    softcap_pass(scores, n, inner, cap, 0);
  } else {
    softcap_pass(scores, n, inner, cap, 1);
  }
}

static __mmask16 lanes(int64_t count) {
  return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1);
}

/*
 * out[r][0, 64) += sum over t < n of weights[r][t] * value[t][0, 64), for R rows. FULL: all 64
 * columns exist (plain loads); otherwise the four masks select the columns that do.
 */
#define PV_TILE(R, FULL)                                                                     \
  static AVX512 void pv_tile_##R##_##FULL(int64_t n, const float *weights, const float *value, \
                                         int64_t value_stride, float *out, int64_t out_stride, \
                                         const __mmask16 *mask) {                              \
    __m512 c0[R], c1[R], c2[R], c3[R];                                                       \
    __mmask16 m0 = FULL ? 0xFFFF : mask[0], m1 = FULL ? 0xFFFF : mask[1];                    \
    __mmask16 m2 = FULL ? 0xFFFF : mask[2], m3 = FULL ? 0xFFFF : mask[3];                    \
    UNROLLED                                                                                 \
    for (int r = 0; r < R; r++) {                                                            \
      c0[r] = _mm512_load_ps(out + r * out_stride);                                          \
      c1[r] = _mm512_load_ps(out + r * out_stride + 16);                                     \
      c2[r] = _mm512_load_ps(out + r * out_stride + 32);                                     \
      c3[r] = _mm512_load_ps(out + r * out_stride + 48);                                     \
    }                                                                                        \
    for (int64_t t = 0; t < n; t++) {                                                        \
      const float *row = value + t * value_stride;                                           \
      __m512 b0 = FULL ? _mm512_loadu_ps(row) : _mm512_maskz_loadu_ps(m0, row);              \
      __m512 b1 = FULL ? _mm512_loadu_ps(row + 16) : _mm512_maskz_loadu_ps(m1, row + 16);    \
      __m512 b2 = FULL ? _mm512_loadu_ps(row + 32) : _mm512_maskz_loadu_ps(m2, row + 32);    \
      __m512 b3 = FULL ? _mm512_loadu_ps(row + 48) : _mm512_maskz_loadu_ps(m3, row + 48);    \
      UNROLLED                                                                               \
      for (int r = 0; r < R; r++) {                                                          \
        __m512 a = _mm512_set1_ps(weights[r * SCORE_STRIDE + t]);                            \
        c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);                                               \
        c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);                                               \
        c2[r] = _mm512_fmadd_ps(a, b2, c2[r]);                                               \
        c3[r] = _mm512_fmadd_ps(a, b3, c3[r]);                                               \
      }                                                                                      \
    }                                                                                        \
    UNROLLED                                                                                 \
    for (int r = 0; r < R; r++) {                                                            \
      _mm512_store_ps(out + r * out_stride, c0[r]);                                          \
      _mm512_store_ps(out + r * out_stride + 16, c1[r]);                                     \
      _mm512_store_ps(out + r * out_stride + 32, c2[r]);                                     \
      _mm512_store_ps(out + r * out_stride + 48, c3[r]);                                     \
    }                                                                                        \
  }
#define PV_TILES(R) PV_TILE(R, 1) PV_TILE(R, 0)
PV_TILES(1)
PV_TILES(2)
PV_TILES(3)
PV_TILES(4)
PV_TILES(5)
PV_TILES(6)

#define PV_CASE(R)                                                                   \
  case R:                                                                            \
    if (full) {                                                                      \
      pv_tile_##R##_1(n, weights, value, value_stride, out, out_stride, mask);       \
    } else {                                                                         \
      pv_tile_##R##_0(n, weights, value, value_stride, out, out_stride, mask);       \
    }                                                                                \
    break;

static AVX512 void pv_tile(int rows, int64_t n, const float *weights, const float *value,
                           int64_t value_stride, float *out, int64_t out_stride, int64_t columns) {
  __mmask16 mask[4];
  for (int x = 0; x < 4; x++) {
    mask[x] = lanes(columns - 16 * x);
  }
  int full = columns >= 64;
  switch (rows) {
    PV_CASE(6)
    PV_CASE(5)
    PV_CASE(4)
    PV_CASE(3)
    PV_CASE(2)
    default:
      if (full) {
        pv_tile_1_1(n, weights, value, value_stride, out, out_stride, mask);
      } else {
        pv_tile_1_0(n, weights, value, value_stride, out, out_stride, mask);
      }
  }
}

/* out[0, floats) *= factor: a row's partial output after its maximum grew (floats a multiple of
 * 16, out 64-byte aligned) */
static AVX512 void rescale_row(float *out, int64_t floats, float factor) {
  const __m512 f = _mm512_set1_ps(factor);
  for (int64_t c = 0; c < floats; c += 16) {
    _mm512_store_ps(out + c, _mm512_mul_ps(_mm512_load_ps(out + c), f));
  }
}

/*
 * The weights of a block, 2^((s - max) log2(e)) * down per lane: FAST computes the exponent as
 * s log2(e) + c with c = -(max log2(e)) rounded once, in one fused multiply-add (its product is
 * exact, even beyond FLT_MAX), for a small |c| whose rounding error is below float32's resolution
 * of the scores; otherwise the difference comes first, (s - max) log2(e). Writes them over the
 * scores (zeros up to `padded`) and returns their sum per lane. FAST is a constant in each caller.
 */
static AVX512 INLINE __m512 weights_pass(float *scores, int64_t valid, int64_t padded, __m512 max,
                                        __m512 c, float lo, float down, const int fast) {
  const __m512 log2e = _mm512_set1_ps(LOG2E);
#define WEIGHT(s)                                                                     \
  exp2_scaled_avx512(fast ? _mm512_fmadd_ps((s), log2e, c)                            \
                          : _mm512_mul_ps(_mm512_sub_ps((s), max), log2e),            \
                     lo, down)
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t t = 0;
  for (; t + 64 <= valid; t += 64) {
    __m512 e0 = WEIGHT(_mm512_loadu_ps(scores + t));
    __m512 e1 = WEIGHT(_mm512_loadu_ps(scores + t + 16));
    __m512 e2 = WEIGHT(_mm512_loadu_ps(scores + t + 32));
    __m512 e3 = WEIGHT(_mm512_loadu_ps(scores + t + 48));
    s0 = _mm512_add_ps(s0, e0);
    s1 = _mm512_add_ps(s1, e1);
    s2 = _mm512_add_ps(s2, e2);
    s3 = _mm512_add_ps(s3, e3);
    _mm512_storeu_ps(scores + t, e0);
    _mm512_storeu_ps(scores + t + 16, e1);
    _mm512_storeu_ps(scores + t + 32, e2);
    _mm512_storeu_ps(scores + t + 48, e3);
  }
  for (; t + 16 <= valid; t += 16) {
    __m512 e = WEIGHT(_mm512_loadu_ps(scores + t));
    s0 = _mm512_add_ps(s0, e);
    _mm512_storeu_ps(scores + t, e);
  }
  if (t < valid) {
    __m512 e = _mm512_maskz_mov_ps(lanes(valid - t), WEIGHT(_mm512_loadu_ps(scores + t)));
    s1 = _mm512_add_ps(s1, e);
    _mm512_storeu_ps(scores + t, e);
    t += 16;
  }
#undef WEIGHT
  for (; t < padded; t += 16) {
    _mm512_storeu_ps(scores + t, _mm512_setzero_ps());
  }
  return _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
}

/*
 * One online-softmax step for a row: turns the row's `valid` scores (natural units) into the
 * weights 2^((s - max) log2(e) - shift) in place (zeros up to `padded`), updates the running
 * maximum and sum, and returns the factor by which the row's partial output must be rescaled.
 * shift is the job's weight_shift and down = 2^-shift.
 */
static AVX512 float softmax_step(float *scores, int64_t valid, int64_t padded, float shift,
                                 float down, float *row_max, float *row_sum) {
  /* four accumulators each, so that the max and sum chains do not wait on each other */
  __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
  int64_t t = 0;
  for (; t + 64 <= valid; t += 64) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(scores + t));
    m1 = _mm512_max_ps(m1, _mm512_loadu_ps(scores + t + 16));
    m2 = _mm512_max_ps(m2, _mm512_loadu_ps(scores + t + 32));
    m3 = _mm512_max_ps(m3, _mm512_loadu_ps(scores + t + 48));
  }
  for (; t + 16 <= valid; t += 16) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(scores + t));
  }
  if (t < valid) {
    m1 = _mm512_mask_max_ps(m1, lanes(valid - t), m1, _mm512_loadu_ps(scores + t));
  }
  float block_max = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
  softmax_update u = softmax_update_of(*row_max, block_max, shift);
  __m512 sum = u.fused ? weights_pass(scores, valid, padded, _mm512_set1_ps(u.max),
                                      _mm512_set1_ps(u.c), u.lo, down, 1)
                       : weights_pass(scores, valid, padded, _mm512_set1_ps(u.max),
                                      _mm512_setzero_ps(), u.lo, down, 0);
  *row_sum = *row_sum * u.rescale + _mm512_reduce_add_ps(sum);
  *row_max = u.max;
  return u.rescale;
}

/*
 * Applies a mask to `n` scores in place: a hidden key's score becomes -inf (MASK_BOOL, one byte
 * per element, nonzero keeps the key), or the mask value is added (MASK_FLOAT, natural units).
 * `mask` points at the element of the first key; `stride` is the elements between keys. Returns
 * how many of the keys the mask leaves visible (a float mask hides a key with -inf).
 */
static AVX512 int64_t mask_scores(const void *mask, int mask_type, int64_t stride, int64_t n,
                                  float *scores) {
  const __m512 minus_inf = _mm512_set1_ps(-INFINITY);
  int64_t visible = 0;
  int64_t t = 0;
  if (mask_type == MASK_BOOL) {
    const uint8_t *keep_bytes = mask;
    if (stride == 1) {
      for (; t + 16 <= n; t += 16) {
        __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(keep_bytes + t)));
        __mmask16 keep = _mm512_test_epi32_mask(bytes, bytes);
        visible += __builtin_popcount(keep);
        _mm512_storeu_ps(scores + t, _mm512_mask_mov_ps(minus_inf, keep, _mm512_loadu_ps(scores + t)));
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
      for (; t + 16 <= n; t += 16) {
        __m512 m = _mm512_loadu_ps(bias + t);
        visible += __builtin_popcount(_mm512_cmp_ps_mask(m, minus_inf, _CMP_NEQ_UQ));
        _mm512_storeu_ps(scores + t, _mm512_add_ps(_mm512_loadu_ps(scores + t), m));
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

#endif
