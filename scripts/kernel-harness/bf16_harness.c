/*
 * Times the native bfloat16 kernel (attention_bf16.c, its vdpbf16ps products; AMX with amx 1)
 * without the JVM: one job of B = 1, H = G = 8, D = Dv = 64, S = T, on `threads` pthreads, or with
 * HARNESS_TEAM=openmp on libgomp's team as in the JVM (harness.h); prints the best and the median
 * of `reps` calls after the first. Needs AVX512_BF16 (and AMX-BF16 for amx 1).
 *
 *   bf16_harness S threads reps [amx]
 */
#include "harness.h" /* first: it defines _GNU_SOURCE */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attention_bf16.h"

static int64_t work(void *job) { return bf16_attention_work(job); }

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bf16_harness S threads reps [amx]\n");
    return 2;
  }
  const int64_t S = atol(argv[1]), T = S, H = 8, D = 64;
  const int threads = atoi(argv[2]), reps = atoi(argv[3]);
  const int amx = argc > 4 ? atoi(argv[4]) : 0;
  if (S < 1 || threads < 1 || threads > 64 || reps < 2 || !bf16_cpu_supported() ||
      (amx && !bf16_amx_supported())) {
    fprintf(stderr, "bad arguments, or this CPU lacks AVX512_BF16 (or AMX-BF16)\n");
    return 2;
  }
  const int team = harness_wants_team();
  if (team && !bf16_find_openmp()) {
    fprintf(stderr, "HARNESS_TEAM=openmp, but no libgomp is loaded (link -lgomp)\n");
    return 2;
  }
  srand(1);
  float *q = uniform(H * S * D, 0), *o = uniform(H * S * D, 0);
  float *k = uniform(H * T * D, 0), *v = uniform(H * T * D, 0);
  double *ms = calloc(reps, sizeof(double));
  for (int r = 0; r < reps; r++) {
    bf16_job job;
    memset(&job, 0, sizeof job);
    job.query = q;
    job.key = k;
    job.value = v;
    job.output = o;
    job.batch = 1;
    job.heads = H;
    job.groups = H;
    job.queries = S;
    job.keys = T;
    job.dim = D;
    job.value_dim = D;
    job.scale = 1.0f / sqrtf((float)D);
    job.workers = threads;
    job.amx = amx;
    double start = now_ms();
    if (bf16_attention_alloc(&job) != 0) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    if (team) {
      bf16_attention_work_openmp(&job);
    } else {
      run_on_threads(work, &job, job.workers);
    }
    bf16_attention_free(&job);
    ms[r] = now_ms() - start;
  }
  qsort(ms + 1, reps - 1, sizeof(double), ascending); /* the first call pays for page faults */
  double flops = 4.0 * H * S * T * D;
  printf("bf16 S=%ld threads=%d amx=%d%s: best %.3f ms (%.1f GFLOP/s), median %.3f ms\n", (long)S,
         threads, amx, team ? " openmp" : "", ms[1], flops / ms[1] / 1e6, ms[1 + (reps - 1) / 2]);
  return 0;
}
