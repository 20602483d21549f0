/*
 * The decode step beside a plain read of its K and V, in the same rounds: what the "80 % of
 * the read bandwidth measured in the same run" asks, without the JVM. Each round runs one step of
 * H = 32, G = 8, D = 128 against T keys with the AVX-512 variant (where the CPU has it), one with
 * the AVX2 variant, and a plain read of the same K and V (each thread sums its half with 256-bit
 * loads), all on libgomp's team as in the JVM, K and V on transparent huge pages. It prints each
 * median and each step's read rate as a share of the plain read's.
 *
 *   decode_read_harness T threads rounds
 *
 * Build with `-Wl,--no-as-needed -lgomp` (the team is libgomp's). This VM's memory bandwidth moves
 * between about 30 and 60 GB/s from one minute to the next, so only figures of one process's rounds
 * compare (docs/performance.md, issue 14's thirteenth pass).
 */
#include "harness.h" /* first: it defines _GNU_SOURCE */

#include <immintrin.h>
#include <stdio.h>
#include <string.h>

#include "attention_kernel.h"
#include "decode_kernel.h"

typedef struct {
  const float *key, *value;
  int64_t floats; /* of K, and of V */
  int parts;
  int next;      /* the next part to read, taken atomically by the team's threads */
  double *sums; /* one per part, so that the reads are not optimized away */
} plain_read;

/* Sums parts of K and V, contiguous halves of the whole, as the team's threads take them. */
__attribute__((target("avx2"))) static int64_t read_parts(void *job) {
  plain_read *r = job;
  int64_t done = 0;
  for (int part; (part = __atomic_fetch_add(&r->next, 1, __ATOMIC_RELAXED)) < r->parts;) {
    int64_t total = 2 * r->floats, from = total * part / r->parts;
    int64_t to = total * (part + 1) / r->parts;
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
    for (int64_t i = from; i + 32 <= to; i += 32) {
      const float *p = i < r->floats ? r->key + i : r->value + (i - r->floats);
      for (int j = 0; j < 4; j++) {
        s[j] = _mm256_add_ps(s[j], _mm256_loadu_ps(p + 8 * j));
      }
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])));
    double sum = 0;
    for (int j = 0; j < 8; j++) {
      sum += lanes[j];
    }
    r->sums[part] = sum;
    done++;
  }
  return done;
}

static int64_t decode_on_team(void *job) { return decode_work(job); }

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: decode_read_harness T threads rounds\n");
    return 2;
  }
  const int64_t T = atol(argv[1]), H = 32, G = 8, D = 128;
  const int threads = atoi(argv[2]), rounds = atoi(argv[3]);
  if (T < 1 || threads < 1 || threads > 64 || rounds < 1 || cpu_level() < 1) {
    fprintf(stderr, "bad arguments, or this CPU lacks AVX2 and FMA (cpu_level %d)\n",
            cpu_level());
    return 2;
  }
  if (!attention_find_openmp()) {
    fprintf(stderr, "no libgomp is loaded (link -Wl,--no-as-needed -lgomp)\n");
    return 2;
  }
  const int variants = cpu_level() >= 2 ? 2 : 1; /* AVX2, then AVX-512 where the CPU has it */
  srand(1);
  float *q = uniform(H * D, 1), *k = uniform(G * T * D, 1), *v = uniform(G * T * D, 1);
  float *o = uniform(H * D, 1);
  double *times[3];
  for (int i = 0; i < 3; i++) {
    times[i] = calloc(rounds, sizeof(double));
  }
  double sums[64];
  for (int r = 0; r < rounds; r++) {
    for (int x = 0; x < variants; x++) {
      decode_job job;
      memset(&job, 0, sizeof job);
      job.query = q;
      job.key = k;
      job.value = v;
      job.output = o;
      job.batch = 1;
      job.heads = H;
      job.groups = G;
      job.queries = 1;
      job.keys = T;
      job.dim = D;
      job.value_dim = D;
      job.at = dense_layout(H, G, 1, T, D, D, 0);
      job.scale = 0.0883883f;
      job.left = -1;
      job.right = -1;
      job.workers = threads;
      job.avx2 = x == 0;
      double start = now_ms();
      if (decode_alloc(&job) != 0) {
        fprintf(stderr, "out of memory\n");
        return 1;
      }
      if (threads == 1) {
        decode_work(&job);
      } else {
        attention_team_run(decode_on_team, &job, threads);
      }
      decode_free(&job);
      times[x][r] = now_ms() - start;
    }
    plain_read read = {k, v, G * T * D, threads, 0, sums};
    double start = now_ms();
    attention_team_run(read_parts, &read, threads);
    times[2][r] = now_ms() - start;
  }
  for (int i = 0; i < 3; i++) {
    qsort(times[i], rounds, sizeof(double), ascending);
  }
  const double bytes = 2.0 * G * T * D * 4, plain = times[2][rounds / 2];
  printf("T=%ld threads=%d, medians of %d rounds: plain read of K and V %.3f ms (%.1f GB/s)",
         (long)T, threads, rounds, plain, bytes / plain / 1e6);
  const char *names[2] = {"AVX2", "AVX-512"};
  for (int x = variants - 1; x >= 0; x--) {
    double step = times[x][rounds / 2];
    printf("; %s step %.3f ms (%.1f GB/s, %.0f %% of the plain read)", names[x], step,
           bytes / step / 1e6, 100 * plain / step);
  }
  printf(" [%g]\n", sums[0] == sums[0] ? 0.0 : 1.0);
  return 0;
}
