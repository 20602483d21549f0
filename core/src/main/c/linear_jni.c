/*
 * JNI entry points of io.github.djlattention.ops.FewRowLinear: a job is planned once per call over
 * the tensors' memory, worked on by libtorch's OpenMP team (or the calling thread and the kernels'
 * helper threads), then released.
 */
#include <jni.h>
#include <stdint.h>
#include <stdlib.h>

#include "attention_kernel.h"
#include "linear_kernel.h"
#include "jni_buffers.h"

/* Returns the job's handle, 0 when a buffer is not direct or too small, -1 when out of memory. */
JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_FewRowLinear_plan(
    JNIEnv *env, jclass cls, jobject x, jobject weight, jobject bias, jobject y, jlong rows,
    jlong in, jlong out, jboolean avx2) {
  (void)cls;
  /* the AVX-512 variant only where the CPU has it, whatever the caller asks */
  const int level = cpu_level();
  if (rows <= 0 || in <= 0 || out <= 0 || level == 0) {
    return 0;
  }
  const float *xs = jni_floats(env, x, rows * in);
  const float *w = jni_floats(env, weight, out * in);
  const float *b = bias == NULL ? NULL : jni_floats(env, bias, out);
  float *ys = jni_floats(env, y, rows * out);
  if (xs == NULL || w == NULL || ys == NULL || (bias != NULL && b == NULL)) {
    return 0;
  }
  linear_job *job = calloc(1, sizeof(linear_job));
  if (job == NULL) {
    return -1;
  }
  job->x = xs;
  job->weight = w;
  job->bias = b;
  job->y = ys;
  job->rows = rows;
  job->in = in;
  job->out = out;
  job->avx2 = avx2 == JNI_TRUE || level < 2;
  if (linear_plan(job) != 0) {
    free(job);
    return 0;
  }
  return (jlong)(intptr_t)job;
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_FewRowLinear_items(JNIEnv *env,
                                                                          jclass cls,
                                                                          jlong handle) {
  (void)env;
  (void)cls;
  return ((linear_job *)(intptr_t)handle)->items;
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_FewRowLinear_work(JNIEnv *env, jclass cls,
                                                                         jlong handle) {
  (void)env;
  (void)cls;
  return linear_work((linear_job *)(intptr_t)handle);
}

JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_FewRowLinear_workOpenMp(JNIEnv *env,
                                                                               jclass cls,
                                                                               jlong handle,
                                                                               jint workers) {
  (void)env;
  (void)cls;
  return linear_work_openmp((linear_job *)(intptr_t)handle, workers);
}

JNIEXPORT void JNICALL Java_io_github_djlattention_ops_FewRowLinear_release(JNIEnv *env,
                                                                           jclass cls,
                                                                           jlong handle) {
  (void)env;
  (void)cls;
  free((linear_job *)(intptr_t)handle);
}
