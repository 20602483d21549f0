/*
 * Times the native prefill kernel (attention_kernel.c, prefill_avx2.c) without the JVM: plans one
 * job of B = 1, H = G = 8, D = Dv = 64, S = T, runs attention_work on `threads` pthreads (the
 * caller among them) and prints the best and mean of `reps` calls after the first.
 *
 *   prefill_harness S threads reps avx2 [causal]
 *
 * avx2 1 runs the AVX2 variant (the only one on a CPU without AVX-512), 0 the AVX-512 one. Built
 * and run by run.sh. With HARNESS_TEAM=openmp the calls run on libgomp's thread team instead
 * (attention_work_openmp), as in the JVM on libtorch's threads: at S = 128 a call is short enough
 * that creating a pthread for it shows (build with `-Wl,--no-as-needed -lgomp` for that).
 */
#include "harness.h" /* first: it defines _GNU_SOURCE */

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attention_kernel.h"

static int64_t work(void *job) { return attention_work(job); }

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: prefill_harness S threads reps avx2 [causal]\n");
    return 2;
  }
  const int64_t S = atol(argv[1]), T = S, B = 1, H = 8, G = 8, D = 64;
  const int threads = atoi(argv[2]), reps = atoi(argv[3]), avx2 = atoi(argv[4]);
  const int causal = argc > 5 ? atoi(argv[5]) : 0;
  if (S < 1 || threads < 1 || threads > 64 || reps < 2 || (cpu_level() < 2 && !avx2) ||
      cpu_level() < 1) {
    fprintf(stderr, "bad arguments, or this CPU lacks the variant (cpu_level %d)\n", cpu_level());
    return 2;
  }
  const int team = harness_wants_team();
  if (team && !attention_find_openmp()) {
    fprintf(stderr, "HARNESS_TEAM=openmp, but no libgomp is loaded (link -lgomp)\n");
    return 2;
  }
  srand(1);
  float *q = uniform(B * H * S * D, 0), *o = uniform(B * H * S * D, 0);
  float *k = uniform(B * G * T * D, 0), *v = uniform(B * G * T * D, 0);
  double best = 1e300, total = 0;
  double *times = calloc(reps, sizeof(double));
  for (int r = 0; r < reps; r++) {
    attention_job job;
    memset(&job, 0, sizeof job);
    job.query = q;
    job.key = k;
    job.value = v;
    job.output = o;
    job.batch = B;
    job.heads = H;
    job.groups = G;
    job.queries = S;
    job.keys = T;
    job.dim = D;
    job.value_dim = D;
    job.at = dense_layout(job.heads, job.groups, job.queries, job.keys, job.dim, job.value_dim, 0);
    job.scale = 1.0f / sqrtf((float)D);
    job.causal = causal;
    job.workers = threads;
    job.avx2 = avx2;
    double start = now_ms();
    if (attention_alloc(&job) != 0) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    if (team) {
      attention_work_openmp(&job);
    } else {
      run_on_threads(work, &job, job.workers);
    }
    attention_free(&job);
    double ms = now_ms() - start;
    if (r > 0) { /* the first call pays for page faults and the scratch */
      times[r - 1] = ms;
      total += ms;
      best = ms < best ? ms : best;
    }
  }
  double flops = 4.0 * B * H * S * T * D * (causal ? 0.5 : 1.0);
  qsort(times, reps - 1, sizeof(double), ascending);
  printf("prefill S=%ld causal=%d threads=%d avx2=%d%s: best %.3f ms (%.1f GFLOP/s), median %.3f"
         " ms, mean %.3f ms\n",
         (long)S, causal, threads, avx2, team ? " openmp" : "", best, flops / best / 1e6,
         times[(reps - 1) / 2], total / (reps - 1));
  return 0;
}
