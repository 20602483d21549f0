/*
 * What the decode kernel's instruction-set variants share (decode_kernel.c for AVX-512,
 * decode_avx2.c for AVX2): the per-thread scratch, the rows of a work item and the keys each row
 * sees, and the scalar steps around the vector code (a block's key range per row, the merge of the
 * chunks, the output). A variant computes one work item between decode_item_begin and
 * decode_item_end, block by block of SCORE_KEYS keys.
 */
#ifndef DJL_ATTENTION_DECODE_INTERNAL_H
#define DJL_ATTENTION_DECODE_INTERNAL_H

#include <stdint.h>

#include "decode_kernel.h"

#define DECODE_ROWS 64 /* rows (R heads x S queries) per work item */

typedef struct {
  float *query;  /* (DECODE_ROWS, D), scaled */
  float *scores; /* (DECODE_ROWS, SCORE_STRIDE) */
  float *out;    /* (DECODE_ROWS, out_stride), the unnormalized output */
  float *zero;   /* D zeros */
  int64_t dim;
  int64_t out_stride;
} decode_scratch;

/* One work item: the rows of one (batch, group, row block) against one chunk of the keys. */
typedef struct {
  int64_t b, g, rb, block, chunk;
  int rows;
  int64_t lo[DECODE_ROWS], hi[DECODE_ROWS]; /* the keys row r sees: [lo, hi) */
  int64_t mask_row[DECODE_ROWS];            /* the mask's offset of row r's first key */
  const float *query[DECODE_ROWS];          /* row r's query, scaled when !qk_after */
  int64_t c0, c1;                           /* this chunk's keys */
  float after;                              /* the factor on each product, 1 when none */
  const float *key, *value;                 /* the group's K and V */
  int64_t key_stride, value_stride;         /* floats from one key (value) row to the next */
  float row_max[DECODE_ROWS], row_sum[DECODE_ROWS];
  int64_t visible[DECODE_ROWS];
} decode_item;

/* A block of keys [k0, k0 + n) as the rows see it: row r's keys [from, to) relative to k0, and
 * their union [u0, u1), u0 rounded down to a multiple of 16. */
typedef struct {
  int64_t k0;
  int64_t from[DECODE_ROWS], to[DECODE_ROWS];
  int64_t u0, u1;
} decode_block;

/* Sets up work item `item`: its rows, their keys and queries, the running maxima and sums, and
 * zeros in the scratch's output rows. */
void decode_item_begin(const decode_job *job, int64_t item, decode_scratch *s, decode_item *it);

/* The block of keys from k0 for the item's rows; returns 0 when no row sees a key of it. */
int decode_block_of(const decode_item *it, int64_t k0, decode_block *block);

/*
 * Byte `at` of rows of `row_bytes` bytes that lie `stride_bytes` apart from `first` (the rows a
 * prefetch loop walks through, contiguous or not).
 */
static inline const char *row_byte(const char *first, int64_t at, int64_t row_bytes,
                                   int64_t stride_bytes) {
  return stride_bytes == row_bytes ? first + at
                                   : first + at / row_bytes * stride_bytes + at % row_bytes;
}

/* Fills scores [from, to) with `value`. */
void decode_fill(float *scores, int64_t from, int64_t to, float value);

/* Writes the item's output rows (one chunk), or its partial results, merging the chunks when it
 * finishes the last one of its rows. */
void decode_item_end(decode_job *job, int64_t item, const decode_scratch *s,
                     const decode_item *it);

/* The AVX2 variant's work item (decode_avx2.c). */
void decode_compute_avx2(decode_job *job, int64_t item, decode_scratch *s);

#endif
