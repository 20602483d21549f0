/*
 * JNI entry points of io.github.djlattention.ops.NativeAttentionKernel (and, at the end, of
 * DecodeAttentionKernel): a job is planned once per
 * attention call, worked on by the calling thread and the kernel's helper threads, then released.
 */
#include <jni.h>
#include <stdlib.h>

#include "attention_kernel.h"
#include "decode_kernel.h"
#include "jni_buffers.h"

/* 2: AVX-512 (avx512f), 1: AVX2 and FMA, 0: neither (cpu_level). */
JNIEXPORT jint JNICALL
Java_io_github_djlattention_ops_NativeAttentionKernel_cpuLevel(JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  return cpu_level();
}

/*
 * The mask of a job, checked, for both kernels' plans: fills in its address (NULL for MASK_NONE)
 * and its element strides along B, H, S, T, and returns 1; returns 0 when the buffer is not direct
 * or too small, or the last element the kernel may read lies past its end. d: B, H, G, S, T, D, Dv.
 */
static int plan_mask(JNIEnv *env, const jlong *d, jobject mask, jint mask_type,
                     jlongArray mask_strides, jlong mask_elements, const void **data,
                     jlong strides[4]) {
  if (mask_type == MASK_NONE) {
    return 1;
  }
  jlong element_size = mask_type == MASK_BOOL ? 1 : (jlong)sizeof(float);
  *data = (*env)->GetDirectBufferAddress(env, mask);
  if (*data == NULL || (*env)->GetArrayLength(env, mask_strides) != 4 ||
      (*env)->GetDirectBufferCapacity(env, mask) < mask_elements * element_size) {
    return 0;
  }
  (*env)->GetLongArrayRegion(env, mask_strides, 0, 4, strides);
  jlong last = (d[0] - 1) * strides[0] + (d[1] - 1) * strides[1] + (d[3] - 1) * strides[2] +
               (d[4] - 1) * strides[3];
  return last < mask_elements;
}

/* Returns the job's handle, 0 when a buffer is not direct or too small, -1 when out of memory. */
JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_NativeAttentionKernel_plan(
    JNIEnv *env, jclass cls, jobject query, jobject key, jobject value, jobject output,
    jlongArray dims, jboolean sequence_first, jfloat scale, jfloat softcap, jboolean causal,
    jint workers, jboolean avx2, jobject mask, jint mask_type, jlongArray mask_strides,
    jlong mask_elements) {
  (void)cls;
  jlong d[7];
  /* the AVX-512 variant only where the CPU has it, whatever the caller asks */
  const int level = cpu_level();
  if ((*env)->GetArrayLength(env, dims) != 7 || level == 0) {
    return 0;
  }
  (*env)->GetLongArrayRegion(env, dims, 0, 7, d);
  /* B, H, G, S, T, D, Dv */
  const float *q = jni_floats(env, query, d[0] * d[1] * d[3] * d[5]);
  const float *k = jni_floats(env, key, d[0] * d[2] * d[4] * d[5]);
  const float *v = jni_floats(env, value, d[0] * d[2] * d[4] * d[6]);
  float *out = jni_floats(env, output, d[0] * d[1] * d[3] * d[6]);
  if (!q || !k || !v || !out || d[2] <= 0 || d[1] % d[2] != 0) {
    return 0;
  }
  const void *mask_data = NULL;
  jlong strides[4] = {0, 0, 0, 0};
  if (!plan_mask(env, d, mask, mask_type, mask_strides, mask_elements, &mask_data, strides)) {
    return 0;
  }
  attention_job *job = malloc(sizeof(attention_job));
  if (job == NULL) {
    return -1;
  }
  job->query = q;
  job->key = k;
  job->value = v;
  job->output = out;
  job->batch = d[0];
  job->heads = d[1];
  job->groups = d[2];
  job->queries = d[3];
  job->keys = d[4];
  job->dim = d[5];
  job->value_dim = d[6];
  job->at = dense_layout(d[1], d[2], d[3], d[4], d[5], d[6], sequence_first == JNI_TRUE);
  job->scale = scale;
  job->softcap = softcap;
  job->causal = causal == JNI_TRUE;
  job->workers = workers;
  job->avx2 = avx2 == JNI_TRUE || level < 2;
  job->mask = mask_data;
  job->mask_type = mask_type;
  for (int i = 0; i < 4; i++) {
    job->mask_stride[i] = strides[i];
  }
  if (attention_alloc(job) != 0) {
    free(job);
    return -1;
  }
  return (jlong)(intptr_t)job;
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_NativeAttentionKernel_items(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  return attention_items((const attention_job *)(intptr_t)handle);
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_NativeAttentionKernel_work(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  return attention_work((attention_job *)(intptr_t)handle);
}

JNIEXPORT jboolean JNICALL Java_io_github_djlattention_ops_NativeAttentionKernel_findOpenMp(
    JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  return attention_find_openmp() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_NativeAttentionKernel_workOpenMp(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  return attention_work_openmp((attention_job *)(intptr_t)handle);
}

JNIEXPORT void JNICALL Java_io_github_djlattention_ops_NativeAttentionKernel_release(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  attention_job *job = (attention_job *)(intptr_t)handle;
  attention_free(job);
  free(job);
}

/*
 * JNI entry points of io.github.djlattention.ops.DecodeAttentionKernel, the same life cycle: plan,
 * work on the caller's and helper threads (or libtorch's OpenMP team), release.
 */

/* Returns the job's handle, 0 when a buffer is not direct or too small, -1 when out of memory. */
JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_DecodeAttentionKernel_plan(
    JNIEnv *env, jclass cls, jobject query, jobject key, jobject value, jobject output,
    jlongArray dims, jboolean sequence_first, jfloat scale, jfloat softcap, jboolean causal,
    jlong left, jlong right,
    jlongArray valid, jint workers, jboolean avx2, jobject mask, jint mask_type,
    jlongArray mask_strides, jlong mask_elements) {
  (void)cls;
  jlong d[7];
  if ((*env)->GetArrayLength(env, dims) != 7) {
    return 0;
  }
  (*env)->GetLongArrayRegion(env, dims, 0, 7, d);
  /* B, H, G, S, T, D, Dv */
  const float *q = jni_floats(env, query, d[0] * d[1] * d[3] * d[5]);
  const float *k = jni_floats(env, key, d[0] * d[2] * d[4] * d[5]);
  const float *v = jni_floats(env, value, d[0] * d[2] * d[4] * d[6]);
  float *out = jni_floats(env, output, d[0] * d[1] * d[3] * d[6]);
  /* the AVX-512 variant only where the CPU has it, whatever the caller asks */
  const int level = cpu_level();
  if (!q || !k || !v || !out || d[2] <= 0 || d[1] % d[2] != 0 || level == 0) {
    return 0;
  }
  if (valid != NULL && (*env)->GetArrayLength(env, valid) != d[0]) {
    return 0;
  }
  const void *mask_data = NULL;
  jlong strides[4] = {0, 0, 0, 0};
  if (!plan_mask(env, d, mask, mask_type, mask_strides, mask_elements, &mask_data, strides)) {
    return 0;
  }
  decode_job *job = calloc(1, sizeof(decode_job));
  if (job == NULL) {
    return -1;
  }
  if (valid != NULL) {
    job->valid = malloc(sizeof(int64_t) * (size_t)(d[0] > 0 ? d[0] : 1));
    if (job->valid == NULL) {
      free(job);
      return -1;
    }
    (*env)->GetLongArrayRegion(env, valid, 0, (jsize)d[0], (jlong *)job->valid);
  }
  job->query = q;
  job->key = k;
  job->value = v;
  job->output = out;
  job->batch = d[0];
  job->heads = d[1];
  job->groups = d[2];
  job->queries = d[3];
  job->keys = d[4];
  job->dim = d[5];
  job->value_dim = d[6];
  job->at = dense_layout(d[1], d[2], d[3], d[4], d[5], d[6], sequence_first == JNI_TRUE);
  job->scale = scale;
  job->softcap = softcap;
  job->causal = causal == JNI_TRUE;
  job->left = left;
  job->right = right;
  job->workers = workers;
  job->avx2 = avx2 == JNI_TRUE || level < 2;
  job->mask = mask_data;
  job->mask_type = mask_type;
  for (int i = 0; i < 4; i++) {
    job->mask_stride[i] = strides[i];
  }
  if (decode_alloc(job) != 0) {
    decode_free(job);
    free(job);
    return -1;
  }
  return (jlong)(intptr_t)job;
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_DecodeAttentionKernel_items(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  return decode_items((const decode_job *)(intptr_t)handle);
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_DecodeAttentionKernel_work(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  return decode_work((decode_job *)(intptr_t)handle);
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_DecodeAttentionKernel_workOpenMp(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  return decode_work_openmp((decode_job *)(intptr_t)handle);
}

JNIEXPORT void JNICALL Java_io_github_djlattention_ops_DecodeAttentionKernel_release(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  decode_job *job = (decode_job *)(intptr_t)handle;
  decode_free(job);
  free(job);
}
