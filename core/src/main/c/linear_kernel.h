/*
 * djl-attention few-row linear kernel: y = x W^T + b in float32 for a few rows of x (a generated
 * token's projections), for x86-64 CPUs with AVX-512.
 *
 * Shapes: x (M, K), W (N, K) as torch.nn.Linear and DJL's Linear store it, b (N) or none, y (M, N);
 * all dense, C order. Each row of W is read once for all M rows of x (in chunks of LINEAR_CHUNK
 * rows), so the weights stream from memory once per call: with M small the product is bound by
 * reading W, and this reads it at the memory's rate where libtorch's general matrix product (a
 * GEMV for M = 1) measured about half of it.
 *
 * The work is split into items of LINEAR_FEATURES output features, taken by the threads from one
 * atomic counter.
 */
#ifndef DJL_ATTENTION_LINEAR_KERNEL_H
#define DJL_ATTENTION_LINEAR_KERNEL_H

#include <stdint.h>

#define LINEAR_FEATURES 16 /* output features of a work item */
#define LINEAR_CHUNK 8     /* rows of x computed together against a pair of W's rows */

typedef struct {
  const float *x;
  const float *weight;
  const float *bias; /* NULL for none */
  float *y;
  int64_t rows, in, out; /* M, K, N */
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
