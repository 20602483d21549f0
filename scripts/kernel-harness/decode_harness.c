/*
 * Times the native decode kernel (decode_kernel.c, decode_avx2.c) without the JVM: one step of
 * H = 32, G = 8, D = 128 against T keys, K and V on transparent huge pages, decode_work on
 * `threads` pthreads; prints the best, median and mean of `reps` steps after the first and the
 * read rate of K and V at the best.
 *
 *   decode_harness T threads reps avx2 [S]
 *
 * With HARNESS_TEAM=openmp the steps run on libgomp's thread team instead (decode_work_openmp), as
 * they do in the JVM on libtorch's threads, so that no thread is created per step; build with
 * `-Wl,--no-as-needed -lgomp` for that (docs/performance.md, issue 14's twelfth pass).
 */
#include "harness.h" /* first: it defines _GNU_SOURCE */

#include <stdio.h>
#include <string.h>

#include "attention_kernel.h"
#include "decode_kernel.h"

static int64_t work(void *job) { return decode_work(job); }

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: decode_harness T threads reps avx2 [S]\n");
    return 2;
  }
  const int64_t T = atol(argv[1]), H = 32, G = 8, D = 128;
  const int threads = atoi(argv[2]), reps = atoi(argv[3]), avx2 = atoi(argv[4]);
  const int64_t S = argc > 5 ? atol(argv[5]) : 1;
  if (T < 1 || S < 1 || threads < 1 || threads > 64 || reps < 2 || cpu_level() < 1 ||
      (cpu_level() < 2 && !avx2)) {
    fprintf(stderr, "bad arguments, or this CPU lacks the variant (cpu_level %d)\n", cpu_level());
    return 2;
  }
  const int team = harness_wants_team();
  if (team && !attention_find_openmp()) {
    fprintf(stderr, "HARNESS_TEAM=openmp, but no libgomp is loaded (link -lgomp)\n");
    return 2;
  }
  srand(1);
  float *q = uniform(H * S * D, 1), *k = uniform(G * T * D, 1), *v = uniform(G * T * D, 1);
  float *o = uniform(H * S * D, 1);
  double best = 1e300, total = 0;
  double *times = calloc(reps, sizeof(double));
  for (int r = 0; r < reps; r++) {
    decode_job job;
    memset(&job, 0, sizeof job);
    job.query = q;
    job.key = k;
    job.value = v;
    job.output = o;
    job.batch = 1;
    job.heads = H;
    job.groups = G;
    job.queries = S;
    job.keys = T;
    job.dim = D;
    job.value_dim = D;
    job.at = dense_layout(job.heads, job.groups, job.queries, job.keys, job.dim, job.value_dim, 0);
    job.scale = 0.0883883f;
    job.left = -1;
    job.right = -1;
    job.workers = threads;
    job.avx2 = avx2;
    double start = now_ms();
    if (decode_alloc(&job) != 0) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
    if (team) {
      decode_work_openmp(&job);
    } else {
      run_on_threads(work, &job, job.workers);
    }
    decode_free(&job);
    double ms = now_ms() - start;
    if (r > 0) {
      times[r - 1] = ms;
      total += ms;
      best = ms < best ? ms : best;
    }
  }
  double bytes = 2.0 * G * T * D * 4;
  qsort(times, reps - 1, sizeof(double), ascending);
  printf("decode T=%ld S=%ld threads=%d avx2=%d%s: best %.3f ms (%.1f GB/s), median %.3f ms, mean"
         " %.3f ms\n",
         (long)T, (long)S, threads, avx2, team ? " openmp" : "", best, bytes / best / 1e6,
         times[(reps - 1) / 2], total / (reps - 1));
  return 0;
}
