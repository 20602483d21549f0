/*
 * Flash-style float32 attention (the prefill kernel) with AVX-512, and its driver shared with the
 * AVX2 variant (prefill_avx2.c, through prefill_internal.h): for each (batch, head, block of BLOCK_ROWS query
 * rows) the keys are visited in blocks of BLOCK_KEYS; the block's scores stay in a per-thread
 * buffer (about 128 KiB, resident in L2), the softmax is kept online (running row maximum and sum,
 * the partial output rescaled when the maximum grows), and nothing of size S x T is ever held.
 *
 * Scores, the softcap and the mask stay in natural units, as in the step-by-step chain, so that
 * every finite score the chain holds is finite here too (a mask of -FLT_MAX, Hugging Face's
 * padding, times log2(e) would overflow to -inf). The softmax converts to base 2 together with
 * subtracting the row maximum: 2^(s log2(e) - max log2(e)) in one fused multiply-add, whose
 * product is not rounded, where |max| is small, else 2^((s - max) log2(e)) (large or huge maxima,
 * such as a row that the padding covers entirely). 2^x is computed as 2^round(x) * 2^r with a
 * degree-6 polynomial for r in [-1/2, 1/2]. The query is multiplied by the scale before the product
 * when the scale is at most 1, after it otherwise, so that Q K^T scale overflows only where the
 * chain's does; and the weights are divided by a power of two >= T, so that their sum with values
 * near FLT_MAX does not overflow either.
 *
 * The two products run as register-blocked micro-kernels: Q K^T as 8 query rows x 32 keys against
 * K packed into panels of 16 keys ([panel][D][16], packed once per key/value head by whichever
 * thread first needs it, while the others wait for it);
 * P V as 6 query rows x 64 value columns straight from V's rows. The AVX2 variant keeps the
 * packing and the driver and runs 8-lane tiles (6 rows x 16 keys, 6 rows x 16 value columns).
 */
#define _GNU_SOURCE /* dl_iterate_phdr, RTLD_NOLOAD */
#include "attention_kernel.h"
#include "attention_simd.h"
#include "prefill_internal.h"

#include <dlfcn.h>
#include <float.h>
#include <immintrin.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_ROWS PREFILL_ROWS /* query rows per work item */
#define BLOCK_KEYS SCORE_KEYS /* keys per online-softmax step */
#define QK_ROWS 8       /* rows of the Q K^T micro-kernel (x 32 keys) */

int cpu_level(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    return 2;
  }
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
}

/* r[i][j] = r[j][i]: a 16 x 16 transpose in registers (in-lane unpacks and shuffles, then two
 * rounds of 128-bit lane shuffles). */
static AVX512 INLINE void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  UNROLLED
  for (int i = 0; i < 8; i++) { /* rows 2i, 2i + 1, per lane: a0 b0 a1 b1 | a2 b2 a3 b3 */
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  UNROLLED
  for (int g = 0; g < 4; g++) { /* rows 4g .. 4g + 3: u[4g + e] holds element e of each lane */
    u[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  UNROLLED
  for (int e = 0; e < 4; e++) { /* element 4 lane + e of every row: the four groups' lanes */
    __m512 x0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88);
    __m512 x1 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xDD);
    __m512 y0 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88);
    __m512 y1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xDD);
    r[e] = _mm512_shuffle_f32x4(x0, y0, 0x88);
    r[8 + e] = _mm512_shuffle_f32x4(x0, y0, 0xDD);
    r[4 + e] = _mm512_shuffle_f32x4(x1, y1, 0x88);
    r[12 + e] = _mm512_shuffle_f32x4(x1, y1, 0xDD);
  }
}

/* pack_keys of prefill_ops: 16 key rows by 16 of their columns at a time, transposed in
 * registers. The scalar loop it replaced stored one float per 64-byte line of the panel: 5.8 % of
 * a prefill call at S = 128 and 2.3 % at S = 1024 on a Zen 4 (perf). */
static AVX512 void pack_keys_avx512(const float *key, int64_t keys, int64_t dim,
                                    int64_t row_stride, float *packed) {
  int64_t panels = (keys + 15) / 16;
  for (int64_t p = 0; p < panels; p++) {
    float *panel = packed + p * dim * 16;
    int64_t count = keys - p * 16 < 16 ? keys - p * 16 : 16;
    for (int64_t d0 = 0; d0 < dim; d0 += 16) {
      const int64_t width = dim - d0 < 16 ? dim - d0 : 16;
      const __mmask16 m = lanes(width);
      __m512 r[16];
      UNROLLED
      for (int j = 0; j < 16; j++) {
        r[j] = j < count ? _mm512_maskz_loadu_ps(m, key + (p * 16 + j) * row_stride + d0)
                         : _mm512_setzero_ps();
      }
      transpose16(r);
      UNROLLED
      for (int i = 0; i < 16; i++) {
        if (i < width) {
          _mm512_storeu_ps(panel + (d0 + i) * 16, r[i]);
        }
      }
    }
  }
}

/* scale_row of prefill_ops, 16 lanes at a time */
static AVX512 void scale_row_avx512(float *dst, const float *src, int64_t n, float factor) {
  const __m512 f = _mm512_set1_ps(factor);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + i), f));
  }
}

/* scores[r][0, 32) = (query[r] . keys of two panels) * after, for R rows (after 1: none) */
#define QK_TILE(R)                                                                         \
  static AVX512 void qk_tile_##R(int64_t dim, const float *query, const float *panel0,     \
                                 const float *panel1, float after, float *scores) {        \
    __m512 c0[R], c1[R];                                                                   \
    UNROLLED                                                                               \
    for (int r = 0; r < R; r++) {                                                          \
      c0[r] = _mm512_setzero_ps();                                                         \
      c1[r] = _mm512_setzero_ps();                                                         \
    }                                                                                      \
    for (int64_t d = 0; d < dim; d++) {                                                    \
      __m512 b0 = _mm512_load_ps(panel0 + d * 16);                                         \
      __m512 b1 = _mm512_load_ps(panel1 + d * 16);                                         \
      UNROLLED                                                                             \
      for (int r = 0; r < R; r++) {                                                        \
        __m512 a = _mm512_set1_ps(query[r * dim + d]);                                     \
        c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);                                             \
        c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);                                             \
      }                                                                                    \
    }                                                                                      \
    if (after != 1.0f) {                                                                   \
      const __m512 f = _mm512_set1_ps(after);                                              \
      UNROLLED                                                                             \
      for (int r = 0; r < R; r++) {                                                        \
        c0[r] = _mm512_mul_ps(c0[r], f);                                                   \
        c1[r] = _mm512_mul_ps(c1[r], f);                                                   \
      }                                                                                    \
    }                                                                                      \
    UNROLLED                                                                               \
    for (int r = 0; r < R; r++) {                                                          \
      _mm512_storeu_ps(scores + r * SCORE_STRIDE, c0[r]);                                  \
      _mm512_storeu_ps(scores + r * SCORE_STRIDE + 16, c1[r]);                             \
    }                                                                                      \
  }
QK_TILE(1)
QK_TILE(2)
QK_TILE(3)
QK_TILE(4)
QK_TILE(5)
QK_TILE(6)
QK_TILE(7)
QK_TILE(8)

static AVX512 void qk_tile(int rows, int64_t dim, const float *query, const float *panel0,
                           const float *panel1, float after, float *scores) {
  switch (rows) {
    case 8: qk_tile_8(dim, query, panel0, panel1, after, scores); break;
    case 7: qk_tile_7(dim, query, panel0, panel1, after, scores); break;
    case 6: qk_tile_6(dim, query, panel0, panel1, after, scores); break;
    case 5: qk_tile_5(dim, query, panel0, panel1, after, scores); break;
    case 4: qk_tile_4(dim, query, panel0, panel1, after, scores); break;
    case 3: qk_tile_3(dim, query, panel0, panel1, after, scores); break;
    case 2: qk_tile_2(dim, query, panel0, panel1, after, scores); break;
    default: qk_tile_1(dim, query, panel0, panel1, after, scores); break;
  }
}

/* qk_block of prefill_ops: the panels in pairs, QK_ROWS rows at a time */
static AVX512 void qk_block_avx512(int rows, int64_t dim, const float *query, const float *panels,
                                   int64_t panel_count, float after, float *scores) {
  for (int64_t p = 0; p < panel_count; p += 2) {
    const float *panel0 = panels + p * dim * 16;
    /* an odd last panel is paired with itself: its second half lands in the padding */
    const float *panel1 = p + 1 < panel_count ? panel0 + dim * 16 : panel0;
    for (int r = 0; r < rows; r += QK_ROWS) {
      qk_tile(rows - r < QK_ROWS ? rows - r : QK_ROWS, dim, query + r * dim, panel0, panel1,
              after, scores + r * SCORE_STRIDE + p * 16);
    }
  }
}

/* pv_block of prefill_ops: 64 value columns at a time, PV_ROWS rows at a time */
static AVX512 void pv_block_avx512(int rows, int64_t n, const float *weights, const float *value,
                                   int64_t value_dim, int64_t value_stride, float *out,
                                   int64_t out_stride) {
  for (int64_t c = 0; c < value_dim; c += 64) {
    for (int r = 0; r < rows; r += PV_ROWS) {
      pv_tile(rows - r < PV_ROWS ? rows - r : PV_ROWS, n, weights + r * SCORE_STRIDE, value + c,
              value_stride, out + r * out_stride + c, out_stride, value_dim - c);
    }
  }
}

const prefill_ops prefill_avx512 = {pack_keys_avx512, scale_row_avx512, qk_block_avx512,
                                    softcap_row,      mask_scores,      softmax_step,
                                    rescale_row,      pv_block_avx512};

int64_t attention_items(const attention_job *job) {
  return job->batch * job->heads * ((job->queries + BLOCK_ROWS - 1) / BLOCK_ROWS);
}

typedef struct {
  float *query;       /* (BLOCK_ROWS, D), scaled */
  float *scores;      /* (BLOCK_ROWS, SCORE_STRIDE) */
  float *out;         /* (BLOCK_ROWS, out_stride), the unnormalized output */
  int64_t out_stride;  /* a multiple of 64 floats, at least Dv */
  int64_t query_floats;
} scratch;


/*
 * Each thread keeps its scratch between calls (freed when the thread exits): allocating it per
 * call costs an mmap and an munmap, and an munmap interrupts every other thread of the process
 * (a TLB shootdown), the helpers that work on the same call included.
 */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *memory) {
  scratch *s = memory;
  free(s->query);
  free(s->scores);
  free(s->out);
  free(s);
}

static void create_scratch_key(void) { pthread_key_create(&scratch_key, free_scratch); }

/* The thread's scratch, grown to fit the job; NULL when out of memory. */
static scratch *thread_scratch(const attention_job *job) {
  pthread_once(&scratch_once, create_scratch_key);
  scratch *s = pthread_getspecific(scratch_key);
  if (s == NULL) {
    s = calloc(1, sizeof(scratch));
    if (s == NULL || pthread_setspecific(scratch_key, s) != 0) {
      free(s);
      return NULL;
    }
  }
  int64_t out_stride = (job->value_dim + 63) / 64 * 64;
  if (s->scores == NULL) {
    s->scores = alloc_floats(BLOCK_ROWS * SCORE_STRIDE);
  }
  if (s->query_floats < BLOCK_ROWS * job->dim) {
    free(s->query);
    s->query = alloc_floats(BLOCK_ROWS * job->dim);
    s->query_floats = s->query != NULL ? BLOCK_ROWS * job->dim : 0;
  }
  if (s->out_stride < out_stride) {
    free(s->out);
    s->out = alloc_floats(BLOCK_ROWS * out_stride);
    s->out_stride = s->out != NULL ? out_stride : 0;
  }
  return s->scores != NULL && s->query != NULL && s->out != NULL ? s : NULL;
}

/*
 * The packed keys of the last job, kept for the next one when they are at most KEEP_FLOATS: a fresh
 * buffer of that size costs page faults and the kernel's zeroing of every page (about as long as a
 * small attention call), and giving it back costs a TLB shootdown on every thread of the process.
 */
#define KEEP_FLOATS (4 << 20) /* 16 MiB */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static float *kept_keys;
static int64_t kept_floats;

/* The derived factors of attention_job (see attention_kernel.h). */
static void derive_factors(attention_job *job) {
  score_factors f = derive_score_factors(job->scale, job->softcap, job->keys);
  job->qk_factor = f.qk_factor;
  job->qk_after = f.qk_after;
  job->tanh_inner = f.tanh_inner;
  job->weight_shift = f.weight_shift;
  job->weight_down = f.weight_down;
}

int attention_alloc(attention_job *job) {
  derive_factors(job);
  int64_t kv_heads = job->batch * job->groups;
  int64_t floats = kv_heads * ((job->keys + 15) / 16) * job->dim * 16;
  job->packed_keys = NULL;
  job->packed_floats = floats;
  pthread_mutex_lock(&kept_lock);
  if (kept_keys != NULL && kept_floats >= floats) {
    job->packed_keys = kept_keys;
    job->packed_floats = kept_floats;
    kept_keys = NULL;
  }
  pthread_mutex_unlock(&kept_lock);
  if (job->packed_keys == NULL) {
    job->packed_keys = alloc_floats(floats);
  }
  job->packed_state = calloc((size_t)(kv_heads > 0 ? kv_heads : 1), sizeof(int));
  job->workers = work_split_init(&job->split, attention_items(job), job->workers);
  if (!job->packed_keys || !job->packed_state) {
    attention_free(job);
    return -1;
  }
  return 0;
}

void attention_free(attention_job *job) {
  float *spare = job->packed_keys;
  if (spare != NULL && job->packed_floats <= KEEP_FLOATS) {
    pthread_mutex_lock(&kept_lock);
    if (kept_keys == NULL || kept_floats < job->packed_floats) {
      float *old = kept_keys;
      kept_keys = spare;
      kept_floats = job->packed_floats;
      spare = old;
    }
    pthread_mutex_unlock(&kept_lock);
  }
  free(spare);
  free(job->packed_state);
  job->packed_keys = NULL;
  job->packed_state = NULL;
}

/* The packed keys of a key/value head: packs them (with the job's variant, ops) if no thread has,
 * waits if one is packing. */
static const float *packed_keys(attention_job *job, const prefill_ops *ops, int64_t kv_head) {
  int64_t size = (job->keys + 15) / 16 * job->dim * 16;
  float *packed = job->packed_keys + kv_head * size;
  int *state = &job->packed_state[kv_head];
  int expected = 0;
  if (__atomic_compare_exchange_n(state, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    const int64_t b = kv_head / job->groups, g = kv_head % job->groups;
    ops->pack_keys(job->key + b * job->at.key.batch + g * job->at.key.head, job->keys, job->dim,
                   job->at.key.row, packed);
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

static void compute_item(attention_job *job, int64_t item, scratch *s) {
  const prefill_ops *ops = job->avx2 ? &prefill_avx2 : &prefill_avx512;
  const int64_t dim = job->dim, value_dim = job->value_dim, keys = job->keys;
  const int64_t queries = job->queries, group = job->heads / job->groups;
  const int64_t blocks = (queries + BLOCK_ROWS - 1) / BLOCK_ROWS;
  const int64_t head = item / blocks; /* b * H + h */
  const int64_t first_row = (item % blocks) * BLOCK_ROWS;
  const int rows = (int)(queries - first_row < BLOCK_ROWS ? queries - first_row : BLOCK_ROWS);
  const int64_t b = head / job->heads, h = head % job->heads, g = h / group;
  const int64_t kv_head = b * job->groups + g;
  const float *value = job->value + b * job->at.value.batch + g * job->at.value.head;
  const int64_t value_stride = job->at.value.row;
  const float *key_panels = packed_keys(job, ops, kv_head);
  /* the products' factor goes on the query when it is at most 1, else on each product; the rows
   * are copied (rows D apart) when scaled or when they do not lie D apart */
  const float *query = job->query + b * job->at.query.batch + h * job->at.query.head +
                       first_row * job->at.query.row;
  const int64_t query_stride = job->at.query.row;
  const float after = job->qk_after ? job->qk_factor : 1.0f;
  if (!job->qk_after || query_stride != dim) {
    const float factor = job->qk_after ? 1.0f : job->qk_factor;
    for (int r = 0; r < rows; r++) {
      ops->scale_row(s->query + r * dim, query + r * query_stride, dim, factor);
    }
    query = s->query;
  }
  float row_max[BLOCK_ROWS], row_sum[BLOCK_ROWS];
  int64_t visible[BLOCK_ROWS]; /* keys the mask leaves visible, so far */
  for (int r = 0; r < rows; r++) {
    row_max[r] = -INFINITY;
    row_sum[r] = 0.0f;
    visible[r] = 0;
  }
  /* the mask's offset for (b, h, first_row) */
  const int64_t mask_base = job->mask_type == MASK_NONE
                                ? 0
                                : (head / job->heads) * job->mask_stride[0] +
                                      (head % job->heads) * job->mask_stride[1] +
                                      first_row * job->mask_stride[2];
  memset(s->out, 0, sizeof(float) * rows * s->out_stride);
  /* under the causal mask the block's last row sees keys up to first_row + rows - 1 */
  int64_t key_end = keys;
  if (job->causal && first_row + rows < keys) {
    key_end = first_row + rows;
  }
  for (int64_t k0 = 0; k0 < key_end; k0 += BLOCK_KEYS) {
    int64_t n = key_end - k0 < BLOCK_KEYS ? key_end - k0 : BLOCK_KEYS;
    int64_t panels = (n + 15) / 16;
    ops->qk_block(rows, dim, query, key_panels + (k0 / 16) * dim * 16, panels, after, s->scores);
    for (int r = 0; r < rows; r++) {
      float *scores = s->scores + r * SCORE_STRIDE;
      int64_t valid = n;
      if (job->causal && first_row + r + 1 - k0 < n) {
        valid = first_row + r + 1 - k0; /* keys k0 .. first_row + r */
      }
      if (valid <= 0) {
        memset(scores, 0, sizeof(float) * panels * 16);
        continue;
      }
      if (job->softcap != 0.0f) {
        ops->softcap_row(scores, valid, job->tanh_inner, job->softcap);
      }
      if (job->mask_type != MASK_NONE) {
        const int64_t stride = job->mask_stride[3];
        const int64_t offset = mask_base + r * job->mask_stride[2] + k0 * stride;
        visible[r] += ops->mask_scores(mask_at(job->mask, job->mask_type, offset), job->mask_type,
                                       stride, valid, scores);
      }
      float rescale = ops->softmax_step(scores, valid, panels * 16, job->weight_shift, job->weight_down,
                                   &row_max[r], &row_sum[r]);
      if (rescale != 1.0f) {
        ops->rescale(s->out + r * s->out_stride, s->out_stride, rescale);
      }
    }
    ops->pv_block(rows, n, s->scores, value + k0 * value_stride, value_dim, value_stride, s->out,
                  s->out_stride);
  }
  float *output = job->output + b * job->at.output.batch + h * job->at.output.head +
                  first_row * job->at.output.row;
  for (int r = 0; r < rows; r++) {
    float *row = output + r * job->at.output.row;
    if ((job->mask_type != MASK_NONE && visible[r] == 0) || row_sum[r] == 0.0f) {
      /* a row the mask hides entirely gets zeros, as in ONNX (not 0/0, nor a hidden key's NaN),
       * and so does a row whose scores are all -inf (a sum of 0: a finite mask that took the
       * scores below -FLT_MAX), as in the step-by-step chain */
      memset(row, 0, sizeof(float) * value_dim);
      continue;
    }
    ops->scale_row(row, s->out + r * s->out_stride, value_dim, 1.0f / row_sum[r]);
  }
}

int work_split_init(work_split *split, int64_t items, int workers) {
  int64_t count = workers < items ? workers : items;
  split->workers = count < 1 ? 1 : count > MAX_WORKERS ? MAX_WORKERS : (int)count;
  split->next_worker = 0;
  for (int w = 0; w < split->workers; w++) {
    split->next[w] = items * w / split->workers;
    split->end[w] = items * (w + 1) / split->workers;
  }
  return split->workers;
}

int64_t work_split_run(work_split *split, void (*compute)(void *job, int64_t item, void *scratch),
                       void *job, void *scratch) {
  int64_t done = 0;
  int own = __atomic_fetch_add(&split->next_worker, 1, __ATOMIC_RELAXED) % split->workers;
  for (int w = 0; w < split->workers; w++) {
    int range = (own + w) % split->workers;
    for (;;) {
      int64_t item = __atomic_fetch_add(&split->next[range], 1, __ATOMIC_RELAXED);
      if (item >= split->end[range]) {
        break;
      }
      compute(job, item, scratch);
      done++;
    }
  }
  return done;
}

static void compute_any(void *job, int64_t item, void *s) { compute_item(job, item, s); }

int64_t attention_work(attention_job *job) {
  scratch *s = thread_scratch(job);
  if (s == NULL) {
    return -1;
  }
  return work_split_run(&job->split, compute_any, job, s);
}

/*
 * libtorch's OpenMP team. libtorch runs its own parallel ops on a libgomp thread team whose
 * workers spin for a while after each op; helper threads of our own would then compete with those
 * spinning workers for the cores. Running on the same team instead means the threads that spin are
 * the threads that work. GOMP_parallel is the entry point gcc emits for `#pragma omp parallel`.
 */
typedef void (*gomp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);
static gomp_parallel_fn gomp_parallel;

/* dl_iterate_phdr callback: remembers GOMP_parallel of a loaded libgomp, libtorch's first. */
static int find_gomp(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  const char *name = info->dlpi_name;
  int bundled = name != NULL && strstr(name, "libgomp-") != NULL; /* libtorch's hashed copy */
  if (name == NULL || strstr(name, "libgomp") == NULL) {
    return 0;
  }
  void *handle = dlopen(name, RTLD_NOW | RTLD_NOLOAD); /* only if already loaded */
  void *symbol = handle != NULL ? dlsym(handle, "GOMP_parallel") : NULL;
  if (symbol != NULL) {
    *(void **)data = symbol;
  }
  return symbol != NULL && bundled; /* stop at libtorch's copy, else keep looking */
}

int attention_find_openmp(void) {
  void *symbol = NULL;
  dl_iterate_phdr(find_gomp, &symbol);
  gomp_parallel = (gomp_parallel_fn)symbol;
  return gomp_parallel != NULL;
}

typedef struct {
  int64_t (*work)(void *);
  void *job;
  int64_t computed;
} team_task;

static void team_member(void *data) {
  team_task *task = data;
  int64_t items = task->work(task->job);
  if (items > 0) {
    __atomic_fetch_add(&task->computed, items, __ATOMIC_RELAXED);
  }
}

int64_t attention_team_run(int64_t (*work)(void *), void *job, int workers) {
  team_task task = {work, job, 0};
  gomp_parallel(team_member, &task, (unsigned)workers, 0);
  return task.computed;
}

static int64_t work_attention_job(void *job) { return attention_work(job); }

int64_t attention_work_openmp(attention_job *job) {
  return attention_team_run(work_attention_job, job, job->workers);
}
