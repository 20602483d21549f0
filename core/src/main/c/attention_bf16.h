/*
 * djl-attention bfloat16 kernel: scaled dot-product attention whose two matrix products run on
 * bfloat16 inputs with float32 accumulation (AVX512_BF16's vdpbf16ps, or AMX-BF16's tdpbf16ps),
 * the scores, mask and softmax staying in float32. The inputs are float32; the kernel rounds them
 * to bfloat16 as it packs them.
 *
 * Shape legend: B batch, H query heads, G key/value heads (H a multiple of G), S query length,
 * T key length, D query/key head size, Dv value head size. All tensors are dense, C order:
 * query (B, H, S, D), key (B, G, T, D), value (B, G, T, Dv), output (B, H, S, Dv).
 *
 * What is rounded: each query row, each key/value head's keys and values are first multiplied by
 * a power of two that brings their largest magnitude into [1, 2) (exact), then rounded to
 * bfloat16 (8 significant bits, to nearest even); the power of two is taken out again in float32
 * after the products. So the rounding is that of 8 significant bits at any exponent: no input
 * overflows or becomes subnormal (the bfloat16 instructions treat subnormals as zero), and a
 * partial sum of the products overflows only where the score itself does. The weights of the
 * softmax are rounded to bfloat16 before the product with V, and their sum (the softmax's
 * denominator) is the sum of the rounded weights, so that the output stays a weighted average of
 * the (rounded) values.
 */
#ifndef DJL_ATTENTION_BF16_H
#define DJL_ATTENTION_BF16_H

#include <stdint.h>

#include "attention_kernel.h"

#define BF16_MASK_NONE 0
#define BF16_MASK_BOOL 1
#define BF16_MASK_FLOAT 2

typedef struct {
  const float *query;
  const float *key;
  const float *value;
  float *output;
  int64_t batch, heads, groups, queries, keys, dim, value_dim;
  float scale;   /* the score factor; a normal float32 (checked in Java) */
  float softcap; /* 0, or c: scores become c * tanh(scores / c) before the mask; normal too */
  int causal;    /* query i sees keys j <= i + causal_offset */
  int64_t causal_offset; /* 0: top left (the fast path's alignment); T - S: bottom right */
  /*
   * An optional mask broadcast to (B, H, S, T): BF16_MASK_NONE, BF16_MASK_BOOL (one byte per
   * element, nonzero = the key takes part) or BF16_MASK_FLOAT (float32, added to the scores in
   * float32). mask_stride gives its element strides along B, H, S, T, 0 along a broadcast axis. A
   * row whose keys are all hidden by the masks gets a zero output.
   */
  const void *mask;
  int mask_type;
  int64_t mask_stride[4];
  int workers; /* how many threads will call bf16_attention_work, 1 to MAX_WORKERS */
  int amx;     /* 1: both products run on AMX tiles (bf16_amx_supported() must have said 1) */

  /* Set by bf16_attention_alloc. */
  float qk_mantissa;  /* the products' factor (scale, or scale / c) = qk_mantissa * 2^qk_exponent */
  int qk_exponent;
  int64_t dim_pairs;  /* ceil(D / 2): bfloat16 pairs per query or key row */
  int64_t value_cols; /* Dv rounded up to 16 */
  work_split split;   /* the items among the threads (attention_kernel.h) */
  uint16_t *packed;   /* per key/value head: the keys, then the values (see bf16_head_size) */
  int64_t packed_bytes;
  int *packed_state;  /* per key/value head: 0 not packed, 1 being packed, 2 packed */
  int *key_shift;     /* per key/value head: the keys were multiplied by 2^key_shift */
  int *value_shift;   /* per key/value head: the values were multiplied by 2^value_shift */
  int *value_finite;  /* per key/value head: whether every value is finite */
} bf16_job;

/* Whether this CPU and OS run the kernel: AVX-512 F and BW, and AVX512_BF16. */
int bf16_cpu_supported(void);

/*
 * Whether this CPU has AMX-BF16 tiles that the OS supports (CPUID and XCR0; a process must still
 * ask Linux for the tile data with arch_prctl(ARCH_REQ_XCOMP_PERM) before it uses them).
 */
int bf16_cpu_has_amx(void);

/*
 * Whether jobs may set amx: the kernel runs (bf16_cpu_supported), the CPU has AMX-BF16 tiles, and
 * Linux granted this process the tile data (asked once, on the first call; the permission is the
 * whole process's).
 */
int bf16_amx_supported(void);

/*
 * Derives the factors, allocates the packed keys and values and splits the items into one range
 * per worker; returns 0, or -1 when out of memory. The caller fills in the shapes, pointers,
 * scale, softcap, causal flag and offset, mask and workers first, and calls bf16_attention_free
 * afterwards.
 */
int bf16_attention_alloc(bf16_job *job);

/* Frees what bf16_attention_alloc allocated. */
void bf16_attention_free(bf16_job *job);

/* The work items of a job: one per (batch, head, block of query rows). */
int64_t bf16_attention_items(const bf16_job *job);

/*
 * Computes work items until none is left, its own range first. Up to `workers` threads may call it
 * on the same job at once. Returns the number of items this call computed, or -1 when it could not
 * allocate its scratch memory (it then took no item).
 */
int64_t bf16_attention_work(bf16_job *job);

/* Finds libtorch's OpenMP runtime (GOMP_parallel of the loaded libgomp); returns 1 when found. */
int bf16_find_openmp(void);

/* Runs bf16_attention_work on `workers` threads of libtorch's OpenMP team; returns the items. */
int64_t bf16_attention_work_openmp(bf16_job *job);

#endif
