/*
 * Times the native few-row linear kernel (linear_kernel.c) without the JVM: y = x W^T + b for M
 * rows, K = N = 512 (a block's projection at E = 512), linear_work on `threads` pthreads; prints the
 * 10th percentile and the median of `reps` calls.
 *
 *   linear_harness M threads reps avx2
 */
#include "harness.h" /* first: it defines _GNU_SOURCE */

#include <stdio.h>
#include <string.h>

#include "linear_kernel.h"

static int64_t work(void *job) { return linear_work(job); }

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: linear_harness M threads reps avx2\n");
    return 2;
  }
  const int64_t M = atol(argv[1]), K = 512, N = 512;
  const int threads = atoi(argv[2]), reps = atoi(argv[3]), avx2 = atoi(argv[4]);
  if (M < 1 || threads < 1 || threads > 64 || reps < 1) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  srand(1);
  float *x = uniform(M * K, 0), *w = uniform(N * K, 0), *b = uniform(N, 0), *y = uniform(M * N, 0);
  double *ms = calloc(reps, sizeof(double));
  for (int r = 0; r < reps; r++) {
    linear_job job;
    memset(&job, 0, sizeof job);
    job.x = x;
    job.weight = w;
    job.bias = b;
    job.y = y;
    job.rows = M;
    job.in = K;
    job.out = N;
    job.avx2 = avx2;
    linear_plan(&job);
    double start = now_ms();
    run_on_threads(work, &job, threads);
    ms[r] = now_ms() - start;
  }
  qsort(ms, reps, sizeof(double), ascending);
  printf("linear M=%ld K=N=512 threads=%d avx2=%d: p10 %.4f ms, median %.4f ms\n", (long)M,
         threads, avx2, ms[reps / 10], ms[reps / 2]);
  return 0;
}
