/*
 * What the prefill kernel's instruction-set variants share (attention_kernel.c holds the driver and
 * the AVX-512 operations, prefill_avx2.c the AVX2 ones): the vector operations of one block of
 * keys, the packing of the keys and the per-row scaling, behind a table, so that one scalar driver
 * (work items, the causal key range, each row's online-softmax state, the fully masked rows)
 * serves both. A table's functions are called once per head, block or row, not per element.
 */
#ifndef DJL_ATTENTION_PREFILL_INTERNAL_H
#define DJL_ATTENTION_PREFILL_INTERNAL_H

#include <stdint.h>

#include "attention_kernel.h"

#define PREFILL_ROWS 64 /* query rows per work item */

typedef struct {
  /*
   * key (T, D), rows row_stride floats apart -> panels of 16 keys, [T/16][D][16], the last panel
   * padded with zeros: the keys as the Q K^T tiles read them
   */
  void (*pack_keys)(const float *key, int64_t keys, int64_t dim, int64_t row_stride,
                    float *packed);
  /* dst[0, n) = src[0, n) * factor: the query's scale, the output's 1 / sum */
  void (*scale_row)(float *dst, const float *src, int64_t n, float factor);
  /*
   * scores[r][0, 16 panels) = (query[r] . keys of `panels` panels of 16) * after for `rows` rows
   * (query rows dim apart, score rows SCORE_STRIDE apart; after 1: none). May write up to 16
   * scores past the last panel.
   */
  void (*qk_block)(int rows, int64_t dim, const float *query, const float *panels,
                   int64_t panel_count, float after, float *scores);
  /* scores[0, n) = cap * tanh(scores * inner), in place */
  void (*softcap_row)(float *scores, int64_t n, float inner, float cap);
  /* the mask on n scores in place (mask_scores in attention_simd.h); returns the keys left visible */
  int64_t (*mask_scores)(const void *mask, int mask_type, int64_t stride, int64_t n, float *scores);
  /* one online-softmax step of a row (softmax_step in attention_simd.h); returns the rescale */
  float (*softmax_step)(float *scores, int64_t valid, int64_t padded, float shift, float down,
                        float *row_max, float *row_sum);
  /* out[0, floats) *= factor; floats a multiple of 64, out 64-byte aligned */
  void (*rescale)(float *out, int64_t floats, float factor);
  /*
   * out[r][0, value_dim) += weights[r][0, n) . value[0, n)[0, value_dim) for `rows` rows (weights
   * SCORE_STRIDE apart, value rows value_stride apart, out rows out_stride apart, out_stride a
   * multiple of 64)
   */
  void (*pv_block)(int rows, int64_t n, const float *weights, const float *value,
                   int64_t value_dim, int64_t value_stride, float *out, int64_t out_stride);
} prefill_ops;

extern const prefill_ops prefill_avx512; /* attention_kernel.c */
extern const prefill_ops prefill_avx2;   /* prefill_avx2.c */

#endif
