/*
 * The prefill kernel's AVX2 variant (prefill_internal.h), for CPUs with AVX2 and FMA but without
 * AVX-512: the driver, the packed keys ([panel][D][16]) and the numerics of attention_kernel.c,
 * with eight-lane register tiles. Q K^T runs 6 query rows x 16 keys (one panel: two loads and six
 * broadcasts for twelve multiply-adds per step of D, 15 of the 16 vector registers); P V runs 6
 * rows x 16 value columns (pv8_tile), the weights of a tile read from L1 for every 16 columns.
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

const prefill_ops prefill_avx2 = {qk_block_avx2,     softcap_row_avx2, mask_scores_avx2,
                                  softmax_step_avx2, rescale_row_avx2, pv_block_avx2};
