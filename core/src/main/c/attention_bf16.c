/*
 * Flash-style attention with bfloat16 products (AVX512_BF16), float32 accumulation and a float32
 * softmax. The structure is that of the float32 kernel (attention_kernel.c): for each (batch,
 * head, block of BLOCK_ROWS query rows) the keys are visited in blocks of BLOCK_KEYS, the block's
 * scores stay in a per-thread buffer, and the softmax is kept online (running row maximum and sum,
 * the partial output rescaled when the maximum grows). What differs:
 *
 * - Both products run on vdpbf16ps, which multiplies pairs of bfloat16 numbers exactly and adds
 *   both products to a float32 lane: Q K^T as QK_ROWS query rows x 32 keys, against the keys
 *   packed into panels of 16 keys ([panel][D/2][16 keys][2]: one 64-byte vector per pair of
 *   dimensions); P V as PV_ROWS rows x up to 64 value columns, against the values packed by pairs
 *   of keys ([T/2][Dv][2]). The weights are written as bfloat16 by the softmax, which rounds
 *   them with vcvtne2ps2bf16 (to nearest even) and sums the rounded weights.
 * - Or, for a job with amx set, both run on AMX tiles (tdpbf16ps: 16 x 16 float32 sums of 16
 *   pairs each per instruction): those panels and value pairs are already the tiles' right-hand
 *   layout, and the rounded query rows and weights their left-hand one, so the packing is the same
 *   but for zeros up to 32 dimensions and 32 keys. Q K^T is stored unscaled: each row's factor
 *   goes into the softmax where nothing comes between (no softcap, no mask, a normal float32
 *   factor), else it is applied before the softcap (scale_row); everything else is shared.
 * - The keys and values of a key/value head are rounded and packed once per call, by whichever
 *   thread first needs them (the others wait); each query block is rounded by its thread.
 * - Every query row and every key/value head is first multiplied by the power of two that brings
 *   its largest magnitude into [1, 2) (see attention_bf16.h), and the power is taken out of the
 *   scores (with vscalefps, exact) and of the output. So the products never overflow or underflow
 *   (vdpbf16ps treats subnormal inputs as zero and flushes subnormal results), and the factor
 *   scale (or scale / softcap) is applied to the float32 scores as one mantissa and one exponent.
 *
 * Scores, the softcap, the mask and the softmax stay in float32, in natural units, as in the
 * float32 kernel (a mask of -FLT_MAX stays finite; a row whose keys are all hidden gets zeros).
 */
#define _DEFAULT_SOURCE /* syscall, for arch_prctl */
#include "attention_bf16.h"
#include "attention_kernel.h"

#include <cpuid.h>
#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BLOCK_ROWS 64  /* query rows per work item */
#define BLOCK_KEYS 512 /* keys per online-softmax step (even: a pair of keys never straddles) */
#ifndef QK_ROWS
#define QK_ROWS 8 /* rows of the Q K^T micro-kernel (x 32 keys) */
#endif
_Static_assert(BLOCK_ROWS % QK_ROWS == 0, "a block's query rows are interleaved by QK_ROWS");
#ifndef PV_ROWS
#define PV_ROWS 8 /* rows of the P V micro-kernel (x 16 PV_VECTORS value columns) */
#endif
#ifndef PV_VECTORS
#define PV_VECTORS 2
#endif
#define SCORE_STRIDE (BLOCK_KEYS + 32) /* floats per row of scores */
#define WEIGHT_STRIDE (BLOCK_KEYS + 32) /* bfloat16 numbers per row of weights */

/* log2(e) as the float32 that every product with it uses */
#define LOG2E 1.44269504088896341f
/* Below this |max log2(e)| the exponent s log2(e) - max log2(e) is one fused multiply-add. */
#define FUSED_MAX 256.0f

#define BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma")))
#define AMX                                                                                  \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma,amx-tile,amx-bf16")))
#define INLINE __attribute__((always_inline)) inline

int bf16_cpu_supported(void) {
  __builtin_cpu_init();
  /* libgcc's checks include the OS's support for the AVX-512 register state (XGETBV) */
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bf16");
}

int bf16_cpu_has_amx(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !((d >> 22) & 1) || !((d >> 24) & 1)) {
    return 0; /* no AMX-BF16 or no AMX-TILE */
  }
  if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1)) {
    return 0; /* no OSXSAVE: XGETBV is not available */
  }
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  return (lo & (3u << 17)) == (3u << 17); /* the OS saves XTILECFG and XTILEDATA */
}

/* Linux's arch_prctl codes for the AMX tile data (asm/prctl.h; the libc headers may lack them) */
#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_permitted;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void request_amx(void) {
  if (!bf16_cpu_supported() || !bf16_cpu_has_amx() ||
      syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
    return;
  }
  unsigned long features = 0;
  amx_permitted = syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &features) == 0 &&
                  ((features >> XFEATURE_XTILEDATA) & 1);
}

int bf16_amx_supported(void) {
  pthread_once(&amx_once, request_amx);
  return amx_permitted;
}

static __mmask16 lanes(int64_t count) {
  return count >= 16 ? (__mmask16)0xFFFF
                     : count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1);
}

static __mmask32 lanes32(int64_t count) {
  return count >= 32 ? (__mmask32)0xFFFFFFFFu
                     : count <= 0 ? (__mmask32)0 : (__mmask32)((1u << count) - 1);
}

/*
 * The range reduction of 2^x for x <= 0: x clamped to -126, n its nearest integer and r = x - n
 * in [-1/2, 1/2], so that 2^x = 2^n * 2^r. Returns the lanes at or above -126 (NaN among them);
 * below, the result is flushed to 0 (a subnormal weight would be treated as 0 by the products).
 */
static BF16 INLINE __mmask16 exp2_reduce(__m512 x, __m512 *n, __m512 *r) {
  const __m512 lo = _mm512_set1_ps(-126.0f);
  __mmask16 normal = _mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ);
  x = _mm512_max_ps(lo, x);
  *n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  *r = _mm512_sub_ps(x, *n);
  return normal;
}

/*
 * 2^x per lane for x <= 0, flushed to 0 below 2^-126. x = -inf gives 0; NaN stays NaN. As in the
 * float32 kernel: 2^round(x) * 2^r with a degree-6 polynomial for r in [-1/2, 1/2].
 */
static BF16 INLINE __m512 exp2_bf16(__m512 x) {
  __m512 n, r;
  __mmask16 normal = exp2_reduce(x, &n, &r);
  __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.339887440266574e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(9.618437357674640e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.550332471162809e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(2.402264791363012e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(6.931472028550421e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(normal, p, n);
}

/*
 * The softmax's weights: 2^(y - 1/2) per lane, for y = x + 1/2 with x <= 0 as the caller computes
 * it (the half folded into its multiply-add's constant). Where the weight is rounded to bfloat16
 * right after, a degree-6 polynomial buys digits the rounding throws away, on the two FMA pipes
 * that also run the products, so this one has degree 3: relative error 7.7e-5, 2 to 4 % of the
 * rounding's half-step (2^-9 to 2^-8 of the value). The range reduction is two instructions:
 * vreduceps gives u = y - floor(y) in [0, 1) (1 - 2^-24 for a tiny negative y, where rounding to
 * nearest would give 1) and vscalefps multiplies by 2^floor(y) for the same y, so the pair is
 * consistent; the polynomial is that of 2^r on [-1/2, 1/2] (a least-squares fit of the relative
 * error at Chebyshev nodes) with r = u - 1/2 expanded into it. y = -inf gives 0 (vreduceps gives
 * 0 there), NaN stays NaN, and below 2^-126 the weight is subnormal, which the bfloat16 rounding
 * flushes to 0. The row's largest score still gets the weight 1 after rounding.
 */
static BF16 INLINE __m512 exp2_weight(__m512 y) {
  __m512 u = _mm512_reduce_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 p = _mm512_set1_ps(5.5088683807508816e-2f);
  p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(1.5997102574821565e-1f));
  p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(4.919887030781145e-1f));
  p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(7.070557469174598e-1f));
  return _mm512_scalef_ps(p, y);
}

/*
 * tanh per lane: an odd polynomial below |x| = 0.625 (Cephes tanhf coefficients), else
 * (1 - e) / (1 + e) with e = exp(-2|x|), the sign put back. ±inf gives ±1, NaN stays NaN.
 */
static BF16 INLINE __m512 tanh_bf16(__m512 x) {
  const __m512i sign_bit = _mm512_set1_epi32((int)0x80000000u);
  __m512 a = _mm512_abs_ps(x);
  __m512 z = _mm512_mul_ps(x, x);
  __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
  __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
  __m512 e = exp2_bf16(_mm512_mul_ps(a, _mm512_set1_ps(-2.0f * LOG2E)));
  __m512 large = _mm512_div_ps(_mm512_sub_ps(_mm512_set1_ps(1.0f), e),
                               _mm512_add_ps(_mm512_set1_ps(1.0f), e));
  large = _mm512_castsi512_ps(_mm512_or_epi32(
      _mm512_castps_si512(large), _mm512_and_epi32(_mm512_castps_si512(x), sign_bit)));
  __mmask16 use_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm512_mask_mov_ps(large, use_small, small);
}

/* The largest |x| over n floats, as its bit pattern (above 0x7F800000 for NaN). */
static BF16 uint32_t max_abs_bits(const float *x, int64_t n) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
  __m512i m = _mm512_setzero_si512();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    m = _mm512_max_epu32(m, _mm512_and_si512(_mm512_loadu_si512(x + i), abs_mask));
  }
  if (i < n) {
    m = _mm512_max_epu32(m, _mm512_and_si512(_mm512_maskz_loadu_epi32(lanes(n - i), x + i),
                                             abs_mask));
  }
  return (uint32_t)_mm512_reduce_max_epu32(m);
}

/*
 * The power of two that brings a largest magnitude into [1, 2): -floor(log2(max)); 0 for 0, an
 * infinity or NaN (which then propagate as they are).
 */
static int normalizing_shift(uint32_t max_bits) {
  if (max_bits == 0 || max_bits >= 0x7F800000u) {
    return 0;
  }
  float max;
  memcpy(&max, &max_bits, sizeof(max));
  return -ilogbf(max); /* subnormals included */
}

/*
 * Rounds x[0, n) * 2^shift to bfloat16 (to nearest even) into out[0, pairs * 2), zeros after n:
 * `pairs` 32-bit words, each two consecutive numbers.
 */
static BF16 void round_row(const float *x, int64_t n, int shift, uint32_t *out, int64_t pairs) {
  const __m512 factor = _mm512_set1_ps((float)shift);
  for (int64_t i = 0; i < 2 * pairs; i += 32) {
    __m512 x0 = _mm512_maskz_loadu_ps(lanes(n - i), x + i);
    __m512 x1 = _mm512_maskz_loadu_ps(lanes(n - i - 16), x + i + 16);
    if (shift != 0) {
      x0 = _mm512_scalef_ps(x0, factor);
      x1 = _mm512_scalef_ps(x1, factor);
    }
    __m512i packed = (__m512i)_mm512_cvtne2ps_pbh(x1, x0); /* x0's in the low half */
    _mm512_mask_storeu_epi16((uint16_t *)out + i, lanes32(2 * pairs - i), packed);
  }
}

/* 16 floats * 2^shift rounded to bfloat16, one per 32-bit lane (in its low half). */
static BF16 INLINE __m512i round_lanes(__m512 x, __m512 factor, int shift) {
  if (shift != 0) {
    x = _mm512_scalef_ps(x, factor);
  }
  return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x));
}

/* Bytes of the packed keys and of the packed values of one key/value head. */
static int64_t packed_key_bytes(const bf16_job *job) {
  return (job->keys + 15) / 16 * job->dim_pairs * 16 * 4;
}

static int64_t packed_value_pairs(const bf16_job *job) {
  /* the tiles read the values in steps of 16 pairs of keys: zeros up to a multiple of 32 keys */
  return job->amx ? (job->keys + 31) / 32 * 16 : (job->keys + 1) / 2;
}

static int64_t packed_value_bytes(const bf16_job *job) {
  return packed_value_pairs(job) * job->value_cols * 4;
}

typedef struct {
  uint32_t *query;   /* BLOCK_ROWS x dim_pairs words: the block's rounded query rows (row-major
                      * for AMX, else interleaved by QK_ROWS rows) */
  uint32_t *row;     /* dim_pairs words (+ 16): a rounded key row while packing */
  float *scores;     /* (BLOCK_ROWS, SCORE_STRIDE) */
  uint16_t *weights; /* (BLOCK_ROWS, WEIGHT_STRIDE) bfloat16 */
  float *out;        /* (BLOCK_ROWS, out_stride), the unnormalized output */
  int64_t out_stride; /* a multiple of 64 floats, at least value_cols */
  int64_t pairs;      /* dim_pairs the query and row buffers hold */
} scratch;

/* aligned_alloc wants a size that is a multiple of the alignment */
static void *alloc_bytes(int64_t bytes) {
  size_t size = ((size_t)bytes + 63) / 64 * 64;
  return aligned_alloc(64, size == 0 ? 64 : size);
}

/*
 * Each thread keeps its scratch between calls (freed when the thread exits), as the float32
 * kernel does: an allocation per call costs an mmap and munmap, and the munmap a TLB shootdown.
 */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *memory) {
  scratch *s = memory;
  free(s->query);
  free(s->row);
  free(s->scores);
  free(s->weights);
  free(s->out);
  free(s);
}

static void create_scratch_key(void) { pthread_key_create(&scratch_key, free_scratch); }

/* The thread's scratch, grown to fit the job; NULL when out of memory. */
static scratch *thread_scratch(const bf16_job *job) {
  pthread_once(&scratch_once, create_scratch_key);
  scratch *s = pthread_getspecific(scratch_key);
  if (s == NULL) {
    s = calloc(1, sizeof(scratch));
    if (s == NULL || pthread_setspecific(scratch_key, s) != 0) {
      free(s);
      return NULL;
    }
  }
  if (s->scores == NULL) {
    s->scores = alloc_bytes((int64_t)sizeof(float) * BLOCK_ROWS * SCORE_STRIDE);
  }
  if (s->weights == NULL) {
    s->weights = alloc_bytes((int64_t)sizeof(uint16_t) * BLOCK_ROWS * WEIGHT_STRIDE);
  }
  if (s->pairs < job->dim_pairs) {
    free(s->query);
    free(s->row);
    s->query = alloc_bytes(4 * (BLOCK_ROWS * job->dim_pairs + 16));
    s->row = alloc_bytes(4 * (job->dim_pairs + 16));
    s->pairs = s->query != NULL && s->row != NULL ? job->dim_pairs : 0;
  }
  int64_t out_stride = (job->value_cols + 63) / 64 * 64;
  if (s->out_stride < out_stride) {
    free(s->out);
    s->out = alloc_bytes((int64_t)sizeof(float) * BLOCK_ROWS * out_stride);
    s->out_stride = s->out != NULL ? out_stride : 0;
  }
  return s->scores != NULL && s->weights != NULL && s->pairs > 0 && s->out != NULL ? s : NULL;
}

/*
 * The packed keys and values of the last job, kept for the next one when they are at most
 * KEEP_BYTES (a fresh buffer costs page faults and zeroing; giving it back a TLB shootdown).
 */
#define KEEP_BYTES (16 << 20)
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static uint16_t *kept_packed;
static int64_t kept_bytes;

int64_t bf16_attention_items(const bf16_job *job) {
  return job->batch * job->heads * ((job->queries + BLOCK_ROWS - 1) / BLOCK_ROWS);
}

int bf16_attention_alloc(bf16_job *job) {
  /* the products' factor, scale or scale / c, as a float mantissa in [1, 2) and an exponent:
   * scale / c need not be a normal float32 */
  double folded = job->softcap != 0.0f ? (double)job->scale / job->softcap : job->scale;
  int exponent;
  double mantissa = frexp(folded, &exponent); /* [0.5, 1) */
  job->qk_mantissa = (float)(mantissa * 2.0);
  job->qk_exponent = exponent - 1;
  /* the tiles take the dimensions in steps of 16 pairs: zeros up to a multiple of 32 */
  job->dim_pairs = job->amx ? (job->dim + 31) / 32 * 16 : (job->dim + 1) / 2;
  job->value_cols = (job->value_dim + 15) / 16 * 16;
  int64_t kv_heads = job->batch * job->groups;
  int64_t bytes = kv_heads * (packed_key_bytes(job) + packed_value_bytes(job));
  job->packed = NULL;
  job->packed_bytes = bytes;
  pthread_mutex_lock(&kept_lock);
  if (kept_packed != NULL && kept_bytes >= bytes) {
    job->packed = kept_packed;
    job->packed_bytes = kept_bytes;
    kept_packed = NULL;
  }
  pthread_mutex_unlock(&kept_lock);
  if (job->packed == NULL) {
    job->packed = alloc_bytes(bytes);
  }
  size_t heads = (size_t)(kv_heads > 0 ? kv_heads : 1);
  job->packed_state = calloc(heads, sizeof(int));
  job->key_shift = calloc(heads, sizeof(int));
  job->value_shift = calloc(heads, sizeof(int));
  job->value_finite = calloc(heads, sizeof(int));
  job->workers = work_split_init(&job->split, bf16_attention_items(job), job->workers);
  if (!job->packed || !job->packed_state || !job->key_shift || !job->value_shift ||
      !job->value_finite) {
    bf16_attention_free(job);
    return -1;
  }
  return 0;
}

void bf16_attention_free(bf16_job *job) {
  uint16_t *spare = job->packed;
  if (spare != NULL && job->packed_bytes <= KEEP_BYTES) {
    pthread_mutex_lock(&kept_lock);
    if (kept_packed == NULL || kept_bytes < job->packed_bytes) {
      uint16_t *old = kept_packed;
      kept_packed = spare;
      kept_bytes = job->packed_bytes;
      spare = old;
    }
    pthread_mutex_unlock(&kept_lock);
  }
  free(spare);
  free(job->packed_state);
  free(job->key_shift);
  free(job->value_shift);
  free(job->value_finite);
  job->packed = NULL;
  job->packed_state = NULL;
  job->key_shift = NULL;
  job->value_shift = NULL;
  job->value_finite = NULL;
}

/* Rounds and packs the keys of a head into panels [T/16][D/2][16][2], zeros beyond T. */
static BF16 void pack_keys(const bf16_job *job, const float *key, int shift, uint32_t *panels,
                           uint32_t *row) {
  const int64_t keys = job->keys, dim = job->dim, pairs = job->dim_pairs;
  const int64_t count = (keys + 15) / 16;
  for (int64_t p = 0; p < count; p++) {
    uint32_t *panel = panels + p * pairs * 16;
    for (int64_t j = 0; j < 16; j++) {
      int64_t t = p * 16 + j;
      if (t < keys) {
        round_row(key + t * dim, dim, shift, row, pairs);
        for (int64_t d = 0; d < pairs; d++) {
          panel[d * 16 + j] = row[d];
        }
      } else {
        for (int64_t d = 0; d < pairs; d++) {
          panel[d * 16 + j] = 0;
        }
      }
    }
  }
}

/* Rounds and packs the values of a head by pairs of keys, [T/2][value_cols][2], zeros beyond. */
static BF16 void pack_values(const bf16_job *job, const float *value, int shift, uint32_t *out) {
  const int64_t keys = job->keys, value_dim = job->value_dim, cols = job->value_cols;
  const __m512 factor = _mm512_set1_ps((float)shift);
  for (int64_t t2 = 0; t2 < (keys + 1) / 2; t2++) {
    const float *first = value + 2 * t2 * value_dim;
    const int second = 2 * t2 + 1 < keys;
    for (int64_t c = 0; c < cols; c += 16) {
      __mmask16 m = lanes(value_dim - c);
      __m512i lo = round_lanes(_mm512_maskz_loadu_ps(m, first + c), factor, shift);
      __m512i hi = second ? round_lanes(_mm512_maskz_loadu_ps(m, first + value_dim + c), factor,
                                        shift)
                          : _mm512_setzero_si512();
      _mm512_store_si512(out + t2 * cols + c, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
  }
  int64_t pairs = (keys + 1) / 2;
  memset(out + pairs * cols, 0, (size_t)((packed_value_pairs(job) - pairs) * cols * 4));
}

/*
 * The packed keys and values of a key/value head: packs them if no thread has, waits if one is
 * packing.
 */
static BF16 const uint16_t *packed_head(bf16_job *job, int64_t kv_head, uint32_t *row) {
  int64_t key_bytes = packed_key_bytes(job);
  int64_t head_bytes = key_bytes + packed_value_bytes(job);
  uint16_t *packed = (uint16_t *)((char *)job->packed + kv_head * head_bytes);
  int *state = &job->packed_state[kv_head];
  int expected = 0;
  if (__atomic_compare_exchange_n(state, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    const float *key = job->key + kv_head * job->keys * job->dim;
    const float *value = job->value + kv_head * job->keys * job->value_dim;
    int key_shift = normalizing_shift(max_abs_bits(key, job->keys * job->dim));
    uint32_t value_max = max_abs_bits(value, job->keys * job->value_dim);
    int value_shift = normalizing_shift(value_max);
    pack_keys(job, key, key_shift, (uint32_t *)packed, row);
    pack_values(job, value, value_shift, (uint32_t *)((char *)packed + key_bytes));
    job->key_shift[kv_head] = key_shift;
    job->value_shift[kv_head] = value_shift;
    job->value_finite[kv_head] = value_max < 0x7F800000u;
    __atomic_store_n(state, 2, __ATOMIC_RELEASE);
  } else {
    for (int spins = 0; __atomic_load_n(state, __ATOMIC_ACQUIRE) != 2; spins++) {
      if (spins < 1000) {
        _mm_pause();
      } else {
        sched_yield(); /* the packing thread may have been descheduled */
      }
    }
  }
  return packed;
}

/*
 * scores[r][0, 32) = (query[r] . keys of two panels) * mantissa * 2^exponent[r], for R rows:
 * the query rows and panels are bfloat16 pairs, `pairs` of them; the rows interleaved, pair d of
 * row r at query[d * QK_ROWS + r], so that every broadcast is at a fixed offset from one pointer
 * (row-major rows at a stride known only at run time had the compiler keep eight row pointers,
 * some of them in vector registers). Where every row's factor
 * mantissa * 2^exponent[r] is a normal float32, factor[r] holds it and one product applies it
 * (the same result: a power of two scales exactly); otherwise factor is NULL.
 */
#define QK_TILE(R)                                                                           \
  static BF16 void qk_tile_##R(int64_t pairs, const uint32_t *query, const uint32_t *panel0, \
                               const uint32_t *panel1, __m512 mantissa,                      \
                               const float *exponent, const float *factor, float *scores) {  \
    __m512 c0[R], c1[R];                                                                     \
    for (int r = 0; r < R; r++) {                                                            \
      c0[r] = _mm512_setzero_ps();                                                           \
      c1[r] = _mm512_setzero_ps();                                                           \
    }                                                                                        \
    for (int64_t d = 0; d < pairs; d++) {                                                    \
      __m512bh b0 = (__m512bh)_mm512_load_si512(panel0 + d * 16);                            \
      __m512bh b1 = (__m512bh)_mm512_load_si512(panel1 + d * 16);                            \
      for (int r = 0; r < R; r++) {                                                          \
        __m512bh a = (__m512bh)_mm512_set1_epi32((int)query[d * QK_ROWS + r]);               \
        c0[r] = _mm512_dpbf16_ps(c0[r], a, b0);                                              \
        c1[r] = _mm512_dpbf16_ps(c1[r], a, b1);                                              \
      }                                                                                      \
    }                                                                                        \
    if (factor != NULL) {                                                                    \
      for (int r = 0; r < R; r++) {                                                          \
        __m512 f = _mm512_set1_ps(factor[r]);                                                \
        _mm512_storeu_ps(scores + r * SCORE_STRIDE, _mm512_mul_ps(c0[r], f));                \
        _mm512_storeu_ps(scores + r * SCORE_STRIDE + 16, _mm512_mul_ps(c1[r], f));           \
      }                                                                                      \
      return;                                                                                \
    }                                                                                        \
    for (int r = 0; r < R; r++) {                                                            \
      __m512 e = _mm512_set1_ps(exponent[r]);                                                \
      _mm512_storeu_ps(scores + r * SCORE_STRIDE,                                            \
                       _mm512_scalef_ps(_mm512_mul_ps(c0[r], mantissa), e));                 \
      _mm512_storeu_ps(scores + r * SCORE_STRIDE + 16,                                       \
                       _mm512_scalef_ps(_mm512_mul_ps(c1[r], mantissa), e));                 \
    }                                                                                        \
  }
QK_TILE(1)
QK_TILE(2)
QK_TILE(3)
QK_TILE(4)
QK_TILE(5)
QK_TILE(6)
QK_TILE(7)
QK_TILE(8)
QK_TILE(9)
QK_TILE(10)
QK_TILE(11)
QK_TILE(12)

static BF16 void qk_tile(int rows, int64_t pairs, const uint32_t *query, const uint32_t *panel0,
                         const uint32_t *panel1, __m512 mantissa, const float *exponent,
                         const float *factor, float *scores) {
  switch (rows) {
    case 12: qk_tile_12(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    case 11: qk_tile_11(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    case 10: qk_tile_10(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    case 9: qk_tile_9(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    case 8: qk_tile_8(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    case 7: qk_tile_7(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    case 6: qk_tile_6(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    case 5: qk_tile_5(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    case 4: qk_tile_4(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    case 3: qk_tile_3(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    case 2: qk_tile_2(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
    default: qk_tile_1(pairs, query, panel0, panel1, mantissa, exponent, factor, scores); break;
  }
}

/*
 * out[r][0, 16 C) += sum over key pairs t < n of weights[r][t] . values[t][0, 16 C), for R rows:
 * the weights are bfloat16 pairs (WEIGHT_STRIDE / 2 words a row), the values pairs of keys.
 */
#define PV_TILE(R, C)                                                                          \
  static BF16 void pv_tile_##R##_##C(int64_t n, const uint32_t *weights, const uint32_t *values, \
                                     int64_t value_stride, float *out, int64_t out_stride) {     \
    __m512 c[R][C];                                                                            \
    for (int r = 0; r < R; r++) {                                                              \
      for (int x = 0; x < C; x++) {                                                            \
        c[r][x] = _mm512_load_ps(out + r * out_stride + 16 * x);                               \
      }                                                                                        \
    }                                                                                          \
    for (int64_t t = 0; t < n; t++) {                                                          \
      __m512bh b[C];                                                                           \
      for (int x = 0; x < C; x++) {                                                            \
        b[x] = (__m512bh)_mm512_load_si512(values + t * value_stride + 16 * x);                \
      }                                                                                        \
      for (int r = 0; r < R; r++) {                                                            \
        __m512bh a = (__m512bh)_mm512_set1_epi32((int)weights[r * (WEIGHT_STRIDE / 2) + t]);   \
        for (int x = 0; x < C; x++) {                                                          \
          c[r][x] = _mm512_dpbf16_ps(c[r][x], a, b[x]);                                        \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
    for (int r = 0; r < R; r++) {                                                              \
      for (int x = 0; x < C; x++) {                                                            \
        _mm512_store_ps(out + r * out_stride + 16 * x, c[r][x]);                               \
      }                                                                                        \
    }                                                                                          \
  }
#define PV_TILES(R) PV_TILE(R, 1) PV_TILE(R, 2) PV_TILE(R, 3) PV_TILE(R, 4)
PV_TILES(1)
PV_TILES(2)
PV_TILES(3)
PV_TILES(4)
PV_TILES(5)
PV_TILES(6)
PV_TILES(7)
PV_TILES(8)
PV_TILES(9)
PV_TILES(10)
PV_TILES(11)
PV_TILES(12)

#define PV_COLUMNS(R)                                                                   \
  switch (columns) {                                                                    \
    case 4: pv_tile_##R##_4(n, weights, values, value_stride, out, out_stride); break;  \
    case 3: pv_tile_##R##_3(n, weights, values, value_stride, out, out_stride); break;  \
    case 2: pv_tile_##R##_2(n, weights, values, value_stride, out, out_stride); break;  \
    default: pv_tile_##R##_1(n, weights, values, value_stride, out, out_stride); break; \
  }

static BF16 void pv_tile(int rows, int columns, int64_t n, const uint32_t *weights,
                         const uint32_t *values, int64_t value_stride, float *out,
                         int64_t out_stride) {
  switch (rows) {
    case 12: PV_COLUMNS(12) break;
    case 11: PV_COLUMNS(11) break;
    case 10: PV_COLUMNS(10) break;
    case 9: PV_COLUMNS(9) break;
    case 8: PV_COLUMNS(8) break;
    case 7: PV_COLUMNS(7) break;
    case 6: PV_COLUMNS(6) break;
    case 5: PV_COLUMNS(5) break;
    case 4: PV_COLUMNS(4) break;
    case 3: PV_COLUMNS(3) break;
    case 2: PV_COLUMNS(2) break;
    default: PV_COLUMNS(1) break;
  }
}

/*
 * scores[0, n) = cap * tanh(scores), in place: the softcap, whose 1/cap is folded into the
 * products' factor.
 */
static BF16 void softcap_row(float *scores, int64_t n, float cap) {
  const __m512 c = _mm512_set1_ps(cap);
  for (int64_t t = 0; t < n; t += 16) {
    __mmask16 m = lanes(n - t);
    __m512 x = _mm512_maskz_loadu_ps(m, scores + t);
    _mm512_mask_storeu_ps(scores + t, m, _mm512_mul_ps(tanh_bf16(x), c));
  }
}

/*
 * Applies the mask to a row's `valid` scores of the block starting at key k0, in place: a hidden
 * key's score becomes -inf (bool), or the mask value is added (float32). Returns how many of the
 * keys the mask leaves visible (a float mask hides a key with -inf).
 */
static BF16 int64_t apply_mask(const bf16_job *job, int64_t row_offset, int64_t k0, int64_t valid,
                               float *scores) {
  const int64_t stride = job->mask_stride[3];
  const __m512 minus_inf = _mm512_set1_ps(-INFINITY);
  int64_t visible = 0;
  int64_t t = 0;
  if (job->mask_type == BF16_MASK_BOOL) {
    const uint8_t *mask = (const uint8_t *)job->mask + row_offset + k0 * stride;
    if (stride == 1) {
      for (; t + 16 <= valid; t += 16) {
        __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(mask + t)));
        __mmask16 keep = _mm512_test_epi32_mask(bytes, bytes);
        visible += __builtin_popcount(keep);
        _mm512_storeu_ps(scores + t,
                         _mm512_mask_mov_ps(minus_inf, keep, _mm512_loadu_ps(scores + t)));
      }
    }
    for (; t < valid; t++) {
      int keep = mask[t * stride] != 0;
      visible += keep;
      if (!keep) {
        scores[t] = -INFINITY;
      }
    }
  } else {
    const float *mask = (const float *)job->mask + row_offset + k0 * stride;
    if (stride == 1) {
      for (; t + 16 <= valid; t += 16) {
        __m512 m = _mm512_loadu_ps(mask + t);
        visible += __builtin_popcount(_mm512_cmp_ps_mask(m, minus_inf, _CMP_NEQ_UQ));
        _mm512_storeu_ps(scores + t, _mm512_add_ps(_mm512_loadu_ps(scores + t), m));
      }
    }
    for (; t < valid; t++) {
      float m = mask[t * stride];
      visible += m != -INFINITY;
      scores[t] += m;
    }
  }
  return visible;
}

/*
 * The weights of a row's block, 2^((s - max) log2(e)) per lane, rounded to bfloat16 and written
 * to weights[0, padded) (zeros from `valid` on); returns the sum of the rounded weights per lane.
 * exp2_weight takes the exponent plus 1/2: FAST computes it as s log2(e) + c with
 * c = 1/2 - max log2(e) in one fused multiply-add (for small |c|), otherwise the difference comes
 * first, as in the float32 kernel, and the half is added in the multiply-add by log2(e).
 */
static BF16 INLINE __m512 weights_pass(const float *scores, uint16_t *weights, int64_t valid,
                                       int64_t padded, __m512 max, __m512 c, float factor,
                                       const int fast) {
  /* the scores are raw * factor; factor = 1 for scores already scaled (a product by 1 is exact) */
  const __m512 log2e = _mm512_set1_ps(fast ? LOG2E * factor : LOG2E);
  const __m512 f = _mm512_set1_ps(factor);
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512bh ones = (__m512bh)_mm512_set1_epi16(0x3F80); /* bfloat16 1.0 */
#define WEIGHT(s)                                                                          \
  exp2_weight(fast ? _mm512_fmadd_ps((s), log2e, c)                                        \
                   : _mm512_fmadd_ps(_mm512_sub_ps(_mm512_mul_ps((s), f), max), log2e, half))
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
  int64_t t = 0;
  for (; t + 64 <= valid; t += 64) {
    __m512 e0 = WEIGHT(_mm512_loadu_ps(scores + t));
    __m512 e1 = WEIGHT(_mm512_loadu_ps(scores + t + 16));
    __m512 e2 = WEIGHT(_mm512_loadu_ps(scores + t + 32));
    __m512 e3 = WEIGHT(_mm512_loadu_ps(scores + t + 48));
    __m512bh w0 = _mm512_cvtne2ps_pbh(e1, e0);
    __m512bh w1 = _mm512_cvtne2ps_pbh(e3, e2);
    _mm512_store_si512(weights + t, (__m512i)w0);
    _mm512_store_si512(weights + t + 32, (__m512i)w1);
    s0 = _mm512_dpbf16_ps(s0, w0, ones);
    s1 = _mm512_dpbf16_ps(s1, w1, ones);
  }
  for (; t < valid; t += 32) {
    __mmask16 m0 = lanes(valid - t), m1 = lanes(valid - t - 16);
    __m512 e0 = _mm512_maskz_mov_ps(m0, WEIGHT(_mm512_maskz_loadu_ps(m0, scores + t)));
    __m512 e1 = _mm512_maskz_mov_ps(m1, WEIGHT(_mm512_maskz_loadu_ps(m1, scores + t + 16)));
    __m512bh w = _mm512_cvtne2ps_pbh(e1, e0);
    _mm512_store_si512(weights + t, (__m512i)w);
    s0 = _mm512_dpbf16_ps(s0, w, ones);
  }
#undef WEIGHT
  for (; t < padded; t += 32) {
    _mm512_store_si512(weights + t, _mm512_setzero_si512());
  }
  return _mm512_add_ps(s0, s1);
}

/*
 * One online-softmax step for a row: turns its `valid` scores, times `factor` (1 for scores
 * already scaled; a normal positive float32 otherwise), into bfloat16 weights (zeros up to
 * `padded`, a multiple of 32), updates the running maximum and sum (of the scaled scores), and
 * returns the factor by which the row's partial output must be rescaled.
 */
static BF16 float softmax_step(const float *scores, float factor, uint16_t *weights,
                               int64_t valid, int64_t padded, float *row_max, float *row_sum) {
  __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
  int64_t t = 0;
  for (; t + 64 <= valid; t += 64) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(scores + t));
    m1 = _mm512_max_ps(m1, _mm512_loadu_ps(scores + t + 16));
    m2 = _mm512_max_ps(m2, _mm512_loadu_ps(scores + t + 32));
    m3 = _mm512_max_ps(m3, _mm512_loadu_ps(scores + t + 48));
  }
  for (; t + 16 <= valid; t += 16) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(scores + t));
  }
  if (t < valid) {
    m1 = _mm512_mask_max_ps(m1, lanes(valid - t), m1, _mm512_loadu_ps(scores + t));
  }
  /* the largest scaled score: rounding is monotonic, so max(s) * factor = max(s * factor) */
  float block_max =
      _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3))) * factor;
  float new_max = block_max > *row_max ? block_max : *row_max;
  /* the old partial sums' factor; 0 below 2^-126, like the weights */
  float shift_down = (*row_max - new_max) * LOG2E;
  float rescale = *row_max == -INFINITY || shift_down < -126.0f ? 0.0f : exp2f(shift_down);
  float c = new_max == -INFINITY ? 0.0f : -(new_max * LOG2E);
  __m512 sum;
  if (c > -FUSED_MAX && c < FUSED_MAX) {
    sum = weights_pass(scores, weights, valid, padded, _mm512_set1_ps(new_max),
                       _mm512_set1_ps(c + 0.5f), factor, 1);
  } else { /* large or huge scores, a mask of -FLT_MAX on every key, or max = +inf (NaN, 0) */
    sum = weights_pass(scores, weights, valid, padded, _mm512_set1_ps(new_max),
                       _mm512_setzero_ps(), factor, 0);
  }
  *row_sum = *row_sum * rescale + _mm512_reduce_add_ps(sum);
  *row_max = new_max;
  return rescale;
}

/*
 * The AMX tiles' shapes: every tile 16 rows of 64 bytes (16 float32 sums, or 16 pairs of bfloat16
 * numbers). Tiles 0 to 3 hold sums (a 2 x 2 block of 16 x 16 outputs), 4 and 5 the left operand's
 * two 16-row blocks, 6 and 7 the right operand's two 16-column blocks. tdpbf16ps multiplies pairs
 * of bfloat16 numbers and adds them to float32 sums, as vdpbf16ps does lane by lane.
 */
typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
} tile_config;

static AMX void load_tile_config(void) {
  tile_config config;
  memset(&config, 0, sizeof(config));
  config.palette = 1;
  for (int t = 0; t < 8; t++) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = 16;
  }
  /* not _tile_loadconfig: GCC 12's tells the compiler that it reads only a pointer's 8 bytes, so
   * the stores above may be dropped */
  __asm__ volatile("ldtilecfg %0" : : "m"(config));
}

/*
 * scores[r][p * 16 + j] = query[r] . key j of panel p, unscaled, for the rows [0, rows) (in blocks
 * of 16: a last partial block computes rows past `rows` from stale query rows, which nothing reads)
 * and the panels [0, panels) (an odd last panel is paired with itself, its copy landing in the
 * scores' padding). The query rows are `pairs` words apart, a multiple of 16; the panels are
 * [pairs][16 keys] words, which is the right operand's layout.
 */
static AMX void qk_amx(int rows, int64_t pairs, const uint32_t *query, const uint32_t *panels,
                       int64_t count, float *scores) {
  const int64_t query_bytes = pairs * 4, score_bytes = SCORE_STRIDE * 4;
  for (int r = 0; r < rows; r += 32) {
    const int both = rows - r > 16;
    const uint32_t *q0 = query + r * pairs, *q1 = q0 + 16 * pairs;
    for (int64_t p = 0; p < count; p += 2) {
      const uint32_t *b0 = panels + p * pairs * 16;
      const uint32_t *b1 = p + 1 < count ? b0 + pairs * 16 : b0;
      _tile_zero(0);
      _tile_zero(1);
      if (both) {
        _tile_zero(2);
        _tile_zero(3);
      }
      for (int64_t d = 0; d < pairs; d += 16) {
        _tile_loadd(4, q0 + d, query_bytes);
        _tile_loadd(6, b0 + d * 16, 64);
        _tile_loadd(7, b1 + d * 16, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        if (both) {
          _tile_loadd(5, q1 + d, query_bytes);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
      }
      float *s0 = scores + r * SCORE_STRIDE + p * 16;
      _tile_stored(0, s0, score_bytes);
      _tile_stored(1, s0 + 16, score_bytes);
      if (both) {
        _tile_stored(2, s0 + 16 * SCORE_STRIDE, score_bytes);
        _tile_stored(3, s0 + 16 * SCORE_STRIDE + 16, score_bytes);
      }
    }
  }
}

/*
 * out[r][0, cols) += sum over key pairs t < key_pairs of weights[r][t] . values[t][0, cols), for
 * the rows [0, rows) in blocks of 16 (as qk_amx); key_pairs a multiple of 16 (the weights and
 * values are zeros past the block's keys), cols a multiple of 16.
 */
static AMX void pv_amx(int rows, int64_t cols, int64_t key_pairs, const uint16_t *weights,
                       const uint32_t *values, float *out, int64_t out_stride) {
  const int64_t weight_bytes = WEIGHT_STRIDE * 2, value_bytes = cols * 4, out_bytes = out_stride * 4;
  for (int r = 0; r < rows; r += 32) {
    const int both_rows = rows - r > 16;
    const uint16_t *a0 = weights + r * WEIGHT_STRIDE, *a1 = a0 + 16 * WEIGHT_STRIDE;
    for (int64_t c = 0; c < cols; c += 32) {
      const int both_cols = cols - c > 16;
      float *o0 = out + r * out_stride + c, *o1 = o0 + 16 * out_stride;
      _tile_loadd(0, o0, out_bytes);
      if (both_cols) {
        _tile_loadd(1, o0 + 16, out_bytes);
      }
      if (both_rows) {
        _tile_loadd(2, o1, out_bytes);
        if (both_cols) {
          _tile_loadd(3, o1 + 16, out_bytes);
        }
      }
      for (int64_t t = 0; t < key_pairs; t += 16) {
        const uint32_t *b = values + t * cols + c;
        _tile_loadd(4, a0 + 2 * t, weight_bytes);
        _tile_loadd(6, b, value_bytes);
        _tile_dpbf16ps(0, 4, 6);
        if (both_cols) {
          _tile_loadd(7, b + 16, value_bytes);
          _tile_dpbf16ps(1, 4, 7);
        }
        if (both_rows) {
          _tile_loadd(5, a1 + 2 * t, weight_bytes);
          _tile_dpbf16ps(2, 5, 6);
          if (both_cols) {
            _tile_dpbf16ps(3, 5, 7);
          }
        }
      }
      _tile_stored(0, o0, out_bytes);
      if (both_cols) {
        _tile_stored(1, o0 + 16, out_bytes);
      }
      if (both_rows) {
        _tile_stored(2, o1, out_bytes);
        if (both_cols) {
          _tile_stored(3, o1 + 16, out_bytes);
        }
      }
    }
  }
}

/*
 * scores[0, n) *= mantissa * 2^exponent, in place: the factor that qk_tile applies as it stores,
 * for the scores of qk_amx (one product where the factor is a normal float32, else two).
 */
static BF16 void scale_row(float *scores, int64_t n, float mantissa, float exponent,
                           const float *factor) {
  const __m512 m = _mm512_set1_ps(factor != NULL ? *factor : mantissa);
  const __m512 e = _mm512_set1_ps(exponent);
  for (int64_t t = 0; t < n; t += 16) {
    __mmask16 k = lanes(n - t);
    __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, scores + t), m);
    _mm512_mask_storeu_ps(scores + t, k, factor != NULL ? x : _mm512_scalef_ps(x, e));
  }
}

static AMX void compute_item(bf16_job *job, int64_t item, scratch *s) {
  const int64_t dim = job->dim, value_dim = job->value_dim, keys = job->keys;
  const int64_t pairs = job->dim_pairs, cols = job->value_cols;
  const int64_t queries = job->queries, group = job->heads / job->groups;
  const int64_t blocks = (queries + BLOCK_ROWS - 1) / BLOCK_ROWS;
  const int64_t head = item / blocks; /* b * H + h */
  const int64_t first_row = (item % blocks) * BLOCK_ROWS;
  const int rows = (int)(queries - first_row < BLOCK_ROWS ? queries - first_row : BLOCK_ROWS);
  const int64_t kv_head = (head / job->heads) * job->groups + (head % job->heads) / group;
  const uint16_t *packed = packed_head(job, kv_head, s->row);
  const uint32_t *key_panels = (const uint32_t *)packed;
  const uint32_t *values = (const uint32_t *)((const char *)packed + packed_key_bytes(job));
  const int key_shift = job->key_shift[kv_head];
  const int value_shift = job->value_shift[kv_head];

  /* the block's query rows, each normalized and rounded; the scores' exponent per row */
  const float *query = job->query + (head * queries + first_row) * dim;
  float exponent[BLOCK_ROWS];
  for (int r = 0; r < rows; r++) {
    const float *row = query + r * dim;
    int shift = normalizing_shift(max_abs_bits(row, dim));
    if (job->amx) {
      round_row(row, dim, shift, s->query + r * pairs, pairs);
    } else { /* interleaved by QK_ROWS rows, as qk_tile reads them (s->row is free again) */
      round_row(row, dim, shift, s->row, pairs);
      uint32_t *tile = s->query + (r / QK_ROWS) * QK_ROWS * pairs + r % QK_ROWS;
      for (int64_t d = 0; d < pairs; d++) {
        tile[d * QK_ROWS] = s->row[d];
      }
    }
    exponent[r] = (float)(job->qk_exponent - shift - key_shift);
  }
  const __m512 mantissa = _mm512_set1_ps(job->qk_mantissa);
  /* the factors as one float32 per row, where every row's is normal */
  float factor[BLOCK_ROWS];
  const float *factors = factor;
  for (int r = 0; r < rows; r++) {
    factor[r] = ldexpf(job->qk_mantissa, (int)exponent[r]);
    if (!(factor[r] >= FLT_MIN && factor[r] <= FLT_MAX)) {
      factors = NULL;
    }
  }

  float row_max[BLOCK_ROWS], row_sum[BLOCK_ROWS];
  int64_t visible[BLOCK_ROWS]; /* keys the mask leaves visible, so far */
  for (int r = 0; r < rows; r++) {
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
    visible[r] = 0;
  }
  const int64_t mask_base = job->mask_type == BF16_MASK_NONE
                                ? 0
                                : (head / job->heads) * job->mask_stride[0] +
                                      (head % job->heads) * job->mask_stride[1] +
                                      first_row * job->mask_stride[2];
  memset(s->out, 0, sizeof(float) * rows * s->out_stride);
  /* under the causal mask the block's last row sees keys up to first_row + rows - 1 + offset */
  int64_t key_end = keys;
  if (job->causal) {
    int64_t last = first_row + rows + job->causal_offset; /* one past the last visible key */
    key_end = last < 0 ? 0 : last < keys ? last : keys;
  }
  /* the AMX products are unscaled: each row's factor goes into the softmax where nothing comes
   * between (a normal float32 factor, no softcap, no mask), else scale_row applies it first */
  const int fold = job->amx && factors != NULL && job->softcap == 0.0f &&
                   job->mask_type == BF16_MASK_NONE;
  for (int64_t k0 = 0; k0 < key_end; k0 += BLOCK_KEYS) {
    const int64_t n = key_end - k0 < BLOCK_KEYS ? key_end - k0 : BLOCK_KEYS;
    const int64_t panels = (n + 15) / 16;
    const int64_t padded = (n + 31) / 32 * 32;
    if (job->amx) { /* unscaled: each row's factor is applied below, before the softcap */
      qk_amx(rows, pairs, s->query, key_panels + k0 / 16 * pairs * 16, panels, s->scores);
    } else {
      for (int64_t p = 0; p < panels; p += 2) {
        const uint32_t *panel0 = key_panels + (k0 / 16 + p) * pairs * 16;
        /* an odd last panel is paired with itself: its second half lands in the padding */
        const uint32_t *panel1 = p + 1 < panels ? panel0 + pairs * 16 : panel0;
        for (int r = 0; r < rows; r += QK_ROWS) {
          qk_tile(rows - r < QK_ROWS ? rows - r : QK_ROWS, pairs, s->query + r * pairs, panel0,
                  panel1, mantissa, exponent + r, factors == NULL ? NULL : factors + r,
                  s->scores + r * SCORE_STRIDE + p * 16);
        }
      }
    }
    for (int r = 0; r < rows; r++) {
      float *scores = s->scores + r * SCORE_STRIDE;
      uint16_t *weights = s->weights + r * WEIGHT_STRIDE;
      int64_t valid = n;
      if (job->causal) {
        int64_t seen = first_row + r + 1 + job->causal_offset - k0; /* keys k0 .. i + offset */
        valid = seen < 0 ? 0 : seen < n ? seen : n;
      }
      if (valid <= 0) {
        memset(weights, 0, sizeof(uint16_t) * padded);
        continue;
      }
      if (job->amx && !fold) {
        scale_row(scores, valid, job->qk_mantissa, exponent[r],
                  factors == NULL ? NULL : factors + r);
      }
      const float factor = fold ? factors[r] : 1.0f;
      if (job->softcap != 0.0f) {
        softcap_row(scores, valid, job->softcap);
      }
      if (job->mask_type != BF16_MASK_NONE) {
        visible[r] += apply_mask(job, mask_base + r * job->mask_stride[2], k0, valid, scores);
      }
      float rescale =
          softmax_step(scores, factor, weights, valid, padded, &row_max[r], &row_sum[r]);
      if (rescale != 1.0f) {
        float *out = s->out + r * s->out_stride;
        __m512 factor = _mm512_set1_ps(rescale);
        for (int64_t c = 0; c < cols; c += 16) {
          _mm512_store_ps(out + c, _mm512_mul_ps(_mm512_load_ps(out + c), factor));
        }
      }
    }
    const int64_t key_pairs = (n + 1) / 2;
    const uint32_t *block_values = values + (k0 / 2) * cols;
    if (job->amx) {
      pv_amx(rows, cols, padded / 2, s->weights, block_values, s->out, s->out_stride);
    } else {
      for (int64_t c = 0; c < cols; c += 16 * PV_VECTORS) {
        int columns = (int)((cols - c) / 16 < PV_VECTORS ? (cols - c) / 16 : PV_VECTORS);
        for (int r = 0; r < rows; r += PV_ROWS) {
          pv_tile(rows - r < PV_ROWS ? rows - r : PV_ROWS, columns, key_pairs,
                  (const uint32_t *)(s->weights + r * WEIGHT_STRIDE), block_values + c, cols,
                  s->out + r * s->out_stride + c, s->out_stride);
        }
      }
    }
  }
  /* the output: the weighted sum over the sum of the weights, times 2^-value_shift */
  float *output = job->output + (head * queries + first_row) * value_dim;
  const __m512 unshift = _mm512_set1_ps((float)-value_shift);
  const __m512 largest = _mm512_set1_ps(FLT_MAX);
  const int clamp = job->value_finite[kv_head];
  for (int r = 0; r < rows; r++) {
    float *target = output + r * value_dim;
    if ((job->mask_type != BF16_MASK_NONE && visible[r] == 0) || row_sum[r] == 0.0f) {
      /* a row the masks hide entirely gets zeros, as in ONNX and the float32 kernel */
      memset(target, 0, sizeof(float) * value_dim);
      continue;
    }
    const __m512 inverse = _mm512_set1_ps(1.0f / row_sum[r]);
    const float *out = s->out + r * s->out_stride;
    for (int64_t c = 0; c < value_dim; c += 16) {
      __m512 x = _mm512_scalef_ps(_mm512_mul_ps(_mm512_load_ps(out + c), inverse), unshift);
      if (clamp) {
        /* a weighted average of finite values is finite: a rounding of the values up to 2^128
         * must not make it infinite */
        __mmask16 over = _mm512_cmp_ps_mask(_mm512_abs_ps(x), largest, _CMP_GT_OQ);
        x = _mm512_mask_mov_ps(x, over,
                               _mm512_castsi512_ps(_mm512_or_si512(
                                   _mm512_castps_si512(largest),
                                   _mm512_and_si512(_mm512_castps_si512(x),
                                                    _mm512_set1_epi32((int)0x80000000u)))));
      }
      _mm512_mask_storeu_ps(target + c, lanes(value_dim - c), x);
    }
  }
}

static void compute_any(void *job, int64_t item, void *s) { compute_item(job, item, s); }

static AMX void release_tiles(void) { _tile_release(); }

int64_t bf16_attention_work(bf16_job *job) {
  scratch *s = thread_scratch(job);
  if (s == NULL) {
    return -1;
  }
  if (!job->amx) {
    return work_split_run(&job->split, compute_any, job, s);
  }
  load_tile_config();
  int64_t done = work_split_run(&job->split, compute_any, job, s);
  release_tiles(); /* the tile state back to its initial, empty state: a cheaper context switch */
  return done;
}

/* libtorch's OpenMP team: the float32 kernel's lookup and runner (attention_kernel.c), shared by
 * every kernel of the library, so that the threads that spin after libtorch's ops are the threads
 * that work. */
int bf16_find_openmp(void) { return attention_find_openmp(); }

static int64_t work_bf16_job(void *job) { return bf16_attention_work(job); }

int64_t bf16_attention_work_openmp(bf16_job *job) {
  return attention_team_run(work_bf16_job, job, job->workers);
}
