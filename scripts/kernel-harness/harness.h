/*
 * What the kernel harnesses share: the clock, inputs, and a job run on several pthreads, the caller
 * among them.
 */
#ifndef DJL_ATTENTION_HARNESS_H
#define DJL_ATTENTION_HARNESS_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/*
 * Whether HARNESS_TEAM=openmp asks for libgomp's thread team, on which the kernels run in the JVM
 * (libtorch's threads), instead of pthreads created per call. The harness must be linked with
 * `-Wl,--no-as-needed -lgomp` for libgomp to be there.
 */
static inline int harness_wants_team(void) {
  const char *team = getenv("HARNESS_TEAM");
  return team != NULL && strcmp(team, "openmp") == 0;
}

/* qsort's order of doubles, for medians */
static inline int ascending(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* n floats, uniform in [-0.5, 0.5): 64-byte aligned, or (huge) 2 MiB aligned and on huge pages
 * where the kernel grants them */
static float *uniform(int64_t n, int huge) {
  const size_t align = huge ? 2u << 20 : 64;
  size_t bytes = ((size_t)n * 4 + align - 1) / align * align;
  float *p = aligned_alloc(align, bytes);
  if (huge) {
    madvise(p, bytes, MADV_HUGEPAGE);
  }
  for (int64_t i = 0; i < n; i++) {
    p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  }
  return p;
}

typedef struct {
  int64_t (*work)(void *job);
  void *job;
} harness_task;

static inline void *harness_worker(void *task) {
  harness_task *t = task;
  t->work(t->job);
  return NULL;
}

/* Runs work(job) on `threads` threads (at most 64): threads - 1 pthreads and the caller. */
static inline void run_on_threads(int64_t (*work)(void *), void *job, int threads) {
  harness_task task = {work, job};
  pthread_t helper[64];
  for (int i = 1; i < threads; i++) {
    pthread_create(&helper[i], NULL, harness_worker, &task);
  }
  work(job);
  for (int i = 1; i < threads; i++) {
    pthread_join(helper[i], NULL);
  }
}

#endif
