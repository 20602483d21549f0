/*
 * The scalar definitions the float32 kernels share whatever their instruction set (attention_simd.h
 * for AVX-512, attention_simd_avx2.h for AVX2): the block of scores, log2(e), the threshold of the
 * fused exponent, the address of a mask element, the score factors and aligned allocation.
 */
#ifndef DJL_ATTENTION_SCALAR_H
#define DJL_ATTENTION_SCALAR_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "attention_kernel.h"

#define SCORE_KEYS 512                  /* keys of a block of scores (one online-softmax step) */
#define SCORE_STRIDE (SCORE_KEYS + 32)  /* floats between the rows of a block of scores */

#define INLINE __attribute__((always_inline)) inline

/*
 * Unrolls the loop that follows completely: put before a loop over a micro-kernel's accumulator
 * array (a fixed count of rows, columns or vectors). Without it gcc kept such arrays on the stack
 * around the inner loop: in the prefill tiles two `rep stos` zeroed them on entry and every
 * accumulator was stored and reloaded on exit, 7.5 % of the Q K^T tile's samples on an AMD Zen 4
 * (perf, prefill harness S = 1024); in the linear kernel's row chunks every accumulator was stored
 * on every step of the inner loop. Unrolled, every accumulator lives in a register from the first
 * instruction to the last (docs/performance.md, issue 14's eleventh pass).
 */
#define UNROLLED _Pragma("GCC unroll 16")

/* log2(e) as the float32 that every product with it uses */
#define LOG2E 1.44269504088896341f

/* Below this |max log2(e)| the fused exponent s log2(e) - max log2(e) is used: the rounding of
 * max log2(e), a factor common to the block's weights, is then at most 2^-17, of the order of the
 * scores' own rounding; above it, the same rounding would distort the weights. */
#define FUSED_MAX 256.0f

/*
 * The scalar part of an online-softmax step, the same for every instruction set: after a block
 * whose largest score is block_max, the row's new maximum; the factor for the old partial sums and
 * output, 0 below 2^-126 like the weights (and where old - new overflows to -inf); the exponent's
 * offset c = -(max log2(e)), 0 for a row of only -inf so far (every weight is then 0); the lowest
 * exponent of the weights, -126 + shift; and whether the fused exponent s log2(e) + c applies
 * (|c| < FUSED_MAX; otherwise large or huge scores, a mask of -FLT_MAX on every key, or max = +inf,
 * which gives NaN or 0, take (s - max) log2(e)).
 */
typedef struct {
  float max;
  float rescale;
  float c;
  float lo;
  int fused;
} softmax_update;

static inline softmax_update softmax_update_of(float row_max, float block_max, float shift) {
  softmax_update u;
  u.max = block_max > row_max ? block_max : row_max;
  float shift_down = (row_max - u.max) * LOG2E;
  u.rescale = row_max == -INFINITY || shift_down < -126.0f ? 0.0f : exp2f(shift_down);
  u.c = u.max == -INFINITY ? 0.0f : -(u.max * LOG2E);
  u.lo = -126.0f + shift;
  u.fused = u.c > -FUSED_MAX && u.c < FUSED_MAX;
  return u;
}

/* The address of a mask's element `offset` (in elements of its type). */
static inline const void *mask_at(const void *mask, int mask_type, int64_t offset) {
  return mask_type == MASK_BOOL ? (const void *)((const uint8_t *)mask + offset)
                                : (const void *)((const float *)mask + offset);
}

/*
 * The score factors of a call (see attention_job in attention_kernel.h): the products Q K^T are
 * multiplied by qk_factor (scale, or scale / c folded in when that is a normal float32), before
 * the product on the query when qk_factor <= 1, else (qk_after) on each product; with a softcap
 * the scores then become c * tanh(scores * tanh_inner). weight_down = 2^-weight_shift <= 1/T.
 */
typedef struct {
  float qk_factor;
  int qk_after;
  float tanh_inner;
  float weight_shift;
  float weight_down;
} score_factors;

static inline score_factors derive_score_factors(float scale, float softcap, int64_t keys) {
  score_factors f;
  double folded = softcap != 0.0f ? (double)scale / softcap : scale;
  if (softcap == 0.0f || (folded >= FLT_MIN && folded <= FLT_MAX)) {
    f.qk_factor = (float)folded;
    f.tanh_inner = 1.0f;
  } else { /* scale / c is subnormal or overflows: 1/c (finite for a normal c) goes on the tanh */
    f.qk_factor = scale;
    f.tanh_inner = (float)(1.0 / softcap);
  }
  f.qk_after = f.qk_factor > 1.0f;
  int shift = 0;
  while (shift < 63 && ((int64_t)1 << shift) < keys) {
    shift++;
  }
  f.weight_shift = (float)shift;
  f.weight_down = ldexpf(1.0f, -shift);
  return f;
}

/* aligned_alloc wants a size that is a multiple of the alignment */
static inline float *alloc_floats(int64_t count) {
  size_t bytes = ((size_t)count * sizeof(float) + 63) / 64 * 64;
  return aligned_alloc(64, bytes == 0 ? 64 : bytes);
}

#endif
