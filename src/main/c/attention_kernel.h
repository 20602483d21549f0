/*
 * djl-attention native kernel: float32 scaled dot-product attention for x86-64 CPUs with AVX-512.
 *
 * Shape legend: B batch, H query heads, G key/value heads (H a multiple of G), S query length,
 * T key length, D query/key head size, Dv value head size. All tensors are dense, C order:
 * query (B, H, S, D), key (B, G, T, D), value (B, G, T, Dv), output (B, H, S, Dv).
 */
#ifndef DJL_ATTENTION_KERNEL_H
#define DJL_ATTENTION_KERNEL_H

#include <stdint.h>

typedef struct {
  const float *query;
  const float *key;
  const float *value;
  float *output;
  int64_t batch, heads, groups, queries, keys, dim, value_dim;
  float scale;  /* the score factor, usually 1/sqrt(D) */
  int causal;   /* query i sees keys j <= i */
  int64_t next; /* the next work item to take, advanced atomically by every worker */
} attention_job;

/* Whether this CPU runs the kernel (AVX-512 F). */
int attention_cpu_supported(void);

/* The work items of a job: one per (batch, head, block of query rows). */
int64_t attention_items(const attention_job *job);

/*
 * Takes work items from the job until none is left and computes them; any number of threads may
 * call it on the same job at once. Returns the number of items this call computed, or -1 when it
 * could not allocate its scratch memory (it then took no item).
 */
int64_t attention_work(attention_job *job);

#endif
