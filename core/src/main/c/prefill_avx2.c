/*
 * The prefill kernel's AVX2 variant (prefill_internal.h), for CPUs with AVX2 and FMA but without
 * AVX-512: the driver, the packed keys ([panel][D][16]) and the numerics of attention_kernel.c,
 * with eight-lane register tiles. Q K^T runs 6 query rows x 16 keys (one panel: two loads and six
 * broadcasts for twelve multiply-adds per step of D, 15 of the 16 vector registers); P V runs 6
 * rows x 16 value columns (pv8_tile), the weights of a tile read from L1 for every 16 columns.
 * The keys are packed 8 rows by 8 columns at a time through a register transpose.
 */
#include "attention_simd_avx2.h"
#include "prefill_internal.h"

#define QK8_ROWS 6 /* rows of the Q K^T tile (x 16 keys) */
#define PV8_ROWS 6 /* rows of the P V tile (x 16 value columns) */

/*
 * scores[r][0, 16) = (query[r] . the panel's 16 keys) * after, for R rows (after 1: none). The
 * accumulators are named variables, not arrays: gcc keeps an array of twelve vectors on the stack
 * (AVX2 has 16 registers), and the tile then ran at half speed.
 */
#define QK8_ROW(r, X) \
  if ((r) < ROWS) {   \
    X(r)              \
  }
#define QK8_ROWS_DO(X) \
  QK8_ROW(0, X) QK8_ROW(1, X) QK8_ROW(2, X) QK8_ROW(3, X) QK8_ROW(4, X) QK8_ROW(5, X)
#define QK8_ZERO(r) lo##r = hi##r = _mm256_setzero_ps();
#define QK8_FMA(r)                                          \
  {                                                         \
    const __m256 a = _mm256_broadcast_ss(query + (r) * dim + d); \
    lo##r = _mm256_fmadd_ps(a, b0, lo##r);                  \
    hi##r = _mm256_fmadd_ps(a, b1, hi##r);                  \
  }
#define QK8_SCALE(r)                 \
  lo##r = _mm256_mul_ps(lo##r, f); \
  hi##r = _mm256_mul_ps(hi##r, f);
#define QK8_STORE(r)                                             \
  _mm256_storeu_ps(scores + (r) * SCORE_STRIDE, lo##r);          \
  _mm256_storeu_ps(scores + (r) * SCORE_STRIDE + 8, hi##r);
#define QK8_TILE(R)                                                                   \
  static AVX2 void qk8_tile_##R(int64_t dim, const float *query, const float *panel,  \
                                float after, float *scores) {                         \
    enum { ROWS = R };                                                                \
    __m256 lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3, lo4, hi4, lo5, hi5;                \
    QK8_ROWS_DO(QK8_ZERO)                                                             \
    for (int64_t d = 0; d < dim; d++) {                                               \
      const __m256 b0 = _mm256_load_ps(panel + d * 16);                               \
      const __m256 b1 = _mm256_load_ps(panel + d * 16 + 8);                           \
      QK8_ROWS_DO(QK8_FMA)                                                            \
    }                                                                                 \
    if (after != 1.0f) {                                                              \
      const __m256 f = _mm256_set1_ps(after);                                         \
      QK8_ROWS_DO(QK8_SCALE)                                                          \
    }                                                                                 \
    QK8_ROWS_DO(QK8_STORE)                                                            \
  }
QK8_TILE(1)
QK8_TILE(2)
QK8_TILE(3)
QK8_TILE(4)
QK8_TILE(5)
QK8_TILE(6)

static AVX2 void qk8_tile(int rows, int64_t dim, const float *query, const float *panel,
                          float after, float *scores) {
  switch (rows) {
    case 6: qk8_tile_6(dim, query, panel, after, scores); break;
    case 5: qk8_tile_5(dim, query, panel, after, scores); break;
    case 4: qk8_tile_4(dim, query, panel, after, scores); break;
    case 3: qk8_tile_3(dim, query, panel, after, scores); break;
    case 2: qk8_tile_2(dim, query, panel, after, scores); break;
    default: qk8_tile_1(dim, query, panel, after, scores); break;
  }
}

/* qk_block of prefill_ops: one panel at a time, QK8_ROWS rows at a time */
static AVX2 void qk_block_avx2(int rows, int64_t dim, const float *query, const float *panels,
                               int64_t panel_count, float after, float *scores) {
  for (int64_t p = 0; p < panel_count; p++) {
    const float *panel = panels + p * dim * 16;
    for (int r = 0; r < rows; r += QK8_ROWS) {
      qk8_tile(rows - r < QK8_ROWS ? rows - r : QK8_ROWS, dim, query + r * dim, panel, after,
               scores + r * SCORE_STRIDE + p * 16);
    }
  }
}

/* pv_block of prefill_ops: PV8_ROWS rows at a time, each tile across the value columns */
static AVX2 void pv_block_avx2(int rows, int64_t n, const float *weights, const float *value,
                               int64_t value_dim, int64_t value_stride, float *out,
                               int64_t out_stride) {
  for (int r = 0; r < rows; r += PV8_ROWS) {
    const int tile = rows - r < PV8_ROWS ? rows - r : PV8_ROWS;
    const int width = pv8_columns(tile);
    for (int64_t c = 0; c < value_dim; c += width) {
      pv8_tile(tile, n, weights + r * SCORE_STRIDE, value + c, value_stride,
               out + r * out_stride + c, out_stride, value_dim - c);
    }
  }
}

/* r[i][j] = r[j][i]: an 8 x 8 transpose in registers (in-lane unpacks and shuffles, then the
 * 128-bit halves exchanged). */
static AVX2 INLINE void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  UNROLLED
  for (int i = 0; i < 4; i++) { /* rows 2i, 2i + 1, per half: a0 b0 a1 b1 | a2 b2 a3 b3 */
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  UNROLLED
  for (int g = 0; g < 2; g++) { /* rows 4g .. 4g + 3: u[4g + e] holds elements e and e + 4 */
    u[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  UNROLLED
  for (int e = 0; e < 4; e++) {
    r[e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x20);
    r[4 + e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x31);
  }
}

/* pack_keys of prefill_ops: 8 key rows by 8 of their columns at a time, transposed in registers */
static AVX2 void pack_keys_avx2(const float *key, int64_t keys, int64_t dim, int64_t row_stride,
                                float *packed) {
  int64_t panels = (keys + 15) / 16;
  for (int64_t p = 0; p < panels; p++) {
    float *panel = packed + p * dim * 16;
    int64_t count = keys - p * 16 < 16 ? keys - p * 16 : 16;
    for (int j0 = 0; j0 < 16; j0 += 8) {
      for (int64_t d0 = 0; d0 < dim; d0 += 8) {
        const int64_t width = dim - d0 < 8 ? dim - d0 : 8;
        const __m256i m = lanes8(width);
        __m256 r[8];
        UNROLLED
        for (int j = 0; j < 8; j++) {
          r[j] = j0 + j < count ? _mm256_maskload_ps(key + (p * 16 + j0 + j) * row_stride + d0, m)
                                : _mm256_setzero_ps();
        }
        transpose8(r);
        UNROLLED
        for (int i = 0; i < 8; i++) {
          if (i < width) {
            _mm256_storeu_ps(panel + (d0 + i) * 16 + j0, r[i]);
          }
        }
      }
    }
  }
}

/* scale_row of prefill_ops, 8 lanes at a time and the tail one by one (a masked store,
 * vmaskmovps, is microcoded and slow on AMD's cores) */
static AVX2 void scale_row_avx2(float *dst, const float *src, int64_t n, float factor) {
  const __m256 f = _mm256_set1_ps(factor);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_loadu_ps(src + i), f));
  }
  for (; i < n; i++) {
    dst[i] = src[i] * factor;
  }
}

const prefill_ops prefill_avx2 = {pack_keys_avx2,    scale_row_avx2,   qk_block_avx2,
                                  softcap_row_avx2,  mask_scores_avx2, softmax_step_avx2,
                                  rescale_row_avx2,  pv_block_avx2};
