/*
 * JNI entry points of io.github.djlattention.ops.NativeBfloat16Kernel: a job is planned once per
 * attention call, worked on by the calling thread and the kernel's helper threads (or libtorch's
 * OpenMP team), then released.
 */
#include <jni.h>
#include <stdlib.h>

#include "attention_bf16.h"
#include "jni_buffers.h"

JNIEXPORT jboolean JNICALL
Java_io_github_djlattention_ops_NativeBfloat16Kernel_cpuSupported(JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  return bf16_cpu_supported() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jboolean JNICALL
Java_io_github_djlattention_ops_NativeBfloat16Kernel_cpuHasAmx(JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  return bf16_cpu_has_amx() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jboolean JNICALL
Java_io_github_djlattention_ops_NativeBfloat16Kernel_amxSupported(JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  return bf16_amx_supported() ? JNI_TRUE : JNI_FALSE;
}

/*
 * Returns the job's handle, 0 when a buffer is not direct or too small (or AMX is asked for where it
 * does not run), -1 when out of memory.
 */
JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_NativeBfloat16Kernel_plan(
    JNIEnv *env, jclass cls, jobject query, jobject key, jobject value, jobject output,
    jlongArray dims, jfloat scale, jfloat softcap, jboolean causal, jlong causal_offset,
    jint workers, jboolean amx, jobject mask, jint mask_type, jlongArray mask_strides,
    jlong mask_elements) {
  (void)cls;
  jlong d[7];
  if ((*env)->GetArrayLength(env, dims) != 7) {
    return 0;
  }
  (*env)->GetLongArrayRegion(env, dims, 0, 7, d);
  /* B, H, G, S, T, D, Dv */
  for (int i = 0; i < 7; i++) {
    if (d[i] <= 0) {
      return 0;
    }
  }
  const float *q = jni_floats(env, query, d[0] * d[1] * d[3] * d[5]);
  const float *k = jni_floats(env, key, d[0] * d[2] * d[4] * d[5]);
  const float *v = jni_floats(env, value, d[0] * d[2] * d[4] * d[6]);
  float *out = jni_floats(env, output, d[0] * d[1] * d[3] * d[6]);
  if (!q || !k || !v || !out || d[1] % d[2] != 0) {
    return 0;
  }
  if (amx == JNI_TRUE && !bf16_amx_supported()) {
    return 0;
  }
  const void *mask_data = NULL;
  jlong strides[4] = {0, 0, 0, 0};
  if (mask_type != BF16_MASK_NONE) {
    if (mask_type != BF16_MASK_BOOL && mask_type != BF16_MASK_FLOAT) {
      return 0;
    }
    jlong element_size = mask_type == BF16_MASK_BOOL ? 1 : (jlong)sizeof(float);
    mask_data = (*env)->GetDirectBufferAddress(env, mask);
    if (mask_data == NULL || (*env)->GetArrayLength(env, mask_strides) != 4 ||
        (*env)->GetDirectBufferCapacity(env, mask) < mask_elements * element_size) {
      return 0;
    }
    (*env)->GetLongArrayRegion(env, mask_strides, 0, 4, strides);
    /* the last element the kernel may read must lie inside the buffer */
    jlong last = (d[0] - 1) * strides[0] + (d[1] - 1) * strides[1] + (d[3] - 1) * strides[2] +
                 (d[4] - 1) * strides[3];
    if (last >= mask_elements) {
      return 0;
    }
  }
  bf16_job *job = calloc(1, sizeof(bf16_job));
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
  job->scale = scale;
  job->softcap = softcap;
  job->causal = causal == JNI_TRUE;
  job->causal_offset = causal_offset;
  job->workers = workers;
  job->amx = amx == JNI_TRUE;
  job->mask = mask_data;
  job->mask_type = mask_type;
  for (int i = 0; i < 4; i++) {
    job->mask_stride[i] = strides[i];
  }
  if (bf16_attention_alloc(job) != 0) {
    free(job);
    return -1;
  }
  return (jlong)(intptr_t)job;
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_NativeBfloat16Kernel_items(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  return bf16_attention_items((const bf16_job *)(intptr_t)handle);
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_NativeBfloat16Kernel_work(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  return bf16_attention_work((bf16_job *)(intptr_t)handle);
}

JNIEXPORT jboolean JNICALL Java_io_github_djlattention_ops_NativeBfloat16Kernel_findOpenMp(
    JNIEnv *env, jclass cls) {
  (void)env;
  (void)cls;
  return bf16_find_openmp() ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_NativeBfloat16Kernel_workOpenMp(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  return bf16_attention_work_openmp((bf16_job *)(intptr_t)handle);
}

JNIEXPORT void JNICALL Java_io_github_djlattention_ops_NativeBfloat16Kernel_release(
    JNIEnv *env, jclass cls, jlong handle) {
  (void)env;
  (void)cls;
  bf16_job *job = (bf16_job *)(intptr_t)handle;
  bf16_attention_free(job);
  free(job);
}
