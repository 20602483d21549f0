/*
 * djl-attention decode kernel: float32 attention for few queries against many keys (decoding one
 * token, or a few speculative ones, over a KV cache), for x86-64 CPUs with AVX-512 or with AVX2
 * and FMA (a variant of its own, decode_avx2.c).
 *
 * Shape legend: B batch, H query heads, G key/value heads (H a multiple of G, R = H / G query heads
 * per group), S query length, T key length, D query/key head size, Dv value head size. The
 * tensors' rows lie as tensor_strides place them (attention_kernel.h): query (B, H, S, D), key
 * (B, G, T, D), value (B, G, T, Dv), output (B, H, S, Dv), heads first or sequence first.
 *
 * The R * S query rows of a group (its R heads times the S queries) are computed together, so
 * each key and value row is read once per group, straight from the caller's memory (no packing);
 * when there are too few groups to keep every thread busy, the keys are split into chunks whose
 * partial results (row maximum, sum and unnormalized output) are merged by the thread that
 * finishes a group's last chunk.
 *
 * Which keys query i of batch b sees: key j < valid[b] (all T without `valid`), and, with query i
 * at position p = valid[b] - S + i (p = i without `valid`): j <= p (causal), j >= p - left (a left
 * window), j <= p + right (a right window). A row that sees no key, or whose keys the mask hides
 * entirely, gets zeros.
 */
#ifndef DJL_ATTENTION_DECODE_KERNEL_H
#define DJL_ATTENTION_DECODE_KERNEL_H

#include <stdint.h>

#include "attention_kernel.h"

typedef struct {
  const float *query;
  const float *key;
  const float *value;
  float *output;
  int64_t batch, heads, groups, queries, keys, dim, value_dim;
  tensor_layout at; /* where each tensor's rows lie */
  float scale;   /* the score factor; a normal float32 (checked in Java) */
  float softcap; /* 0, or c: scores become c * tanh(scores / c) before the mask */
  int causal;
  int64_t left, right;  /* the window around a query's position; -1 for unbounded */
  int64_t *valid;       /* NULL, or per batch the count of valid keys (owned by the job) */
  const void *mask;     /* as in attention_job: MASK_NONE, MASK_BOOL or MASK_FLOAT */
  int mask_type;
  int64_t mask_stride[4];
  int workers;
  int avx2; /* 1: the AVX2 variant (decode_avx2.c), on a CPU without AVX-512 or when asked */
  /* derived by decode_alloc */
  float qk_factor;
  int qk_after;
  float tanh_inner;
  float weight_shift;
  float weight_down;
  int64_t group_rows;  /* R * S */
  int64_t block_rows;  /* rows of a work item: min(group_rows, DECODE_ROWS) */
  int64_t row_blocks;  /* row blocks per (batch, group) */
  int64_t chunks;      /* chunks of the keys per (batch, group, row block) */
  int64_t out_stride;  /* floats per row of an unnormalized output, a multiple of 64 */
  work_split split;    /* the items among the threads */
  float *partial_out;      /* [item][block_rows][out_stride], when chunks > 1 */
  float *partial_max;      /* [item][block_rows] */
  float *partial_sum;      /* [item][block_rows] */
  int64_t *partial_visible; /* [item][block_rows] */
  int64_t partial_floats;   /* the size of partial_out */
  int *arrivals;            /* per (batch, group, row block): chunks finished */
} decode_job;

/*
 * Derives the factors, chooses the split of the keys and allocates the partial results; returns 0,
 * or -1 when out of memory. The caller fills in the shapes, pointers, settings and workers first,
 * and calls decode_free afterwards (also after a failure).
 */
int decode_alloc(decode_job *job);

/* Frees what decode_alloc allocated and the valid counts. */
void decode_free(decode_job *job);

/* The work items of a job: one per (batch, group, row block, chunk of the keys). */
int64_t decode_items(const decode_job *job);

/*
 * Computes work items until none is left, as attention_work does; up to `workers` threads may call
 * it on the same job. Returns the items this call computed, or -1 when it could not allocate its
 * scratch memory (it then took no item).
 */
int64_t decode_work(decode_job *job);

/* Runs decode_work on `job->workers` threads of libtorch's OpenMP team (attention_team_run). */
int64_t decode_work_openmp(decode_job *job);

#endif
