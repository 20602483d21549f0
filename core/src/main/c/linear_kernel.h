/*
 * djl-attention few-row linear kernel: y = x W^T + b in float32 for a few rows of x (a generated
 * token's projections, a short prompt's), for x86-64 CPUs with AVX-512, or with AVX2 and FMA (a
 * variant of its own: four rows of W against x for one row, tiles of 4 rows of x by 2 rows of W
 * for more, 8 accumulators each).
 *
 * Shapes: x (M, K), W (N, K) as torch.nn.Linear and DJL's Linear store it, b (N) or none, y (M, N);
 * all dense, C order. Every product is a dot product along K, where both x and W are contiguous,
 * so nothing is packed:
 * - M = 1: four rows of W at a time against x; the product is bound by reading W, and this reads it
 *   at the memory's rate where libtorch's general matrix product (a GEMV) measured about half of it.
 * - M = 2: two rows of W at a time against both rows of x (chunk_rows).
 * - M >= LINEAR_TILE_ROWS (3): tiles of 4 rows of x by 4 rows of W, 16 accumulators summed across
 *   lanes together (simd_reduce.h); each load feeds 4 multiply-adds. libtorch's product measured 1.1 to
 *   2.4 times slower from 4 to 128 rows on this project's machine (docs/performance.md).
 *
 * The work is split into items of LINEAR_FEATURES output features, taken by the threads from one
 * atomic counter.
 */
#ifndef DJL_ATTENTION_LINEAR_KERNEL_H
#define DJL_ATTENTION_LINEAR_KERNEL_H

#include <stdint.h>

#define LINEAR_FEATURES 16 /* output features of a work item */
#define LINEAR_CHUNK 2     /* rows of x (below LINEAR_TILE_ROWS) computed against a pair of W rows */
/* From this many rows, tiles of 4 rows x 4 features (a last tile of fewer rows repeats its last
 * row). At 3 rows the tiles took 0.020-0.024 ms against chunk_rows' 0.031-0.034 (K = N = 512, one
 * thread, AMD Zen 4, C harness), at 2 rows 0.023 against 0.019-0.023; it was 4 while the tiles'
 * accumulators still went through the stack (docs/performance.md, issue 14's eleventh pass). */
#define LINEAR_TILE_ROWS 3

typedef struct {
  const float *x;
  const float *weight;
  const float *bias; /* NULL for none */
  float *y;
  int64_t rows, in, out; /* M, K, N */
  int avx2;              /* 1: the AVX2 variant (no AVX-512, or asked for) */
  int64_t items;
  int64_t next; /* the next item, advanced atomically */
} linear_job;

/* Sets up a job's items; returns 0, or -1 when a size is not positive. */
int linear_plan(linear_job *job);

/* Computes items until none is left; any number of threads may call it. Returns the items done. */
int64_t linear_work(linear_job *job);

/* Runs the job on libtorch's OpenMP team of `workers` (attention_team_run). */
int64_t linear_work_openmp(linear_job *job, int workers);

#endif
