/*
 * Flash-style float32 attention with AVX-512: for each (batch, head, block of BLOCK_ROWS query
 * rows) the keys are visited in blocks of BLOCK_KEYS; the block's scores stay in a per-thread
 * buffer (about 128 KiB, resident in L2), the softmax is kept online (running row maximum and sum,
 * the partial output rescaled when the maximum grows), and nothing of size S x T is ever held.
 *
 * Scores are kept in base-2 units: the query is multiplied by scale * log2(e) once, so that the
 * softmax needs 2^x, computed as 2^round(x) * 2^r with a degree-6 polynomial for r in [-1/2, 1/2].
 *
 * The two products run as register-blocked micro-kernels: Q K^T as 8 query rows x 32 keys against
 * K packed into panels of 16 keys ([panel][D][16], packed once per key/value head and thread);
 * P V as 6 query rows x 64 value columns straight from V's rows.
 */
#include "attention_kernel.h"

#include <immintrin.h>
#include <math.h>
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

/* 2^x per lane; x = -inf gives 0 and NaN stays NaN (max keeps its second operand on NaN). */
static AVX512 INLINE __m512 exp2_avx512(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-150.0f), x);
  __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_sub_ps(x, n);
  /* 2^r = 1 + r * P(r), minimax coefficients of the Cephes exp2f */
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
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

/* scores[r][0, 32) = query[r] . keys of two panels, for R rows */
#define QK_TILE(R)                                                                         \
  static AVX512 void qk_tile_##R(int64_t dim, const float *query, const float *panel0,     \
                                 const float *panel1, float *scores) {                     \
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
                           const float *panel1, float *scores) {
  switch (rows) {
    case 8: qk_tile_8(dim, query, panel0, panel1, scores); break;
    case 7: qk_tile_7(dim, query, panel0, panel1, scores); break;
    case 6: qk_tile_6(dim, query, panel0, panel1, scores); break;
    case 5: qk_tile_5(dim, query, panel0, panel1, scores); break;
    case 4: qk_tile_4(dim, query, panel0, panel1, scores); break;
    case 3: qk_tile_3(dim, query, panel0, panel1, scores); break;
    case 2: qk_tile_2(dim, query, panel0, panel1, scores); break;
    default: qk_tile_1(dim, query, panel0, panel1, scores); break;
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

/*
 * One online-softmax step for a row: turns the row's `valid` scores into 2^(s - max) in place
 * (zeros up to `padded`), updates the running maximum and sum, and returns the factor by which
 * the row's partial output must be rescaled.
 */
static AVX512 float softmax_step(float *scores, int64_t valid, int64_t padded, float *row_max,
                                 float *row_sum) {
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  int64_t t = 0;
  for (; t + 16 <= valid; t += 16) {
    vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(scores + t));
  }
  if (t < valid) {
    vmax = _mm512_mask_max_ps(vmax, lanes(valid - t), vmax, _mm512_loadu_ps(scores + t));
  }
  float block_max = _mm512_reduce_max_ps(vmax);
  float new_max = block_max > *row_max ? block_max : *row_max;
  /* a NaN score keeps new_max finite here; it reaches the output through 2^(NaN - max) */
  float rescale = *row_max == -INFINITY ? 0.0f : exp2f(*row_max - new_max);
  __m512 shift = _mm512_set1_ps(new_max == -INFINITY ? 0.0f : new_max);
  __m512 sum = _mm512_setzero_ps();
  for (t = 0; t + 16 <= valid; t += 16) {
    __m512 e = exp2_avx512(_mm512_sub_ps(_mm512_loadu_ps(scores + t), shift));
    sum = _mm512_add_ps(sum, e);
    _mm512_storeu_ps(scores + t, e);
  }
  if (t < valid) {
    __m512 e = _mm512_maskz_mov_ps(
        lanes(valid - t), exp2_avx512(_mm512_sub_ps(_mm512_loadu_ps(scores + t), shift)));
    sum = _mm512_add_ps(sum, e);
    _mm512_storeu_ps(scores + t, e);
    t += 16;
  }
  for (; t < padded; t += 16) {
    _mm512_storeu_ps(scores + t, _mm512_setzero_ps());
  }
  *row_sum = *row_sum * rescale + _mm512_reduce_add_ps(sum);
  *row_max = new_max;
  return rescale;
}

int64_t attention_items(const attention_job *job) {
  return job->batch * job->heads * ((job->queries + BLOCK_ROWS - 1) / BLOCK_ROWS);
}

typedef struct {
  float *packed_keys; /* (T/16 panels, D, 16) */
  float *query;       /* (BLOCK_ROWS, D), scaled */
  float *scores;      /* (BLOCK_ROWS, SCORE_STRIDE) */
  float *out;         /* (BLOCK_ROWS, out_stride), the unnormalized output */
  int64_t out_stride;
} scratch;

static void free_scratch(scratch *s) {
  free(s->packed_keys);
  free(s->query);
  free(s->scores);
  free(s->out);
}

/* aligned_alloc wants a size that is a multiple of the alignment */
static float *alloc_floats(int64_t count) {
  size_t bytes = ((size_t)count * sizeof(float) + 63) / 64 * 64;
  return aligned_alloc(64, bytes == 0 ? 64 : bytes);
}

static int alloc_scratch(const attention_job *job, scratch *s) {
  int64_t panels = (job->keys + 15) / 16;
  s->out_stride = (job->value_dim + 63) / 64 * 64;
  s->packed_keys = alloc_floats(panels * job->dim * 16);
  s->query = alloc_floats(BLOCK_ROWS * job->dim);
  s->scores = alloc_floats(BLOCK_ROWS * SCORE_STRIDE);
  s->out = alloc_floats(BLOCK_ROWS * s->out_stride);
  if (!s->packed_keys || !s->query || !s->scores || !s->out) {
    free_scratch(s);
    return -1;
  }
  return 0;
}

static AVX512 void compute_item(const attention_job *job, int64_t item, scratch *s,
                                int64_t *packed_head) {
  const int64_t dim = job->dim, value_dim = job->value_dim, keys = job->keys;
  const int64_t queries = job->queries, group = job->heads / job->groups;
  const int64_t blocks = (queries + BLOCK_ROWS - 1) / BLOCK_ROWS;
  const int64_t head = item / blocks; /* b * H + h */
  const int64_t first_row = (item % blocks) * BLOCK_ROWS;
  const int rows = (int)(queries - first_row < BLOCK_ROWS ? queries - first_row : BLOCK_ROWS);
  const int64_t kv_head = (head / job->heads) * job->groups + (head % job->heads) / group;
  const float *value = job->value + kv_head * keys * value_dim;
  if (*packed_head != kv_head) {
    pack_keys(job->key + kv_head * keys * dim, keys, dim, s->packed_keys);
    *packed_head = kv_head;
  }
  const float factor = job->scale * 1.44269504088896341f; /* scores in base-2 units */
  const float *query = job->query + (head * queries + first_row) * dim;
  for (int64_t i = 0; i < rows * dim; i++) {
    s->query[i] = query[i] * factor;
  }
  float row_max[BLOCK_ROWS], row_sum[BLOCK_ROWS];
  for (int r = 0; r < rows; r++) {
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
  }
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
      const float *panel0 = s->packed_keys + (k0 / 16 + p) * dim * 16;
      /* an odd last panel is paired with itself: its second half lands in the padding */
      const float *panel1 = p + 1 < panels ? panel0 + dim * 16 : panel0;
      for (int r = 0; r < rows; r += QK_ROWS) {
        qk_tile(rows - r < QK_ROWS ? rows - r : QK_ROWS, dim, s->query + r * dim, panel0, panel1,
                s->scores + r * SCORE_STRIDE + p * 16);
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
      float rescale = softmax_step(scores, valid, panels * 16, &row_max[r], &row_sum[r]);
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
    float inverse = 1.0f / row_sum[r];
    for (int64_t c = 0; c < value_dim; c++) {
      output[r * value_dim + c] = s->out[r * s->out_stride + c] * inverse;
    }
  }
}

int64_t attention_work(attention_job *job) {
  scratch s;
  if (alloc_scratch(job, &s) != 0) {
    return -1;
  }
  int64_t items = attention_items(job);
  int64_t done = 0;
  int64_t packed_head = -1;
  for (;;) {
    int64_t item = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
    if (item >= items) {
      break;
    }
    compute_item(job, item, &s, &packed_head);
    done++;
  }
  free_scratch(&s);
  return done;
}
