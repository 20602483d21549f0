/*
 * The decode kernel's AVX2 variant (decode_kernel.h), for CPUs with AVX2 and FMA but without
 * AVX-512: the work items, chunks, key ranges, merge and output of decode_kernel.c
 * (decode_internal.h), with products eight lanes wide. Per block of SCORE_KEYS keys: Q K^T 16
 * keys at a time for every row of the group while those key rows are in L1, as dot products along
 * D (four rows by two keys, eight accumulators summed across lanes together, so each key row is
 * loaded once per four rows; the rows left over two by four keys, a last odd one by eight keys),
 * then the softcap, the mask, the online-softmax step (attention_simd_avx2.h) and
 * P V: for up to four rows (one query per head of a group of four) over whole value rows, four at
 * a time (pv_whole_rows_avx2), for more rows in runs of 16 value rows that tiles of up to 6 rows
 * read from L1 (pv8_tile). Each key and value row is read from memory once per group.
 */
#define _GNU_SOURCE
#include <string.h>

#include "attention_simd_avx2.h"
#include "decode_internal.h"

#define KEY_PREFETCH_ROWS 64  /* how far ahead of the 16 keys in use the key rows are fetched */
#define PV_KEYS 16            /* value rows of a run of P V */
#define VALUE_PREFETCH_RUNS 4 /* how far ahead of the run in use the value rows are fetched */
#define WHOLE_ROWS_MAX 4      /* the most rows whose P V reads whole value rows */
#define VALUE_PREFETCH_ROWS 16 /* how far ahead of the rows in use pv_whole_rows_avx2 fetches */

/*
 * scores0[0, 4) and scores1[0, 4) = (query row . key[c]) * after for two query rows and four key
 * rows (missing keys point at the zero row; their scores land in the slack).
 */
static AVX2 INLINE void qk_2x4(const float *q0, const float *q1, const float *const *key,
                               int64_t dim, float after, float *scores0, float *scores1) {
  __m256 acc[8];
  for (int i = 0; i < 8; i++) {
    acc[i] = _mm256_setzero_ps();
  }
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    __m256 a0 = _mm256_loadu_ps(q0 + d), a1 = _mm256_loadu_ps(q1 + d);
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
      __m256 k = _mm256_loadu_ps(key[c] + d);
      acc[c] = _mm256_fmadd_ps(a0, k, acc[c]);
      acc[4 + c] = _mm256_fmadd_ps(a1, k, acc[4 + c]);
    }
  }
  if (d < dim) {
    __m256i m = lanes8(dim - d);
    __m256 a0 = _mm256_maskload_ps(q0 + d, m), a1 = _mm256_maskload_ps(q1 + d, m);
    for (int c = 0; c < 4; c++) {
      __m256 k = _mm256_maskload_ps(key[c] + d, m);
      acc[c] = _mm256_fmadd_ps(a0, k, acc[c]);
      acc[4 + c] = _mm256_fmadd_ps(a1, k, acc[4 + c]);
    }
  }
  __m256 sums = reduce8(acc); /* lane 4 r + c */
  if (after != 1.0f) {
    sums = _mm256_mul_ps(sums, _mm256_set1_ps(after));
  }
  _mm_storeu_ps(scores0, _mm256_castps256_ps128(sums));
  _mm_storeu_ps(scores1, _mm256_extractf128_ps(sums, 1));
}

/*
 * scores[r * SCORE_STRIDE + c] = (query[r] . key[c]) * after for four query rows and two key
 * rows: each key chunk is loaded once for the four rows (qk_2x4 loads it once per row pair). The
 * sums are qk_2x4's to the bit: the same products in the same order, the same tree across lanes.
 */
static AVX2 INLINE void qk_4x2(const float *const *query, const float *const *key, int64_t dim,
                               float after, float *scores) {
  __m256 acc[8];
  for (int i = 0; i < 8; i++) {
    acc[i] = _mm256_setzero_ps();
  }
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    __m256 k0 = _mm256_loadu_ps(key[0] + d), k1 = _mm256_loadu_ps(key[1] + d);
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
      __m256 a = _mm256_loadu_ps(query[r] + d);
      acc[2 * r] = _mm256_fmadd_ps(a, k0, acc[2 * r]);
      acc[2 * r + 1] = _mm256_fmadd_ps(a, k1, acc[2 * r + 1]);
    }
  }
  if (d < dim) {
    __m256i m = lanes8(dim - d);
    __m256 k0 = _mm256_maskload_ps(key[0] + d, m), k1 = _mm256_maskload_ps(key[1] + d, m);
    for (int r = 0; r < 4; r++) {
      __m256 a = _mm256_maskload_ps(query[r] + d, m);
      acc[2 * r] = _mm256_fmadd_ps(a, k0, acc[2 * r]);
      acc[2 * r + 1] = _mm256_fmadd_ps(a, k1, acc[2 * r + 1]);
    }
  }
  __m256 sums = reduce8(acc); /* lane 2 r + c */
  if (after != 1.0f) {
    sums = _mm256_mul_ps(sums, _mm256_set1_ps(after));
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, sums);
  for (int r = 0; r < 4; r++) {
    scores[r * SCORE_STRIDE] = lanes[2 * r];
    scores[r * SCORE_STRIDE + 1] = lanes[2 * r + 1];
  }
}

/* scores[0, 8) = (query . key[c]) * after for one query row and eight key rows. */
static AVX2 INLINE void qk_1x8(const float *query, const float *const *key, int64_t dim,
                               float after, float *scores) {
  __m256 acc[8];
  for (int i = 0; i < 8; i++) {
    acc[i] = _mm256_setzero_ps();
  }
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    __m256 q = _mm256_loadu_ps(query + d);
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
      acc[c] = _mm256_fmadd_ps(q, _mm256_loadu_ps(key[c] + d), acc[c]);
    }
  }
  if (d < dim) {
    __m256i m = lanes8(dim - d);
    __m256 q = _mm256_maskload_ps(query + d, m);
    for (int c = 0; c < 8; c++) {
      acc[c] = _mm256_fmadd_ps(q, _mm256_maskload_ps(key[c] + d, m), acc[c]);
    }
  }
  __m256 sums = reduce8(acc);
  if (after != 1.0f) {
    sums = _mm256_mul_ps(sums, _mm256_set1_ps(after));
  }
  _mm256_storeu_ps(scores, sums);
}

/*
 * Q K^T for the 16 keys from t (count of them exist) for every row that sees one of them; the key
 * rows KEY_PREFETCH_ROWS ahead are fetched into L2, spread over the products.
 */
static AVX2 void qk_keys16(const decode_item *it, const decode_block *blk, int64_t t,
                           int64_t count, int64_t dim, const float *zero, float *scores) {
  const int64_t key_stride = it->key_stride;
  const float *group_keys = it->key + (blk->k0 + t) * key_stride;
  const float *key[16];
  for (int j = 0; j < 16; j++) {
    key[j] = j < count ? group_keys + j * key_stride : zero;
  }
  const char *ahead = (const char *)(group_keys + KEY_PREFETCH_ROWS * key_stride);
  const int64_t row_bytes = dim * (int64_t)sizeof(float);
  const int64_t stride_bytes = key_stride * (int64_t)sizeof(float);
  const int64_t bytes = 16 * row_bytes;
  int64_t fetched = 0;
  int r = 0;
  for (; r + 4 <= it->rows; r += 4) {
    for (int j0 = 0; j0 < 16; j0 += 2) {
      for (int64_t stop = bytes * (j0 + 2) / 16; fetched < stop; fetched += 64) {
        _mm_prefetch(row_byte(ahead, fetched, row_bytes, stride_bytes), _MM_HINT_T1);
      }
      qk_4x2(it->query + r, key + j0, dim, it->after, scores + r * SCORE_STRIDE + t + j0);
    }
  }
  for (; r + 2 <= it->rows; r += 2) {
    for (int j0 = 0; j0 < 16; j0 += 4) {
      for (int64_t stop = bytes * (j0 + 4) / 16; fetched < stop; fetched += 64) {
        _mm_prefetch(row_byte(ahead, fetched, row_bytes, stride_bytes), _MM_HINT_T1);
      }
      float *s0 = scores + r * SCORE_STRIDE + t + j0;
      qk_2x4(it->query[r], it->query[r + 1], key + j0, dim, it->after, s0, s0 + SCORE_STRIDE);
    }
  }
  for (; fetched < bytes; fetched += 64) {
    _mm_prefetch(row_byte(ahead, fetched, row_bytes, stride_bytes), _MM_HINT_T1);
  }
  if (r < it->rows && t + 16 > blk->from[r] && t < blk->to[r]) {
    qk_1x8(it->query[r], key, dim, it->after, scores + r * SCORE_STRIDE + t);
    qk_1x8(it->query[r], key + 8, dim, it->after, scores + r * SCORE_STRIDE + t + 8);
  }
}

/*
 * o0[0, 8) += a0 v0 + a1 v1 + a2 v2 + a3 v3 and o1[0, 8) likewise with b0 to b3, in that order:
 * eight columns of four value rows (loaded by the caller, whole or masked) for a pair of rows.
 */
static AVX2 INLINE void pv_pair8(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 a0, __m256 a1,
                                 __m256 a2, __m256 a3, __m256 b0, __m256 b1, __m256 b2, __m256 b3,
                                 float *o0, float *o1) {
  __m256 x = _mm256_load_ps(o0), y = _mm256_load_ps(o1);
  x = _mm256_fmadd_ps(a0, v0, x);
  y = _mm256_fmadd_ps(b0, v0, y);
  x = _mm256_fmadd_ps(a1, v1, x);
  y = _mm256_fmadd_ps(b1, v1, y);
  x = _mm256_fmadd_ps(a2, v2, x);
  y = _mm256_fmadd_ps(b2, v2, y);
  x = _mm256_fmadd_ps(a3, v3, x);
  y = _mm256_fmadd_ps(b3, v3, y);
  _mm256_store_ps(o0, x);
  _mm256_store_ps(o1, y);
}

/*
 * out[r][0, Dv) += sum over t < n of weights[r][t] * value[t][0, Dv) for `rows` (1 to 4) rows,
 * four value rows at a time over their whole length: the accumulators of a row pair live in the
 * output rows (L1), the 2 x 4 weights in registers, and each value row is read from the start to
 * the end, as the hardware prefetcher follows it. A row's sums run over t in order, as pv8_tile's.
 */
static AVX2 void pv_whole_rows_avx2(int rows, int64_t n, const float *weights, const float *value,
                                    int64_t value_dim, int64_t value_stride, float *out,
                                    int64_t out_stride) {
  const int64_t full = value_dim / 8 * 8;
  const __m256i last = lanes8(value_dim - full);
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) {
    const float *v0 = value + t * value_stride, *v1 = v0 + value_stride;
    const float *v2 = v1 + value_stride, *v3 = v2 + value_stride;
    const char *ahead = (const char *)(v0 + VALUE_PREFETCH_ROWS * value_stride);
    for (int r = 0; r < rows; r += 2) {
      const float *w0 = weights + r * SCORE_STRIDE + t;
      const float *w1 = r + 1 < rows ? w0 + SCORE_STRIDE : w0;
      float *o0 = out + r * out_stride;
      float *o1 = r + 1 < rows ? o0 + out_stride : o0;
      const __m256 a0 = _mm256_broadcast_ss(w0), a1 = _mm256_broadcast_ss(w0 + 1);
      const __m256 a2 = _mm256_broadcast_ss(w0 + 2), a3 = _mm256_broadcast_ss(w0 + 3);
      const __m256 b0 = _mm256_broadcast_ss(w1), b1 = _mm256_broadcast_ss(w1 + 1);
      const __m256 b2 = _mm256_broadcast_ss(w1 + 2), b3 = _mm256_broadcast_ss(w1 + 3);
      int64_t c = 0;
      for (; c < full; c += 8) {
        if (r == 0 && (c & 15) == 0) { /* the four rows' next line, VALUE_PREFETCH_ROWS ahead */
          const char *line = ahead + c * (int64_t)sizeof(float);
          const int64_t step = value_stride * (int64_t)sizeof(float);
          _mm_prefetch(line, _MM_HINT_T1);
          _mm_prefetch(line + step, _MM_HINT_T1);
          _mm_prefetch(line + 2 * step, _MM_HINT_T1);
          _mm_prefetch(line + 3 * step, _MM_HINT_T1);
        }
        pv_pair8(_mm256_loadu_ps(v0 + c), _mm256_loadu_ps(v1 + c), _mm256_loadu_ps(v2 + c),
                 _mm256_loadu_ps(v3 + c), a0, a1, a2, a3, b0, b1, b2, b3, o0 + c, o1 + c);
      }
      if (c < value_dim) {
        pv_pair8(_mm256_maskload_ps(v0 + c, last), _mm256_maskload_ps(v1 + c, last),
                 _mm256_maskload_ps(v2 + c, last), _mm256_maskload_ps(v3 + c, last), a0, a1, a2,
                 a3, b0, b1, b2, b3, o0 + c, o1 + c);
      }
    }
  }
  for (; t < n; t++) { /* the last keys one at a time */
    const float *v0 = value + t * value_stride;
    for (int r = 0; r < rows; r++) {
      const __m256 a0 = _mm256_broadcast_ss(weights + r * SCORE_STRIDE + t);
      float *o0 = out + r * out_stride;
      for (int64_t c = 0; c < value_dim; c += 8) {
        __m256 v = c < full ? _mm256_loadu_ps(v0 + c) : _mm256_maskload_ps(v0 + c, last);
        _mm256_store_ps(o0 + c, _mm256_fmadd_ps(a0, v, _mm256_load_ps(o0 + c)));
      }
    }
  }
}

AVX2 void decode_compute_avx2(decode_job *job, int64_t item, decode_scratch *s) {
  const int64_t dim = job->dim, value_dim = job->value_dim;
  decode_item it;
  decode_item_begin(job, item, s, &it);
  decode_block blk;
  for (int64_t k0 = it.c0; k0 < it.c1; k0 += SCORE_KEYS) {
    if (!decode_block_of(&it, k0, &blk)) {
      continue; /* no row sees a key of this block */
    }
    const int64_t u0 = blk.u0, u1 = blk.u1, width = u1 - u0;
    for (int64_t t = u0; t < u1; t += 16) {
      qk_keys16(&it, &blk, t, u1 - t < 16 ? u1 - t : 16, dim, s->zero, s->scores);
    }
    for (int r = 0; r < it.rows; r++) {
      float *scores = s->scores + r * SCORE_STRIDE;
      const int64_t from = blk.from[r], to = blk.to[r];
      if (to <= from) {
        decode_fill(scores, u0, u1, -INFINITY);
      } else {
        decode_fill(scores, u0, from, -INFINITY);
        decode_fill(scores, to, u1, -INFINITY);
        if (job->softcap != 0.0f) {
          softcap_row_avx2(scores + from, to - from, job->tanh_inner, job->softcap);
        }
        if (job->mask_type != MASK_NONE) {
          int64_t stride = job->mask_stride[3];
          it.visible[r] += mask_scores_avx2(
              mask_at(job->mask, job->mask_type, it.mask_row[r] + (k0 + from) * stride),
              job->mask_type, stride, to - from, scores + from);
        }
      }
      float rescale = softmax_step_avx2(scores + u0, width, (width + 15) / 16 * 16,
                                        job->weight_shift, job->weight_down, &it.row_max[r],
                                        &it.row_sum[r]);
      if (rescale != 1.0f) {
        rescale_row_avx2(s->out + r * job->out_stride, job->out_stride, rescale);
      }
    }
    /* P V over runs of PV_KEYS value rows (contiguous, in L1 while every tile of the rows
     * reads its columns of them), the runs VALUE_PREFETCH_RUNS ahead fetched into L2: V streams
     * from memory once, in order, as K does */
    const int64_t value_stride = it.value_stride;
    const float *values = it.value + (k0 + u0) * value_stride;
    if (it.rows <= WHOLE_ROWS_MAX) {
      pv_whole_rows_avx2(it.rows, width, s->scores + u0, values, value_dim, value_stride, s->out,
                         job->out_stride);
      continue;
    }
    const int64_t row_bytes = value_dim * (int64_t)sizeof(float);
    const int64_t stride_bytes = value_stride * (int64_t)sizeof(float);
    const int64_t run_bytes = PV_KEYS * row_bytes;
    for (int64_t t0 = 0; t0 < width; t0 += PV_KEYS) {
      const int64_t n = width - t0 < PV_KEYS ? width - t0 : PV_KEYS;
      const float *run = values + t0 * value_stride;
      const char *ahead = (const char *)(run + VALUE_PREFETCH_RUNS * PV_KEYS * value_stride);
      for (int64_t at = 0; at < run_bytes; at += 64) {
        _mm_prefetch(row_byte(ahead, at, row_bytes, stride_bytes), _MM_HINT_T1);
      }
      for (int r = 0; r < it.rows; r += 4) {
        const int rows = it.rows - r < 4 ? it.rows - r : 4;
        const int columns = pv8_columns(rows);
        for (int64_t c = 0; c < value_dim; c += columns) {
          pv8_tile(rows, n, s->scores + r * SCORE_STRIDE + u0 + t0, run + c, value_stride,
                   s->out + r * job->out_stride + c, job->out_stride, value_dim - c);
        }
      }
    }
  }
  decode_item_end(job, item, s, &it);
}
