/*
 * The one check every JNI entry point makes of a direct buffer before a kernel reads or writes it.
 */
#ifndef DJL_ATTENTION_JNI_BUFFERS_H
#define DJL_ATTENTION_JNI_BUFFERS_H

#include <jni.h>

/* The buffer's address when it is direct and holds at least `elements` floats, else NULL. */
static inline void *jni_floats(JNIEnv *env, jobject buffer, jlong elements) {
  if (buffer == NULL) {
    return NULL;
  }
  void *data = (*env)->GetDirectBufferAddress(env, buffer);
  jlong capacity = (*env)->GetDirectBufferCapacity(env, buffer);
  if (data == NULL || capacity < elements * (jlong)sizeof(float)) {
    return NULL;
  }
  return data;
}

#endif
