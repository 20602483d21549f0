/*
 * The decode kernel (decode_kernel.h): per work item, the rows of one (batch, group, row block)
 * against one chunk of the keys. The keys are visited in blocks of SCORE_KEYS; per block, each row
 * gets its scores Q K^T for the keys it sees (16 keys at a time, for every row of the group while
 * those keys are in L1: 16 dot products over D, summed across lanes by a transposing tree of
 * shuffles, so K is read as it lies in memory), then the
 * softcap, the mask, and the same online-softmax step and P V micro-kernel as the prefill kernel
 * (attention_simd.h): the same numerics, so every finite result of the step-by-step chain is
 * finite here too. A block's keys and values are read once for all the rows of the group.
 */
#define _GNU_SOURCE
#include "decode_kernel.h"

#include <pthread.h>
#include <string.h>

#include "attention_simd.h"
#include "decode_internal.h"
#include "simd_reduce.h"

#define DECODE_MIN_CHUNK 512  /* fewest keys per chunk when the keys are split */
#define ITEMS_PER_WORKER 4    /* split the keys until there are this many items per thread */
#define KEY_PREFETCH_ROWS 64  /* how far ahead of the 16 keys in use the key rows are fetched */
#define WHOLE_ROWS_MAX 4      /* the most rows whose P V reads whole value rows (pv_whole_rows) */
#define VALUE_PREFETCH_ROWS 16 /* how far ahead of the value row in use pv_whole_rows fetches */

/* The slot of key j in the 16 accumulators whose transposing sum (reduce16) puts key j in lane j. */
#define SLOT(j) (((j) >> 2) + (((j) & 3) << 2))

/*
 * scores[0, 16) = (query . key row j) * after for the `count` (1 to 16) keys from `keys` (rows
 * `dim` floats apart); the missing keys of a last group read the zero row, their scores land in
 * the row's slack.
 */
static AVX512 INLINE void qk_group(const float *query, const float *keys, int64_t key_stride,
                                   int64_t count, int64_t dim, float after, const float *zero,
                                   float *scores) {
  const float *rows[16];
  for (int j = 0; j < 16; j++) {
    rows[SLOT(j)] = j < count ? keys + j * key_stride : zero;
  }
  __m512 acc[16];
  for (int j = 0; j < 16; j++) {
    acc[j] = _mm512_setzero_ps();
  }
  int64_t d = 0;
  for (; d + 16 <= dim; d += 16) {
    __m512 q = _mm512_loadu_ps(query + d);
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) {
      acc[j] = _mm512_fmadd_ps(q, _mm512_loadu_ps(rows[j] + d), acc[j]);
    }
  }
  if (d < dim) {
    __mmask16 m = (__mmask16)((1u << (dim - d)) - 1);
    __m512 q = _mm512_maskz_loadu_ps(m, query + d);
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) {
      acc[j] = _mm512_fmadd_ps(q, _mm512_maskz_loadu_ps(m, rows[j] + d), acc[j]);
    }
  }
  __m512 sums = reduce16(acc);
  if (after != 1.0f) {
    sums = _mm512_mul_ps(sums, _mm512_set1_ps(after));
  }
  _mm512_storeu_ps(scores, sums);
}

/*
 * out[r][0, Dv) += sum over t < n of weights[r][t] * value[t][0, Dv), for 64 < Dv <= 128: two rows
 * at a time over whole value rows, so V streams from memory once, row after row, as the hardware
 * prefetcher follows it; the second pair of rows reads the block again from L2. (The shared 64-column
 * micro-kernel reads the first half of every row, then the second: at T = 16384 on huge pages that
 * pattern measured 5.9 to 8.0 ms against 5.1 to 5.5 for this, docs/performance.md.) The sums run over
 * t in the same order, so the result is the micro-kernel's to the bit. For more than WHOLE_ROWS_MAX
 * rows (a few queries per head) the pairs re-read the block from L2 more often than the 64-column
 * tiles of 6 rows do, and the tiles measured faster (T = 4096, S = 4: 2.6 to 2.9 ms against 3.1 to
 * 3.4).
 *
 * The first pair also fetches the value row VALUE_PREFETCH_ROWS ahead into L2, as the Q K^T loop
 * does for the keys. In the C harness (H32 G8 D128) it took T = 16384 on two threads from a median
 * of 6.15 ms to 5.62, and on one thread a step at T = 1024 whose K and V had been evicted (a
 * 96 MiB read between steps: a model's other layers) from 0.72-1.06 ms, with neither fetched ahead,
 * to 0.45-0.67 with both. Where K and V are still in the L3 from the step before (the bench's
 * repeated step) both fetches cost about 10 % (0.21-0.27 ms against 0.19-0.23 at T = 1024); a
 * threshold on the job's size cannot tell the two apart, so both are always on.
 */
static AVX512 INLINE void pv_whole_rows_of(const int vectors, int rows, int64_t n,
                                            const float *weights, const float *value,
                                            int64_t value_dim, int64_t value_stride, float *out,
                                            int64_t out_stride) {
  const __mmask16 last = lanes(value_dim - 16 * (vectors - 1));
  for (int r0 = 0; r0 < rows; r0 += 2) {
    const int two = r0 + 1 < rows;
    float *out0 = out + r0 * out_stride, *out1 = two ? out0 + out_stride : out0;
    const float *w0 = weights + r0 * SCORE_STRIDE, *w1 = two ? w0 + SCORE_STRIDE : w0;
    __m512 a[8], b[8];
#pragma GCC unroll 8
    for (int c = 0; c < vectors; c++) {
      a[c] = _mm512_load_ps(out0 + 16 * c);
      b[c] = _mm512_load_ps(out1 + 16 * c);
    }
    for (int64_t t = 0; t < n; t++) {
      const float *row = value + t * value_stride;
      if (r0 == 0) {
        const char *ahead = (const char *)(row + VALUE_PREFETCH_ROWS * value_stride);
#pragma GCC unroll 8
        for (int c = 0; c < vectors; c++) {
          _mm_prefetch(ahead + 64 * c, _MM_HINT_T1);
        }
      }
      __m512 p0 = _mm512_set1_ps(w0[t]), p1 = _mm512_set1_ps(w1[t]);
#pragma GCC unroll 8
      for (int c = 0; c < vectors; c++) {
        __m512 v = c < vectors - 1 ? _mm512_loadu_ps(row + 16 * c)
                                   : _mm512_maskz_loadu_ps(last, row + 16 * c);
        a[c] = _mm512_fmadd_ps(p0, v, a[c]);
        b[c] = _mm512_fmadd_ps(p1, v, b[c]);
      }
    }
#pragma GCC unroll 8
    for (int c = 0; c < vectors; c++) {
      _mm512_store_ps(out0 + 16 * c, a[c]);
      if (two) {
        _mm512_store_ps(out1 + 16 * c, b[c]);
      }
    }
  }
}

/*
 * pv_whole_rows_of for 4 rows of 8 vectors (Dv 113 to 128; R = 4 query heads per group at S = 1,
 * as in H32 G8): four value rows at a time, across their columns. For each 16 columns the four
 * value rows' vectors are loaded once and the four rows' sums of those columns, kept in the output
 * rows (L1), take their four multiply-adds, so each value row comes in from memory once for all
 * four rows, and the lines of four rows are in flight at once. The value rows VALUE_PREFETCH_ROWS
 * ahead are fetched into L2 a line of each of the four per 16 columns. Per output element the
 * products are added over t in order, as in pv_whole_rows_of: the same bits.
 *
 * It replaced a version that kept 24 of the 32 sums in registers over the first 6 vectors of every
 * value row and read the last 2 again from L2: that one computes as fast from the caches (T = 1024:
 * 0.116-0.120 ms both) but overlapped less with memory. In the C harness (H32 G8 D128, two threads
 * on libgomp's team, both in one process, alternated with a plain read of K and V): T = 4096
 * 0.68-0.78 ms against 0.76-0.82, T = 16384 4.9-5.0 against 5.1-5.2 (docs/performance.md, issue
 * 14's thirteenth pass).
 */
static AVX512 INLINE void pv_four_rows(int64_t n, const float *weights, const float *value,
                                       int64_t value_dim, int64_t value_stride, float *out,
                                       int64_t out_stride) {
  const __mmask16 last = lanes(value_dim - 112);
  const int64_t step = value_stride * (int64_t)sizeof(float);
  float *o[4];
  for (int r = 0; r < 4; r++) {
    o[r] = out + r * out_stride;
  }
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) {
    const float *v[4];
    __m512 p[4][4]; /* [row][value row] */
    UNROLLED
    for (int k = 0; k < 4; k++) {
      v[k] = value + (t + k) * value_stride;
    }
    UNROLLED
    for (int r = 0; r < 4; r++) {
      UNROLLED
      for (int k = 0; k < 4; k++) {
        p[r][k] = _mm512_set1_ps(weights[r * SCORE_STRIDE + t + k]);
      }
    }
    const char *ahead = (const char *)(v[0] + VALUE_PREFETCH_ROWS * value_stride);
    UNROLLED
    for (int c = 0; c < 8; c++) {
      __m512 x[4];
      UNROLLED
      for (int k = 0; k < 4; k++) {
        _mm_prefetch(ahead + k * step + 64 * c, _MM_HINT_T1);
        x[k] = c < 7 ? _mm512_loadu_ps(v[k] + 16 * c) : _mm512_maskz_loadu_ps(last, v[k] + 112);
      }
      UNROLLED
      for (int r = 0; r < 4; r++) {
        __m512 a = _mm512_load_ps(o[r] + 16 * c);
        UNROLLED
        for (int k = 0; k < 4; k++) {
          a = _mm512_fmadd_ps(p[r][k], x[k], a);
        }
        _mm512_store_ps(o[r] + 16 * c, a);
      }
    }
  }
  for (; t < n; t++) { /* the last value rows one at a time */
    const float *row = value + t * value_stride;
    UNROLLED
    for (int c = 0; c < 8; c++) {
      __m512 x = c < 7 ? _mm512_loadu_ps(row + 16 * c) : _mm512_maskz_loadu_ps(last, row + 112);
      UNROLLED
      for (int r = 0; r < 4; r++) {
        __m512 p = _mm512_set1_ps(weights[r * SCORE_STRIDE + t]);
        _mm512_store_ps(o[r] + 16 * c, _mm512_fmadd_ps(p, x, _mm512_load_ps(o[r] + 16 * c)));
      }
    }
  }
}

/* pv_whole_rows_of with the count of vectors per row a constant, so that the 16 accumulators stay
 * in registers: with the count known only at run time they lived on the stack, and the loop spent
 * about 40 % of a decode step storing and reloading them (perf, T = 256, one thread). */
static AVX512 void pv_whole_rows(int rows, int64_t n, const float *weights, const float *value,
                                 int64_t value_dim, int64_t value_stride, float *out,
                                 int64_t out_stride) {
  if (rows == 4 && value_dim > 112) {
    pv_four_rows(n, weights, value, value_dim, value_stride, out, out_stride);
    return;
  }
  switch ((value_dim + 15) / 16) {
    case 5:
      pv_whole_rows_of(5, rows, n, weights, value, value_dim, value_stride, out, out_stride);
      break;
    case 6:
      pv_whole_rows_of(6, rows, n, weights, value, value_dim, value_stride, out, out_stride);
      break;
    case 7:
      pv_whole_rows_of(7, rows, n, weights, value, value_dim, value_stride, out, out_stride);
      break;
    default:
      pv_whole_rows_of(8, rows, n, weights, value, value_dim, value_stride, out, out_stride);
      break;
  }
}

/*
 * scores[r * SCORE_STRIDE + j] = (query[r] . key row j) * after for 4 rows and the `count` (up to
 * 4; the rest read the zero row, their scores land in the slack) keys from `keys`: each chunk of a
 * key row is loaded once for the 4 rows (qk_group loads it once per row), and each row's 4 scores
 * are one 128-bit lane of dot4x4's result. The sums run in qk_group's order: the same scores to
 * the bit. Measured on one thread (CPU time, best of 31, T = 1024 from the cache, H32 G8 D128): the
 * whole call 0.289 to 0.319 ms against 0.321 to 0.358 with qk_group for every row; 4 queries per
 * head 0.663 to 0.676 against 0.747 to 0.830.
 */
static AVX512 INLINE void qk_rows4(const float *const *query, const float *keys,
                                   int64_t key_stride, int64_t count, int64_t dim, float after,
                                   const float *zero, float *scores) {
  const float *key[4];
  for (int j = 0; j < 4; j++) {
    key[j] = j < count ? keys + j * key_stride : zero;
  }
  __m512 sums = dot4x4(query, key, dim);
  if (after != 1.0f) {
    sums = _mm512_mul_ps(sums, _mm512_set1_ps(after));
  }
  _mm_storeu_ps(scores, _mm512_extractf32x4_ps(sums, 0));
  _mm_storeu_ps(scores + SCORE_STRIDE, _mm512_extractf32x4_ps(sums, 1));
  _mm_storeu_ps(scores + 2 * SCORE_STRIDE, _mm512_extractf32x4_ps(sums, 2));
  _mm_storeu_ps(scores + 3 * SCORE_STRIDE, _mm512_extractf32x4_ps(sums, 3));
}

void decode_fill(float *scores, int64_t from, int64_t to, float value) {
  for (int64_t t = from; t < to; t++) {
    scores[t] = value;
  }
}

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *memory) {
  decode_scratch *s = memory;
  free(s->query);
  free(s->scores);
  free(s->out);
  free(s->zero);
  free(s);
}

static void create_scratch_key(void) { pthread_key_create(&scratch_key, free_scratch); }

/* The thread's scratch (kept between calls, as the prefill kernel's), grown to fit the job. */
static decode_scratch *thread_scratch(const decode_job *job) {
  pthread_once(&scratch_once, create_scratch_key);
  decode_scratch *s = pthread_getspecific(scratch_key);
  if (s == NULL) {
    s = calloc(1, sizeof(decode_scratch));
    if (s == NULL || pthread_setspecific(scratch_key, s) != 0) {
      free(s);
      return NULL;
    }
  }
  if (s->scores == NULL) {
    s->scores = alloc_floats(DECODE_ROWS * SCORE_STRIDE);
  }
  if (s->dim < job->dim) {
    free(s->query);
    free(s->zero);
    s->query = alloc_floats(DECODE_ROWS * job->dim);
    s->zero = alloc_floats(job->dim);
    s->dim = s->query != NULL && s->zero != NULL ? job->dim : 0;
    if (s->zero != NULL) {
      memset(s->zero, 0, sizeof(float) * job->dim);
    }
  }
  if (s->out_stride < job->out_stride) {
    free(s->out);
    s->out = alloc_floats(DECODE_ROWS * job->out_stride);
    s->out_stride = s->out != NULL ? job->out_stride : 0;
  }
  return s->scores != NULL && s->dim >= job->dim && s->out_stride >= job->out_stride ? s : NULL;
}

/* The keys query row r sees: [lo, hi), empty when hi <= lo. */
static void row_keys(const decode_job *job, int64_t batch, int64_t query, int64_t *lo,
                     int64_t *hi) {
  int64_t count = job->valid != NULL ? job->valid[batch] : job->keys;
  int64_t position = (job->valid != NULL ? job->valid[batch] - job->queries : 0) + query;
  int64_t first = 0;
  int64_t last = count < job->keys ? count : job->keys; /* one past */
  if (job->causal && position + 1 < last) {
    last = position + 1;
  }
  if (job->left >= 0 && position - job->left > first) {
    first = position - job->left;
  }
  if (job->right >= 0 && position + job->right + 1 < last) {
    last = position + job->right + 1;
  }
  *lo = first;
  *hi = last > first ? last : first;
}

/* out = acc / sum, or zeros for a row that saw no key (the mask hid all, or all weights are 0). */
static void finish_row(float *out, const float *acc, float sum, int64_t visible, int masked,
                       int64_t value_dim) {
  if ((masked && visible == 0) || sum == 0.0f) {
    memset(out, 0, sizeof(float) * value_dim);
    return;
  }
  float inverse = 1.0f / sum;
  for (int64_t c = 0; c < value_dim; c++) {
    out[c] = acc[c] * inverse;
  }
}

/* The output row of block row r of (b, g, row block rb). */
static float *output_row(const decode_job *job, int64_t b, int64_t g, int64_t rb, int64_t r) {
  int64_t group = job->heads / job->groups;
  int64_t row = rb * job->block_rows + r; /* query i = row / R, head g R + row % R */
  int64_t head = g * group + row % group;
  return job->output + b * job->at.output.batch + head * job->at.output.head +
         row / group * job->at.output.row;
}

/* Merges the chunks of (b, g, rb): rescales each to the largest maximum, sums, normalizes. */
static void merge(const decode_job *job, int64_t block, int64_t b, int64_t g, int64_t rb,
                  int64_t rows) {
  const int64_t chunks = job->chunks, rows_stride = job->block_rows;
  for (int64_t r = 0; r < rows; r++) {
    float top = -INFINITY;
    for (int64_t c = 0; c < chunks; c++) {
      float m = job->partial_max[(block * chunks + c) * rows_stride + r];
      top = m > top ? m : top;
    }
    float *out = output_row(job, b, g, rb, r);
    memset(out, 0, sizeof(float) * job->value_dim);
    float sum = 0.0f;
    int64_t visible = 0;
    for (int64_t c = 0; c < chunks; c++) {
      int64_t at = (block * chunks + c) * rows_stride + r;
      visible += job->partial_visible[at];
      float m = job->partial_max[at];
      if (m == -INFINITY || top == -INFINITY) {
        continue; /* a chunk of no weight */
      }
      float down = (m - top) * LOG2E;
      float factor = down < -126.0f ? 0.0f : exp2f(down);
      if (factor == 0.0f) {
        continue;
      }
      sum += job->partial_sum[at] * factor;
      const float *acc = job->partial_out + at * job->out_stride;
      for (int64_t d = 0; d < job->value_dim; d++) {
        out[d] += acc[d] * factor;
      }
    }
    /* out holds the merged unnormalized output: normalize in place */
    finish_row(out, out, sum, visible, job->mask_type != MASK_NONE, job->value_dim);
  }
}

void decode_item_begin(const decode_job *job, int64_t item, decode_scratch *s, decode_item *it) {
  const int64_t dim = job->dim, keys = job->keys;
  const int64_t group = job->heads / job->groups;
  it->chunk = item % job->chunks;
  it->block = item / job->chunks; /* (b G + g) row_blocks + rb */
  it->rb = it->block % job->row_blocks;
  it->b = it->block / job->row_blocks / job->groups;
  it->g = it->block / job->row_blocks % job->groups;
  const int64_t b = it->b, g = it->g, first_row = it->rb * job->block_rows;
  it->rows = (int)(job->group_rows - first_row < job->block_rows ? job->group_rows - first_row
                                                                 : job->block_rows);
  /* each row's keys, and their union */
  int64_t union_lo = keys, union_hi = 0;
  for (int r = 0; r < it->rows; r++) {
    int64_t row = first_row + r, q = row / group, head = g * group + row % group;
    row_keys(job, b, q, &it->lo[r], &it->hi[r]);
    if (it->hi[r] > it->lo[r]) {
      union_lo = it->lo[r] < union_lo ? it->lo[r] : union_lo;
      union_hi = it->hi[r] > union_hi ? it->hi[r] : union_hi;
    }
    it->query[r] =
        job->query + b * job->at.query.batch + head * job->at.query.head + q * job->at.query.row;
    it->mask_row[r] =
        b * job->mask_stride[0] + head * job->mask_stride[1] + q * job->mask_stride[2];
  }
  it->c0 = 0; /* this chunk's share of the union */
  it->c1 = 0;
  if (union_hi > union_lo) {
    int64_t length = union_hi - union_lo;
    it->c0 = union_lo + length * it->chunk / job->chunks;
    it->c1 = union_lo + length * (it->chunk + 1) / job->chunks;
  }
  /* the products' factor goes on the query when it is at most 1, else on each product */
  it->after = job->qk_after ? job->qk_factor : 1.0f;
  if (!job->qk_after) {
    for (int r = 0; r < it->rows; r++) {
      float *scaled = s->query + r * dim;
      for (int64_t d = 0; d < dim; d++) {
        scaled[d] = it->query[r][d] * job->qk_factor;
      }
      it->query[r] = scaled;
    }
  }
  for (int r = 0; r < it->rows; r++) {
    it->row_max[r] = -INFINITY;
    it->row_sum[r] = 0.0f;
    it->visible[r] = 0;
  }
  memset(s->out, 0, sizeof(float) * it->rows * job->out_stride);
  it->key = job->key + b * job->at.key.batch + g * job->at.key.head;
  it->value = job->value + b * job->at.value.batch + g * job->at.value.head;
  it->key_stride = job->at.key.row;
  it->value_stride = job->at.value.row;
}

int decode_block_of(const decode_item *it, int64_t k0, decode_block *block) {
  int64_t n = it->c1 - k0 < SCORE_KEYS ? it->c1 - k0 : SCORE_KEYS;
  int64_t u0 = n, u1 = 0;
  for (int r = 0; r < it->rows; r++) {
    block->from[r] = (it->lo[r] > k0 ? it->lo[r] : k0) - k0;
    block->to[r] = (it->hi[r] < k0 + n ? it->hi[r] : k0 + n) - k0;
    if (block->to[r] > block->from[r]) {
      u0 = block->from[r] < u0 ? block->from[r] : u0;
      u1 = block->to[r] > u1 ? block->to[r] : u1;
    }
  }
  block->k0 = k0;
  block->u0 = u0 & ~(int64_t)15;
  block->u1 = u1;
  return u1 > u0;
}

void decode_item_end(decode_job *job, int64_t item, const decode_scratch *s,
                     const decode_item *it) {
  if (job->chunks == 1) {
    for (int r = 0; r < it->rows; r++) {
      finish_row(output_row(job, it->b, it->g, it->rb, r), s->out + r * job->out_stride,
                 it->row_sum[r], it->visible[r], job->mask_type != MASK_NONE, job->value_dim);
    }
    return;
  }
  for (int r = 0; r < it->rows; r++) {
    int64_t at = item * job->block_rows + r;
    job->partial_max[at] = it->row_max[r];
    job->partial_sum[at] = it->row_sum[r];
    job->partial_visible[at] = it->visible[r];
    memcpy(job->partial_out + at * job->out_stride, s->out + r * job->out_stride,
           sizeof(float) * job->value_dim);
  }
  /* the thread that finishes the block's last chunk merges them (release: our partials; acquire:
   * the other chunks') */
  if (__atomic_add_fetch(&job->arrivals[it->block], 1, __ATOMIC_ACQ_REL) == job->chunks) {
    merge(job, it->block, it->b, it->g, it->rb, it->rows);
  }
}

static AVX512 void compute_item(decode_job *job, int64_t item, decode_scratch *s) {
  const int64_t dim = job->dim, value_dim = job->value_dim;
  decode_item it;
  decode_item_begin(job, item, s, &it);
  const int rows = it.rows;
  const float *const *query = it.query;
  const float after = it.after;
  const float *key = it.key, *value = it.value;
  const int64_t key_stride = it.key_stride, value_stride = it.value_stride;
  const int64_t row_bytes = dim * (int64_t)sizeof(float);
  const int64_t stride_bytes = key_stride * (int64_t)sizeof(float);
  decode_block blk;
  for (int64_t k0 = it.c0; k0 < it.c1; k0 += SCORE_KEYS) {
    if (!decode_block_of(&it, k0, &blk)) {
      continue; /* no row sees a key of this block */
    }
    const int64_t *from = blk.from, *to = blk.to;
    const int64_t u0 = blk.u0, u1 = blk.u1, width = u1 - u0;
    /* Q K^T 16 keys at a time for every row that sees them: the 16 key rows stay in L1 while
     * the rows of the group use them, so K streams from memory once, beside the arithmetic */
    for (int64_t t = u0; t < u1; t += 16) {
      int64_t count = u1 - t < 16 ? u1 - t : 16;
      const float *group_keys = key + (k0 + t) * key_stride;
      /* the key rows four groups ahead are fetched into L2 (past the end: harmless), a quarter
       * of their lines before each four keys' products, so that the arithmetic hides the
       * fetches. Into L1 and two groups ahead read K at 59 to 67 % of a plain read's rate at
       * T = 16384, four groups ahead into L2 at 81 to 82 %; all 128 lines of a group at once
       * left the fetches waiting for the core's miss buffers with the products queued behind
       * them: spread out, the step went from 5.24-5.38 ms to 4.27-4.60 (docs/performance.md) */
      const char *ahead = (const char *)(group_keys + KEY_PREFETCH_ROWS * key_stride);
      const int64_t lines = 16 * row_bytes; /* bytes, in 64-byte lines */
      int64_t fetched = 0;
      /* four rows at a time (a row's scores outside its keys are overwritten with -inf below),
       * the rest one by one */
      int first = 0;
      for (; first + 4 <= rows; first += 4) {
        for (int64_t j0 = 0; j0 < 16; j0 += 4) {
          for (int64_t stop = lines * (j0 + 4) / 16; fetched < stop; fetched += 64) {
            _mm_prefetch(row_byte(ahead, fetched, row_bytes, stride_bytes), _MM_HINT_T1);
          }
          qk_rows4(query + first, group_keys + j0 * key_stride, key_stride, count - j0, dim,
                   after, s->zero, s->scores + first * SCORE_STRIDE + t + j0);
        }
      }
      for (; fetched < lines; fetched += 64) {
        _mm_prefetch(row_byte(ahead, fetched, row_bytes, stride_bytes), _MM_HINT_T1);
      }
      for (int r = first; r < rows; r++) {
        if (t + 16 > from[r] && t < to[r]) {
          qk_group(query[r], group_keys, key_stride, count, dim, after, s->zero,
                   s->scores + r * SCORE_STRIDE + t);
        }
      }
    }
    for (int r = 0; r < rows; r++) {
      float *scores = s->scores + r * SCORE_STRIDE;
      if (to[r] <= from[r]) {
        decode_fill(scores, u0, u1, -INFINITY);
      } else {
        decode_fill(scores, u0, from[r], -INFINITY);
        decode_fill(scores, to[r], u1, -INFINITY);
        if (job->softcap != 0.0f) {
          softcap_row(scores + from[r], to[r] - from[r], job->tanh_inner, job->softcap);
        }
        if (job->mask_type != MASK_NONE) {
          int64_t stride = job->mask_stride[3];
          it.visible[r] += mask_scores(
              mask_at(job->mask, job->mask_type, it.mask_row[r] + (k0 + from[r]) * stride),
              job->mask_type, stride, to[r] - from[r], scores + from[r]);
        }
      }
      float rescale = softmax_step(scores + u0, width, (width + 15) / 16 * 16, job->weight_shift,
                                   job->weight_down, &it.row_max[r], &it.row_sum[r]);
      if (rescale != 1.0f) {
        rescale_row(s->out + r * job->out_stride, job->out_stride, rescale);
      }
    }
    if (value_dim > 64 && value_dim <= 128 && rows <= WHOLE_ROWS_MAX) {
      pv_whole_rows(rows, width, s->scores + u0, value + (k0 + u0) * value_stride, value_dim,
                    value_stride, s->out, job->out_stride);
      continue;
    }
    for (int64_t c = 0; c < value_dim; c += 64) {
      for (int r = 0; r < rows; r += PV_ROWS) {
        pv_tile(rows - r < PV_ROWS ? rows - r : PV_ROWS, width, s->scores + r * SCORE_STRIDE + u0,
                value + (k0 + u0) * value_stride + c, value_stride,
                s->out + r * job->out_stride + c, job->out_stride, value_dim - c);
      }
    }
  }
  decode_item_end(job, item, s, &it);
}

int64_t decode_items(const decode_job *job) {
  return job->batch * job->groups * job->row_blocks * job->chunks;
}

/*
 * The partial results of the last job, kept for the next one when they are at most KEEP_FLOATS
 * (as the prefill kernel keeps its packed keys): allocating and freeing them per token would cost
 * page faults, and an munmap a TLB shootdown on every thread.
 */
#define KEEP_FLOATS (1 << 20) /* 4 MiB */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static float *kept_partials;
static int64_t kept_floats;

int decode_alloc(decode_job *job) {
  score_factors f = derive_score_factors(job->scale, job->softcap, job->keys);
  job->qk_factor = f.qk_factor;
  job->qk_after = f.qk_after;
  job->tanh_inner = f.tanh_inner;
  job->weight_shift = f.weight_shift;
  job->weight_down = f.weight_down;
  job->group_rows = job->heads / job->groups * job->queries;
  job->block_rows = job->group_rows < DECODE_ROWS ? job->group_rows : DECODE_ROWS;
  job->row_blocks = (job->group_rows + DECODE_ROWS - 1) / DECODE_ROWS;
  job->out_stride = (job->value_dim + 63) / 64 * 64;
  job->partial_out = NULL;
  job->partial_max = NULL;
  job->partial_sum = NULL;
  job->partial_visible = NULL;
  job->arrivals = NULL;
  if (job->workers < 1 || job->workers > MAX_WORKERS) {
    job->workers = job->workers < 1 ? 1 : MAX_WORKERS;
  }
  /* split the keys while there are fewer than ITEMS_PER_WORKER items per thread, into chunks of
   * at least DECODE_MIN_CHUNK keys of the longest sequence */
  int64_t longest = 0;
  for (int64_t b = 0; b < job->batch; b++) {
    int64_t count = job->valid != NULL ? job->valid[b] : job->keys;
    count = count < job->keys ? count : job->keys;
    longest = count > longest ? count : longest;
  }
  int64_t base = job->batch * job->groups * job->row_blocks;
  int64_t wanted = (int64_t)job->workers * ITEMS_PER_WORKER;
  int64_t chunks = base >= wanted || base == 0 ? 1 : (wanted + base - 1) / base;
  int64_t most = longest / DECODE_MIN_CHUNK;
  job->chunks = chunks < most ? chunks : (most > 1 ? most : 1);
  int64_t items = decode_items(job);
  job->workers = work_split_init(&job->split, items, job->workers);
  if (job->chunks == 1) {
    return 0;
  }
  int64_t rows = items * job->block_rows;
  int64_t floats = rows * job->out_stride;
  job->partial_floats = floats;
  pthread_mutex_lock(&kept_lock);
  if (kept_partials != NULL && kept_floats >= floats) {
    job->partial_out = kept_partials;
    job->partial_floats = kept_floats;
    kept_partials = NULL;
  }
  pthread_mutex_unlock(&kept_lock);
  if (job->partial_out == NULL) {
    job->partial_out = alloc_floats(floats);
  }
  job->partial_max = malloc(sizeof(float) * rows);
  job->partial_sum = malloc(sizeof(float) * rows);
  job->partial_visible = malloc(sizeof(int64_t) * rows);
  job->arrivals = calloc((size_t)(base > 0 ? base : 1), sizeof(int));
  if (!job->partial_out || !job->partial_max || !job->partial_sum || !job->partial_visible ||
      !job->arrivals) {
    return -1;
  }
  return 0;
}

void decode_free(decode_job *job) {
  float *spare = job->partial_out;
  if (spare != NULL && job->partial_floats <= KEEP_FLOATS) {
    pthread_mutex_lock(&kept_lock);
    if (kept_partials == NULL || kept_floats < job->partial_floats) {
      float *old = kept_partials;
      kept_partials = spare;
      kept_floats = job->partial_floats;
      spare = old;
    }
    pthread_mutex_unlock(&kept_lock);
  }
  free(spare);
  free(job->partial_max);
  free(job->partial_sum);
  free(job->partial_visible);
  free(job->arrivals);
  free(job->valid);
  job->partial_out = NULL;
  job->partial_max = NULL;
  job->partial_sum = NULL;
  job->partial_visible = NULL;
  job->arrivals = NULL;
  job->valid = NULL;
}

static void compute_any(void *job, int64_t item, void *s) {
  if (((decode_job *)job)->avx2) {
    decode_compute_avx2(job, item, s);
  } else {
    compute_item(job, item, s);
  }
}

int64_t decode_work(decode_job *job) {
  decode_scratch *s = thread_scratch(job);
  if (s == NULL) {
    return -1;
  }
  return work_split_run(&job->split, compute_any, job, s);
}

static int64_t work_decode_job(void *job) { return decode_work(job); }

int64_t decode_work_openmp(decode_job *job) {
  return attention_team_run(work_decode_job, job, job->workers);
}
