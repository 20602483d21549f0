/*
 * djl-attention native kernel: float32 scaled dot-product attention for x86-64 CPUs with AVX-512,
 * or AVX2 and FMA (the AVX2 variant).
 *
 * Shape legend: B batch, H query heads, G key/value heads (H a multiple of G), S query length,
 * T key length, D query/key head size, Dv value head size. Each tensor is four axes whose last
 * (D or Dv floats) is contiguous, its rows placed by tensor_strides: query (B, H, S, D), key
 * (B, G, T, D), value (B, G, T, Dv) and output (B, H, S, Dv) heads first, or each with its
 * sequence and head axes swapped (B, S, H, D), as a block's projections lay them out.
 */
#ifndef DJL_ATTENTION_KERNEL_H
#define DJL_ATTENTION_KERNEL_H

#include <stdint.h>

#define MAX_WORKERS 64

#define MASK_NONE 0
#define MASK_BOOL 1
#define MASK_FLOAT 2

/*
 * Where a tensor's rows lie: element strides between batches, heads and positions (its last axis
 * contiguous). Dense heads first (B, N, L, W): {N L W, L W, W}; dense sequence first (B, L, N, W):
 * {L N W, W, N W}.
 */
typedef struct {
  int64_t batch, head, row;
} tensor_strides;

/* The strides of a dense (B, N, L, W) tensor, or of a dense (B, L, N, W) one when sequence_first. */
static inline tensor_strides dense_strides(int64_t heads, int64_t length, int64_t width,
                                           int sequence_first) {
  tensor_strides at;
  at.batch = heads * length * width;
  at.head = sequence_first ? width : length * width;
  at.row = sequence_first ? heads * width : width;
  return at;
}

/* Where the rows of a call's four tensors lie. */
typedef struct {
  tensor_strides query, key, value, output;
} tensor_layout;

/*
 * The layout of a call's dense tensors, query (B, H, S, D), key (B, G, T, D), value (B, G, T, Dv)
 * and output (B, H, S, Dv), or, sequence first, each with its sequence and head axes swapped: the
 * same sizes either way, so a buffer's size check holds for both.
 */
static inline tensor_layout dense_layout(int64_t heads, int64_t groups, int64_t queries,
                                         int64_t keys, int64_t dim, int64_t value_dim,
                                         int sequence_first) {
  tensor_layout at;
  at.query = dense_strides(heads, queries, dim, sequence_first);
  at.key = dense_strides(groups, keys, dim, sequence_first);
  at.value = dense_strides(groups, keys, value_dim, sequence_first);
  at.output = dense_strides(heads, queries, value_dim, sequence_first);
  return at;
}

/*
 * A job's work items shared among the threads that compute it, the one way every kernel of the
 * library hands them out: range w starts as items [w n / W, (w + 1) n / W); each thread takes
 * the items of its own range first (consecutive items share their key/value head, whose data then
 * stay in that core's cache), then what is left of the others', one item at a time.
 */
typedef struct {
  int workers;               /* the ranges: how many threads will take items, 1 to MAX_WORKERS */
  int next_worker;           /* hands each work_split_run call its own range */
  int64_t next[MAX_WORKERS]; /* range w: the next item to take, advanced atomically */
  int64_t end[MAX_WORKERS];  /* range w: one past its last item */
} work_split;

/*
 * Splits `items` into one range per worker, for at most `workers` threads and no more threads
 * than items (at least 1, at most MAX_WORKERS); returns that count of threads.
 */
int work_split_init(work_split *split, int64_t items, int workers);

/*
 * Calls compute(job, item, scratch) for items of the split until none is left, its own range
 * first; up to `workers` threads may call it on the same split at once. Returns the items this
 * call computed.
 */
int64_t work_split_run(work_split *split, void (*compute)(void *job, int64_t item, void *scratch),
                       void *job, void *scratch);

typedef struct {
  const float *query;
  const float *key;
  const float *value;
  float *output;
  int64_t batch, heads, groups, queries, keys, dim, value_dim;
  tensor_layout at; /* where each tensor's rows lie */
  float scale;   /* the score factor, usually 1/sqrt(D); a normal float32 (checked in Java) */
  float softcap; /* 0, or c: scores become c * tanh(scores / c) before the mask; normal too */
  int causal;    /* query i sees keys j <= i */
  /*
   * Derived by attention_alloc from scale, softcap and T. The products Q K^T are multiplied by
   * qk_factor (scale, or scale / c folded in when that is a normal float32): before the product,
   * on the query, when qk_factor <= 1 (then no product can overflow that the unscaled one does
   * not); otherwise (qk_after) on each product, in the order the step-by-step chain uses. With a
   * softcap the scores then become c * tanh(scores * tanh_inner), tanh_inner being 1 when 1/c is
   * folded into qk_factor, else 1/c. Weights are 2^(log2(e) (score - row max)) * weight_down,
   * weight_down = 2^-weight_shift <= 1/T: it keeps their sum, and their sum with the values,
   * within the largest value (the unnormalized sum of T values near FLT_MAX would overflow).
   */
  float qk_factor;
  int qk_after;
  float tanh_inner;
  float weight_shift;
  float weight_down;
  /*
   * An optional mask broadcast to (B, H, S, T): MASK_NONE, MASK_BOOL (one byte per element,
   * nonzero = the key takes part) or MASK_FLOAT (float32, added to the scores). mask_stride gives
   * its element strides along B, H, S, T, 0 along a broadcast axis. A row whose keys are all
   * hidden by the mask (and the causal mask) gets a zero output.
   */
  const void *mask;
  int mask_type;
  int64_t mask_stride[4];
  int workers;          /* how many threads will call attention_work, 1 to MAX_WORKERS */
  int avx2;             /* run the AVX2 variant (prefill_avx2.c); 0 needs AVX-512 */
  work_split split;     /* the items among those threads */
  float *packed_keys;   /* (B * G, T/16 panels, D, 16): each key/value head packed once */
  int64_t packed_floats; /* the size of the packed_keys buffer */
  int *packed_state;    /* per key/value head: 0 not packed, 1 being packed, 2 packed */
} attention_job;

/*
 * Allocates the job's shared buffers (the packed keys) and splits its items into one range per
 * worker; returns 0, or -1 when out of memory. The caller fills in the shapes, pointers, scale,
 * causal flag and workers first, and calls attention_free afterwards.
 */
int attention_alloc(attention_job *job);

/* Frees what attention_alloc allocated. */
void attention_free(attention_job *job);

/*
 * Finds the OpenMP runtime libtorch loaded (the libgomp the process already holds) so that
 * attention_work_openmp can run on libtorch's own thread team; returns 1 when found.
 */
int attention_find_openmp(void);

/*
 * Runs attention_work on `job->workers` threads of libtorch's OpenMP team, the calling thread
 * among them, and returns the items computed. Needs attention_find_openmp to have returned 1.
 */
int64_t attention_work_openmp(attention_job *job);

/*
 * Runs work(job) on `workers` threads of libtorch's OpenMP team, the calling thread among them,
 * and returns the sum of what the calls returned (negative returns count as 0). Needs
 * attention_find_openmp to have returned 1.
 */
int64_t attention_team_run(int64_t (*work)(void *), void *job, int workers);

/*
 * The instruction set the library's float32 kernels find on this CPU: 2 for AVX-512 (avx512f; every
 * kernel), 1 for AVX2 and FMA (the prefill, decode and linear kernels' AVX2 variants), 0 for
 * neither.
 */
int cpu_level(void);

/* The work items of a job: one per (batch, head, block of query rows). */
int64_t attention_items(const attention_job *job);

/*
 * Computes work items of the job until none is left (work_split_run: its own range first, so
 * that a head's packed keys and values stay in this core's cache, then what is left of the
 * others'). Up to `workers` threads may call it on the same job at once. Returns the number of
 * items this call computed, or -1 when it could not allocate its scratch memory (it then took no
 * item).
 */
int64_t attention_work(attention_job *job);

#endif
