/*
 * Flash-style float32 attention with AVX-512: for each (batch, head, block of BLOCK_ROWS query
 * rows) the keys are visited in blocks of BLOCK_KEYS; the block's scores stay in a per-thread
 * buffer (about 128 KiB, resident in L2), the softmax is kept online (running row maximum and sum,
 * the partial output rescaled when the maximum grows), and nothing of size S x T is ever held.
 *
 * Scores, the softcap and the mask stay in natural units, as in the step-by-step chain, so that
 * every finite score the chain holds is finite here too (a mask of -FLT_MAX, Hugging Face's
 * padding, times log2(e) would overflow to -inf). The softmax converts to base 2 together with
 * subtracting the row maximum: 2^(s log2(e) - max log2(e)) in one fused multiply-add, whose
 * product is not rounded, where |max| is small, else 2^((s - max) log2(e)) (large or huge maxima,
 * such as a row that the padding covers entirely). 2^x is computed as 2^round(x) * 2^r with a
 * degree-6 polynomial for r in [-1/2, 1/2]. The query is multiplied by the scale before the product
 * when the scale is at most 1, after it otherwise, so that Q K^T scale overflows only where the
 * chain's does; and the weights are divided by a power of two >= T, so that their sum with values
 * near FLT_MAX does not overflow either.
 *
 * The two products run as register-blocked micro-kernels: Q K^T as 8 query rows x 32 keys against
 * K packed into panels of 16 keys ([panel][D][16], packed once per key/value head by whichever
 * thread first needs it, while the others wait for it);
 * P V as 6 query rows x 64 value columns straight from V's rows.
 */
#define _GNU_SOURCE /* dl_iterate_phdr, RTLD_NOLOAD */
#include "attention_kernel.h"

#include <dlfcn.h>
#include <float.h>
#include <immintrin.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_ROWS 64   /* query rows per work item */
#define BLOCK_KEYS 512  /* keys per online-softmax step */
#define QK_ROWS 8       /* rows of the Q K^T micro-kernel (x 32 keys) */
#define PV_ROWS 6       /* rows of the P V micro-kernel (x 64 value columns) */
#define SCORE_STRIDE (BLOCK_KEYS + 32)

#define AVX512 __attribute__((target("avx512f,fma")))
#define INLINE __attribute__((always_inline)) inline

int attention_cpu_supported(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

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

/* key (T, D) -> panels of 16 keys, [T/16][D][16], the last panel padded with zeros */
static void pack_keys(const float *key, int64_t keys, int64_t dim, float *packed) {
  int64_t panels = (keys + 15) / 16;
  for (int64_t p = 0; p < panels; p++) {
    float *panel = packed + p * dim * 16;
    int64_t count = keys - p * 16 < 16 ? keys - p * 16 : 16;
    for (int64_t j = 0; j < 16; j++) {
      const float *row = key + (p * 16 + j) * dim;
      for (int64_t d = 0; d < dim; d++) {
        panel[d * 16 + j] = j < count ? row[d] : 0.0f;
      }
    }
  }
}

/* scores[r][0, 32) = (query[r] . keys of two panels) * after, for R rows (after 1: none) */
#define QK_TILE(R)                                                                         \
  static AVX512 void qk_tile_##R(int64_t dim, const float *query, const float *panel0,     \
                                 const float *panel1, float after, float *scores) {        \
    __m512 c0[R], c1[R];                                                                   \
    for (int r = 0; r < R; r++) {                                                          \
      c0[r] = _mm512_setzero_ps();                                                         \
      c1[r] = _mm512_setzero_ps();                                                         \
    }                                                                                      \
    for (int64_t d = 0; d < dim; d++) {                                                    \
      __m512 b0 = _mm512_load_ps(panel0 + d * 16);                                         \
      __m512 b1 = _mm512_load_ps(panel1 + d * 16);                                         \
      for (int r = 0; r < R; r++) {                                                        \
        __m512 a = _mm512_set1_ps(query[r * dim + d]);                                     \
        c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);                                             \
        c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);                                             \
      }                                                                                    \
    }                                                                                      \
    if (after != 1.0f) {                                                                   \
      const __m512 f = _mm512_set1_ps(after);                                              \
      for (int r = 0; r < R; r++) {                                                        \
        c0[r] = _mm512_mul_ps(c0[r], f);                                                   \
        c1[r] = _mm512_mul_ps(c1[r], f);                                                   \
      }                                                                                    \
    }                                                                                      \
    for (int r = 0; r < R; r++) {                                                          \
      _mm512_storeu_ps(scores + r * SCORE_STRIDE, c0[r]);                                  \
      _mm512_storeu_ps(scores + r * SCORE_STRIDE + 16, c1[r]);                             \
    }                                                                                      \
  }
QK_TILE(1)
QK_TILE(2)
QK_TILE(3)
QK_TILE(4)
QK_TILE(5)
QK_TILE(6)
QK_TILE(7)
QK_TILE(8)

static AVX512 void qk_tile(int rows, int64_t dim, const float *query, const float *panel0,
                           const float *panel1, float after, float *scores) {
  switch (rows) {
    case 8: qk_tile_8(dim, query, panel0, panel1, after, scores); break;
    case 7: qk_tile_7(dim, query, panel0, panel1, after, scores); break;
    case 6: qk_tile_6(dim, query, panel0, panel1, after, scores); break;
    case 5: qk_tile_5(dim, query, panel0, panel1, after, scores); break;
    case 4: qk_tile_4(dim, query, panel0, panel1, after, scores); break;
    case 3: qk_tile_3(dim, query, panel0, panel1, after, scores); break;
    case 2: qk_tile_2(dim, query, panel0, panel1, after, scores); break;
    default: qk_tile_1(dim, query, panel0, panel1, after, scores); break;
  }
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
      for (int r = 0; r < R; r++) {                                                          \
        __m512 a = _mm512_set1_ps(weights[r * SCORE_STRIDE + t]);                            \
        c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);                                               \
        c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);                                               \
        c2[r] = _mm512_fmadd_ps(a, b2, c2[r]);                                               \
        c3[r] = _mm512_fmadd_ps(a, b3, c3[r]);                                               \
      }                                                                                      \
    }                                                                                        \
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

/* log2(e) as the float32 that every product with it uses */
#define LOG2E 1.44269504088896341f

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

/* Below this |max log2(e)| the fused exponent s log2(e) - max log2(e) is used: the rounding of
 * max log2(e), a factor common to the block's weights, is then at most 2^-17, of the order of the
 * scores' own rounding; above it, the same rounding would distort the weights. */
#define FUSED_MAX 256.0f

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
  float new_max = block_max > *row_max ? block_max : *row_max;
  /* the old partial sums' factor; 0 below 2^-126, like the weights (and where old - new
   * overflows to -inf) */
  float shift_down = (*row_max - new_max) * LOG2E;
  float rescale = *row_max == -INFINITY || shift_down < -126.0f ? 0.0f : exp2f(shift_down);
  /* a row of only -inf so far: every weight is 0 (with c = 0) */
  float c = new_max == -INFINITY ? 0.0f : -(new_max * LOG2E);
  float lo = -126.0f + shift;
  __m512 sum;
  if (c > -FUSED_MAX && c < FUSED_MAX) {
    sum = weights_pass(scores, valid, padded, _mm512_set1_ps(new_max), _mm512_set1_ps(c), lo, down,
                       1);
  } else { /* large or huge scores, a mask of -FLT_MAX on every key, or max = +inf (NaN, 0) */
    sum = weights_pass(scores, valid, padded, _mm512_set1_ps(new_max), _mm512_setzero_ps(), lo,
                       down, 0);
  }
  *row_sum = *row_sum * rescale + _mm512_reduce_add_ps(sum);
  *row_max = new_max;
  return rescale;
}

/*
 * Applies the mask to a row's `valid` scores of the block starting at key k0, in place: a hidden
 * key's score becomes -inf (bool), or the mask value is added (float, natural units). Returns
 * how many of the keys the mask leaves visible (a float mask hides a key with -inf).
 */
static AVX512 int64_t apply_mask(const attention_job *job, int64_t row_offset, int64_t k0,
                                 int64_t valid, float *scores) {
  const int64_t stride = job->mask_stride[3];
  const __m512 minus_inf = _mm512_set1_ps(-INFINITY);
  int64_t visible = 0;
  int64_t t = 0;
  if (job->mask_type == MASK_BOOL) {
    const uint8_t *mask = (const uint8_t *)job->mask + row_offset + k0 * stride;
    if (stride == 1) {
      for (; t + 16 <= valid; t += 16) {
        __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(mask + t)));
        __mmask16 keep = _mm512_test_epi32_mask(bytes, bytes);
        visible += __builtin_popcount(keep);
        _mm512_storeu_ps(scores + t, _mm512_mask_mov_ps(minus_inf, keep, _mm512_loadu_ps(scores + t)));
      }
    }
    for (; t < valid; t++) {
      int keep = mask[t * stride] != 0;
      visible += keep;
      if (!keep) {
        scores[t] = -INFINITY;
      }
    }
  } else {
    const float *mask = (const float *)job->mask + row_offset + k0 * stride;
    if (stride == 1) {
      for (; t + 16 <= valid; t += 16) {
        __m512 m = _mm512_loadu_ps(mask + t);
        visible += __builtin_popcount(_mm512_cmp_ps_mask(m, minus_inf, _CMP_NEQ_UQ));
        _mm512_storeu_ps(scores + t, _mm512_add_ps(_mm512_loadu_ps(scores + t), m));
      }
    }
    for (; t < valid; t++) {
      float m = mask[t * stride];
      visible += m != -INFINITY;
      scores[t] += m;
    }
  }
  return visible;
}

int64_t attention_items(const attention_job *job) {
  return job->batch * job->heads * ((job->queries + BLOCK_ROWS - 1) / BLOCK_ROWS);
}

typedef struct {
  float *query;       /* (BLOCK_ROWS, D), scaled */
  float *scores;      /* (BLOCK_ROWS, SCORE_STRIDE) */
  float *out;         /* (BLOCK_ROWS, out_stride), the unnormalized output */
  int64_t out_stride;  /* a multiple of 64 floats, at least Dv */
  int64_t query_floats;
} scratch;


/* aligned_alloc wants a size that is a multiple of the alignment */
static float *alloc_floats(int64_t count) {
  size_t bytes = ((size_t)count * sizeof(float) + 63) / 64 * 64;
  return aligned_alloc(64, bytes == 0 ? 64 : bytes);
}

/*
 * Each thread keeps its scratch between calls (freed when the thread exits): allocating it per
 * call costs an mmap and an munmap, and an munmap interrupts every other thread of the process
 * (a TLB shootdown), the helpers that work on the same call included.
 */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *memory) {
  scratch *s = memory;
  free(s->query);
  free(s->scores);
  free(s->out);
  free(s);
}

static void create_scratch_key(void) { pthread_key_create(&scratch_key, free_scratch); }

/* The thread's scratch, grown to fit the job; NULL when out of memory. */
static scratch *thread_scratch(const attention_job *job) {
  pthread_once(&scratch_once, create_scratch_key);
  scratch *s = pthread_getspecific(scratch_key);
  if (s == NULL) {
    s = calloc(1, sizeof(scratch));
    if (s == NULL || pthread_setspecific(scratch_key, s) != 0) {
      free(s);
      return NULL;
    }
  }
  int64_t out_stride = (job->value_dim + 63) / 64 * 64;
  if (s->scores == NULL) {
    s->scores = alloc_floats(BLOCK_ROWS * SCORE_STRIDE);
  }
  if (s->query_floats < BLOCK_ROWS * job->dim) {
    free(s->query);
    s->query = alloc_floats(BLOCK_ROWS * job->dim);
    s->query_floats = s->query != NULL ? BLOCK_ROWS * job->dim : 0;
  }
  if (s->out_stride < out_stride) {
    free(s->out);
    s->out = alloc_floats(BLOCK_ROWS * out_stride);
    s->out_stride = s->out != NULL ? out_stride : 0;
  }
  return s->scores != NULL && s->query != NULL && s->out != NULL ? s : NULL;
}

/*
 * The packed keys of the last job, kept for the next one when they are at most KEEP_FLOATS: a fresh
 * buffer of that size costs page faults and the kernel's zeroing of every page (about as long as a
 * small attention call), and giving it back costs a TLB shootdown on every thread of the process.
 */
#define KEEP_FLOATS (4 << 20) /* 16 MiB */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static float *kept_keys;
static int64_t kept_floats;

/* The derived factors of attention_job (see attention_kernel.h). */
static void derive_factors(attention_job *job) {
  double folded = job->softcap != 0.0f ? (double)job->scale / job->softcap : job->scale;
  if (job->softcap == 0.0f || (folded >= FLT_MIN && folded <= FLT_MAX)) {
    job->qk_factor = (float)folded;
    job->tanh_inner = 1.0f;
  } else { /* scale / c is subnormal or overflows: 1/c (finite for a normal c) goes on the tanh */
    job->qk_factor = job->scale;
    job->tanh_inner = (float)(1.0 / job->softcap);
  }
  job->qk_after = job->qk_factor > 1.0f;
  int shift = 0;
  while (shift < 63 && ((int64_t)1 << shift) < job->keys) {
    shift++;
  }
  job->weight_shift = (float)shift;
  job->weight_down = ldexpf(1.0f, -shift);
}

int attention_alloc(attention_job *job) {
  derive_factors(job);
  int64_t kv_heads = job->batch * job->groups;
  int64_t floats = kv_heads * ((job->keys + 15) / 16) * job->dim * 16;
  job->packed_keys = NULL;
  job->packed_floats = floats;
  pthread_mutex_lock(&kept_lock);
  if (kept_keys != NULL && kept_floats >= floats) {
    job->packed_keys = kept_keys;
    job->packed_floats = kept_floats;
    kept_keys = NULL;
  }
  pthread_mutex_unlock(&kept_lock);
  if (job->packed_keys == NULL) {
    job->packed_keys = alloc_floats(floats);
  }
  job->packed_state = calloc((size_t)(kv_heads > 0 ? kv_heads : 1), sizeof(int));
  int64_t items = attention_items(job);
  if (job->workers > items) {
    job->workers = (int)items;
  }
  if (job->workers < 1 || job->workers > MAX_WORKERS) {
    job->workers = job->workers < 1 ? 1 : MAX_WORKERS;
  }
  job->next_worker = 0;
  for (int w = 0; w < job->workers; w++) {
    job->next[w] = items * w / job->workers;
    job->end[w] = items * (w + 1) / job->workers;
  }
  if (!job->packed_keys || !job->packed_state) {
    attention_free(job);
    return -1;
  }
  return 0;
}

void attention_free(attention_job *job) {
  float *spare = job->packed_keys;
  if (spare != NULL && job->packed_floats <= KEEP_FLOATS) {
    pthread_mutex_lock(&kept_lock);
    if (kept_keys == NULL || kept_floats < job->packed_floats) {
      float *old = kept_keys;
      kept_keys = spare;
      kept_floats = job->packed_floats;
      spare = old;
    }
    pthread_mutex_unlock(&kept_lock);
  }
  free(spare);
  free(job->packed_state);
  job->packed_keys = NULL;
  job->packed_state = NULL;
}

/* The packed keys of a key/value head: packs them if no thread has, waits if one is packing. */
static const float *packed_keys(attention_job *job, int64_t kv_head) {
  int64_t size = (job->keys + 15) / 16 * job->dim * 16;
  float *packed = job->packed_keys + kv_head * size;
  int *state = &job->packed_state[kv_head];
  int expected = 0;
  if (__atomic_compare_exchange_n(state, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    pack_keys(job->key + kv_head * job->keys * job->dim, job->keys, job->dim, packed);
    __atomic_store_n(state, 2, __ATOMIC_RELEASE);
  } else {
    for (int spins = 0; __atomic_load_n(state, __ATOMIC_ACQUIRE) != 2; spins++) {
      if (spins < 1000) {
        _mm_pause();
      } else {
        sched_yield(); /* the packing thread may have been descheduled */
      }
    }
  }
  return packed;
}

static AVX512 void compute_item(attention_job *job, int64_t item, scratch *s) {
  const int64_t dim = job->dim, value_dim = job->value_dim, keys = job->keys;
  const int64_t queries = job->queries, group = job->heads / job->groups;
  const int64_t blocks = (queries + BLOCK_ROWS - 1) / BLOCK_ROWS;
  const int64_t head = item / blocks; /* b * H + h */
  const int64_t first_row = (item % blocks) * BLOCK_ROWS;
  const int rows = (int)(queries - first_row < BLOCK_ROWS ? queries - first_row : BLOCK_ROWS);
  const int64_t kv_head = (head / job->heads) * job->groups + (head % job->heads) / group;
  const float *value = job->value + kv_head * keys * value_dim;
  const float *key_panels = packed_keys(job, kv_head);
  /* the products' factor goes on the query when it is at most 1, else on each product */
  const float *query = job->query + (head * queries + first_row) * dim; /* (rows, D) */
  const float after = job->qk_after ? job->qk_factor : 1.0f;
  if (!job->qk_after) {
    const float factor = job->qk_factor;
    for (int64_t i = 0; i < rows * dim; i++) {
      s->query[i] = query[i] * factor;
    }
    query = s->query;
  }
  float row_max[BLOCK_ROWS], row_sum[BLOCK_ROWS];
  int64_t visible[BLOCK_ROWS]; /* keys the mask leaves visible, so far */
  for (int r = 0; r < rows; r++) {
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
    visible[r] = 0;
  }
  /* the mask's offset for (b, h, first_row) */
  const int64_t mask_base = job->mask_type == MASK_NONE
                                ? 0
                                : (head / job->heads) * job->mask_stride[0] +
                                      (head % job->heads) * job->mask_stride[1] +
                                      first_row * job->mask_stride[2];
  memset(s->out, 0, sizeof(float) * rows * s->out_stride);
  /* under the causal mask the block's last row sees keys up to first_row + rows - 1 */
  int64_t key_end = keys;
  if (job->causal && first_row + rows < keys) {
    key_end = first_row + rows;
  }
  for (int64_t k0 = 0; k0 < key_end; k0 += BLOCK_KEYS) {
    int64_t n = key_end - k0 < BLOCK_KEYS ? key_end - k0 : BLOCK_KEYS;
    int64_t panels = (n + 15) / 16;
    for (int64_t p = 0; p < panels; p += 2) {
      const float *panel0 = key_panels + (k0 / 16 + p) * dim * 16;
      /* an odd last panel is paired with itself: its second half lands in the padding */
      const float *panel1 = p + 1 < panels ? panel0 + dim * 16 : panel0;
      for (int r = 0; r < rows; r += QK_ROWS) {
        qk_tile(rows - r < QK_ROWS ? rows - r : QK_ROWS, dim, query + r * dim, panel0, panel1,
                after, s->scores + r * SCORE_STRIDE + p * 16);
      }
    }
    for (int r = 0; r < rows; r++) {
      float *scores = s->scores + r * SCORE_STRIDE;
      int64_t valid = n;
      if (job->causal && first_row + r + 1 - k0 < n) {
        valid = first_row + r + 1 - k0; /* keys k0 .. first_row + r */
      }
      if (valid <= 0) {
        memset(scores, 0, sizeof(float) * panels * 16);
        continue;
      }
      if (job->softcap != 0.0f) {
        softcap_row(scores, valid, job->tanh_inner, job->softcap);
      }
      if (job->mask_type != MASK_NONE) {
        visible[r] += apply_mask(job, mask_base + r * job->mask_stride[2], k0, valid, scores);
      }
      float rescale = softmax_step(scores, valid, panels * 16, job->weight_shift, job->weight_down,
                                   &row_max[r], &row_sum[r]);
      if (rescale != 1.0f) {
        float *out = s->out + r * s->out_stride;
        __m512 factor_v = _mm512_set1_ps(rescale);
        for (int64_t c = 0; c < s->out_stride; c += 16) {
          _mm512_store_ps(out + c, _mm512_mul_ps(_mm512_load_ps(out + c), factor_v));
        }
      }
    }
    for (int64_t c = 0; c < value_dim; c += 64) {
      for (int r = 0; r < rows; r += PV_ROWS) {
        pv_tile(rows - r < PV_ROWS ? rows - r : PV_ROWS, n, s->scores + r * SCORE_STRIDE,
                value + k0 * value_dim + c, value_dim, s->out + r * s->out_stride + c,
                s->out_stride, value_dim - c);
      }
    }
  }
  float *output = job->output + (head * queries + first_row) * value_dim;
  for (int r = 0; r < rows; r++) {
    if ((job->mask_type != MASK_NONE && visible[r] == 0) || row_sum[r] == 0.0f) {
      /* a row the mask hides entirely gets zeros, as in ONNX (not 0/0, nor a hidden key's NaN),
       * and so does a row whose scores are all -inf (a sum of 0: a finite mask that took the
       * scores below -FLT_MAX), as in the step-by-step chain */
      memset(output + r * value_dim, 0, sizeof(float) * value_dim);
      continue;
    }
    float inverse = 1.0f / row_sum[r];
    for (int64_t c = 0; c < value_dim; c++) {
      output[r * value_dim + c] = s->out[r * s->out_stride + c] * inverse;
    }
  }
}

int64_t attention_work(attention_job *job) {
  scratch *s = thread_scratch(job);
  if (s == NULL) {
    return -1;
  }
  int64_t done = 0;
  int own = __atomic_fetch_add(&job->next_worker, 1, __ATOMIC_RELAXED) % job->workers;
  for (int w = 0; w < job->workers; w++) {
    int range = (own + w) % job->workers;
    for (;;) {
      int64_t item = __atomic_fetch_add(&job->next[range], 1, __ATOMIC_RELAXED);
      if (item >= job->end[range]) {
        break;
      }
      compute_item(job, item, s);
      done++;
    }
  }
  return done;
}

/*
 * libtorch's OpenMP team. libtorch runs its own parallel ops on a libgomp thread team whose
 * workers spin for a while after each op; helper threads of our own would then compete with those
 * spinning workers for the cores. Running on the same team instead means the threads that spin are
 * the threads that work. GOMP_parallel is the entry point gcc emits for `#pragma omp parallel`.
 */
typedef void (*gomp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);
static gomp_parallel_fn gomp_parallel;

/* dl_iterate_phdr callback: remembers GOMP_parallel of a loaded libgomp, libtorch's first. */
static int find_gomp(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  const char *name = info->dlpi_name;
  int bundled = name != NULL && strstr(name, "libgomp-") != NULL; /* libtorch's hashed copy */
  if (name == NULL || strstr(name, "libgomp") == NULL) {
    return 0;
  }
  void *handle = dlopen(name, RTLD_NOW | RTLD_NOLOAD); /* only if already loaded */
  void *symbol = handle != NULL ? dlsym(handle, "GOMP_parallel") : NULL;
  if (symbol != NULL) {
    *(void **)data = symbol;
  }
  return symbol != NULL && bundled; /* stop at libtorch's copy, else keep looking */
}

int attention_find_openmp(void) {
  void *symbol = NULL;
  dl_iterate_phdr(find_gomp, &symbol);
  gomp_parallel = (gomp_parallel_fn)symbol;
  return gomp_parallel != NULL;
}

typedef struct {
  attention_job *job;
  int64_t computed;
} team_task;

static void team_member(void *data) {
  team_task *task = data;
  int64_t items = attention_work(task->job);
  if (items > 0) {
    __atomic_fetch_add(&task->computed, items, __ATOMIC_RELAXED);
  }
}

int64_t attention_work_openmp(attention_job *job) {
  team_task task = {job, 0};
  gomp_parallel(team_member, &task, (unsigned)job->workers, 0);
  return task.computed;
}
