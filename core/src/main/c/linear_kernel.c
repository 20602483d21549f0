/* The few-row linear kernel; see linear_kernel.h. */
#include "linear_kernel.h"

#include <immintrin.h>

#include "attention_kernel.h"
#include "attention_scalar.h" /* UNROLLED */
#include "simd_reduce.h"

#define AVX512 __attribute__((target("avx512f,fma")))
#define AVX2 __attribute__((target("avx2,fma")))

int linear_plan(linear_job *job) {
  if (job->rows <= 0 || job->in <= 0 || job->out <= 0) {
    return -1;
  }
  job->items = (job->out + LINEAR_FEATURES - 1) / LINEAR_FEATURES;
  job->next = 0;
  return 0;
}

/* y[m][o] for one row of x against four rows of W (M = 1, the generated token): four streams. */
static AVX512 void one_row(const linear_job *job, int64_t o0, int64_t o1) {
  const int64_t in = job->in;
  const float *x = job->x;
  const __mmask16 tail = (__mmask16)((1u << (in % 16)) - 1u);
  const int64_t full = in - in % 16;
  int64_t o = o0;
  for (; o + 4 <= o1; o += 4) {
    const float *w0 = job->weight + o * in, *w1 = w0 + in, *w2 = w1 + in, *w3 = w2 + in;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (int64_t k = 0; k < full; k += 16) {
      __m512 xv = _mm512_loadu_ps(x + k);
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + k), xv, a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + k), xv, a1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + k), xv, a2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + k), xv, a3);
    }
    if (tail) {
      __m512 xv = _mm512_maskz_loadu_ps(tail, x + full);
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w0 + full), xv, a0);
      a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w1 + full), xv, a1);
      a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w2 + full), xv, a2);
      a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w3 + full), xv, a3);
    }
    float s[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2),
                  _mm512_reduce_add_ps(a3)};
    for (int j = 0; j < 4; j++) {
      job->y[o + j] = job->bias != NULL ? s[j] + job->bias[o + j] : s[j];
    }
  }
  for (; o < o1; o++) {
    const float *w = job->weight + o * in;
    __m512 a = _mm512_setzero_ps();
    for (int64_t k = 0; k < full; k += 16) {
      a = _mm512_fmadd_ps(_mm512_loadu_ps(w + k), _mm512_loadu_ps(x + k), a);
    }
    if (tail) {
      a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w + full),
                          _mm512_maskz_loadu_ps(tail, x + full), a);
    }
    float s = _mm512_reduce_add_ps(a);
    job->y[o] = job->bias != NULL ? s + job->bias[o] : s;
  }
}

/*
 * y[m][o] for rows m0 .. m0 + count - 1 of x (count <= LINEAR_CHUNK) against the W rows o0 .. o1 - 1,
 * two at a time: each chunk of 16 weights is loaded once and multiplied into every row.
 */
static AVX512 void chunk_rows(const linear_job *job, int64_t m0, int count, int64_t o0,
                              int64_t o1) {
  const int64_t in = job->in, out = job->out;
  const __mmask16 tail = (__mmask16)((1u << (in % 16)) - 1u);
  const int64_t full = in - in % 16;
  const float *x = job->x + m0 * in;
  for (int64_t o = o0; o < o1; o += 2) {
    const int pair = o + 1 < o1;
    const float *w0 = job->weight + o * in;
    const float *w1 = pair ? w0 + in : w0;
    __m512 a0[LINEAR_CHUNK], a1[LINEAR_CHUNK];
    UNROLLED
    for (int m = 0; m < LINEAR_CHUNK; m++) {
      a0[m] = _mm512_setzero_ps();
      a1[m] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k <= full; k += 16) {
      __mmask16 lanes = k < full ? (__mmask16)0xFFFF : tail;
      if (lanes == 0) {
        break;
      }
      __m512 v0 = _mm512_maskz_loadu_ps(lanes, w0 + k);
      __m512 v1 = _mm512_maskz_loadu_ps(lanes, w1 + k);
      UNROLLED
      for (int m = 0; m < LINEAR_CHUNK; m++) {
        if (m < count) {
          __m512 xv = _mm512_maskz_loadu_ps(lanes, x + m * in + k);
          a0[m] = _mm512_fmadd_ps(v0, xv, a0[m]);
          a1[m] = _mm512_fmadd_ps(v1, xv, a1[m]);
        }
      }
    }
    UNROLLED
    for (int m = 0; m < LINEAR_CHUNK; m++) { /* a constant bound: a0, a1 stay in registers */
      if (m >= count) {
        break;
      }
      float *y = job->y + (m0 + m) * out;
      float s0 = _mm512_reduce_add_ps(a0[m]);
      y[o] = job->bias != NULL ? s0 + job->bias[o] : s0;
      if (pair) {
        float s1 = _mm512_reduce_add_ps(a1[m]);
        y[o + 1] = job->bias != NULL ? s1 + job->bias[o + 1] : s1;
      }
    }
  }
}

/*
 * y[m0 + r][o0 + f] for a tile of up to 4 rows of x and 4 rows of W: the 16 dot products over K of
 * dot4x4 (simd_reduce.h), each load feeding 4 multiply-adds. Rows or features past the ends repeat
 * the last one and are not stored.
 */
static AVX512 void tile_4x4(const linear_job *job, int64_t m0, int rows, int64_t o0, int features) {
  const int64_t in = job->in, out = job->out;
  const float *x[4], *w[4];
  UNROLLED
  for (int i = 0; i < 4; i++) {
    x[i] = job->x + (m0 + (i < rows ? i : rows - 1)) * in;
    w[i] = job->weight + (o0 + (i < features ? i : features - 1)) * in;
  }
  float y[16];
  _mm512_storeu_ps(y, dot4x4(x, w, in)); /* lane 4 r + f */
  for (int r = 0; r < rows; r++) {
    float *row = job->y + (m0 + r) * out + o0;
    for (int f = 0; f < features; f++) {
      row[f] = job->bias != NULL ? y[4 * r + f] + job->bias[o0 + f] : y[4 * r + f];
    }
  }
}

/* y for all rows of x against the W rows o0 .. o1 - 1, in tiles of 4 x 4. */
static void tiles(const linear_job *job, int64_t o0, int64_t o1) {
  for (int64_t m0 = 0; m0 < job->rows; m0 += 4) {
    int rows = (int)(job->rows - m0 < 4 ? job->rows - m0 : 4);
    for (int64_t o = o0; o < o1; o += 4) {
      tile_4x4(job, m0, rows, o, (int)(o1 - o < 4 ? o1 - o : 4));
    }
  }
}

static inline void store_y(const linear_job *job, int64_t m, int64_t o, float sum) {
  job->y[m * job->out + o] = job->bias != NULL ? sum + job->bias[o] : sum;
}

/*
 * The AVX2 variant for rows m0 .. m0 + rows - 1 of x (1 to 4) against the W rows o0 .. o1 - 1, in
 * tiles of those rows by FEATURES (2, or 4 for a single row of x: four streams of W, as one_row)
 * rows of W: each 8 weights are loaded once for every row of x, each 8 of x once for the tile's
 * features.
 */
#define AVX2_TILE(ROWS, FEATURES)                                                              \
  static AVX2 void avx2_tile_##ROWS##_##FEATURES(const linear_job *job, int64_t m0, int64_t o,   \
                                                 int features) {                               \
    const int64_t in = job->in, full = in - in % 8;                                            \
    const __m256i tail = lanes8(in % 8);                                                       \
    const float *w[FEATURES], *x[ROWS];                                                        \
    UNROLLED                                                                                   \
    for (int f = 0; f < FEATURES; f++) {                                                       \
      w[f] = job->weight + (o + (f < features ? f : features - 1)) * in;                       \
    }                                                                                          \
    UNROLLED                                                                                   \
    for (int m = 0; m < ROWS; m++) {                                                           \
      x[m] = job->x + (m0 + m) * in;                                                           \
    }                                                                                          \
    __m256 acc[ROWS][FEATURES];                                                                \
    UNROLLED                                                                                   \
    for (int m = 0; m < ROWS; m++) {                                                           \
      UNROLLED                                                                                 \
      for (int f = 0; f < FEATURES; f++) {                                                     \
        acc[m][f] = _mm256_setzero_ps();                                                       \
      }                                                                                        \
    }                                                                                          \
    for (int64_t k = 0; k < full; k += 8) {                                                    \
      __m256 wv[FEATURES];                                                                     \
      UNROLLED                                                                                 \
      for (int f = 0; f < FEATURES; f++) {                                                     \
        wv[f] = _mm256_loadu_ps(w[f] + k);                                                     \
      }                                                                                        \
      UNROLLED                                                                                 \
      for (int m = 0; m < ROWS; m++) {                                                         \
        __m256 xv = _mm256_loadu_ps(x[m] + k);                                                 \
        UNROLLED                                                                               \
        for (int f = 0; f < FEATURES; f++) {                                                   \
          acc[m][f] = _mm256_fmadd_ps(wv[f], xv, acc[m][f]);                                   \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
    if (full < in) {                                                                           \
      __m256 wv[FEATURES];                                                                     \
      UNROLLED                                                                                 \
      for (int f = 0; f < FEATURES; f++) {                                                     \
        wv[f] = _mm256_maskload_ps(w[f] + full, tail);                                         \
      }                                                                                        \
      UNROLLED                                                                                 \
      for (int m = 0; m < ROWS; m++) {                                                         \
        __m256 xv = _mm256_maskload_ps(x[m] + full, tail);                                     \
        UNROLLED                                                                               \
        for (int f = 0; f < FEATURES; f++) {                                                   \
          acc[m][f] = _mm256_fmadd_ps(wv[f], xv, acc[m][f]);                                   \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
    UNROLLED                                                                                   \
    for (int m = 0; m < ROWS; m++) {                                                           \
      UNROLLED                                                                                 \
      for (int f = 0; f < FEATURES; f++) { /* a constant bound: acc stays in registers */      \
        if (f < features) {                                                                    \
          store_y(job, m0 + m, o + f, sum8(acc[m][f]));                                        \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
  }
AVX2_TILE(1, 4)
AVX2_TILE(2, 2)
AVX2_TILE(3, 2)
AVX2_TILE(4, 2)

/* y for all rows of x against the W rows o0 .. o1 - 1 with the AVX2 tiles. */
static void avx2_rows(const linear_job *job, int64_t o0, int64_t o1) {
  for (int64_t m0 = 0; m0 < job->rows; m0 += 4) {
    const int64_t rows = job->rows - m0 < 4 ? job->rows - m0 : 4;
    const int step = rows == 1 ? 4 : 2;
    for (int64_t o = o0; o < o1; o += step) {
      const int features = (int)(o1 - o < step ? o1 - o : step);
      switch (rows) {
        case 1:
          avx2_tile_1_4(job, m0, o, features);
          break;
        case 2:
          avx2_tile_2_2(job, m0, o, features);
          break;
        case 3:
          avx2_tile_3_2(job, m0, o, features);
          break;
        default:
          avx2_tile_4_2(job, m0, o, features);
          break;
      }
    }
  }
}

int64_t linear_work(linear_job *job) {
  int64_t done = 0;
  for (;;) {
    int64_t item = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
    if (item >= job->items) {
      break;
    }
    int64_t o0 = item * LINEAR_FEATURES;
    int64_t o1 = o0 + LINEAR_FEATURES < job->out ? o0 + LINEAR_FEATURES : job->out;
    if (job->avx2) {
      avx2_rows(job, o0, o1);
    } else if (job->rows == 1) {
      one_row(job, o0, o1);
    } else if (job->rows >= LINEAR_TILE_ROWS) {
      tiles(job, o0, o1);
    } else {
      for (int64_t m0 = 0; m0 < job->rows; m0 += LINEAR_CHUNK) {
        int64_t left = job->rows - m0;
        chunk_rows(job, m0, (int)(left < LINEAR_CHUNK ? left : LINEAR_CHUNK), o0, o1);
      }
    }
    done++;
  }
  return done;
}

static int64_t work_linear_job(void *job) { return linear_work(job); }

int64_t linear_work_openmp(linear_job *job, int workers) {
  return attention_team_run(work_linear_job, job, workers);
}
