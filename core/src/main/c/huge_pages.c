/*
 * JNI entry points of io.github.djlattention.ops.HugePages: transparent huge pages for the large,
 * long-lived arrays that a decode step streams whole (the KV cache, the projections' weights). On 4
 * KiB pages each 4 KiB of such a read costs a TLB miss; on this project's machine a plain read of
 * 128 MiB ran at 21 to 28 GB/s on 4 KiB pages and at 33 to 53 GB/s on 2 MiB pages
 * (docs/performance.md). Both calls change how memory is mapped, never what it holds.
 */
#define _GNU_SOURCE
#include <jni.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((uintptr_t)2 << 20)

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif

/* The 2 MiB-aligned part [*start, *end) of the buffer's memory; returns its address, or NULL. */
static char *aligned_part(JNIEnv *env, jobject buffer, jlong *capacity, uintptr_t *start,
                          uintptr_t *end) {
  if (buffer == NULL) {
    return NULL;
  }
  char *data = (*env)->GetDirectBufferAddress(env, buffer);
  *capacity = (*env)->GetDirectBufferCapacity(env, buffer);
  if (data == NULL || *capacity < 0) {
    return NULL;
  }
  *start = ((uintptr_t)data + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  *end = ((uintptr_t)data + (uintptr_t)*capacity) & ~(HUGE_PAGE - 1);
  return data;
}

/*
 * For a buffer no page of which has been touched yet: advises MADV_HUGEPAGE on its 2 MiB-aligned
 * part, so that the first touch faults in huge pages, then zeroes all of it. Returns the bytes
 * advised (0 where the buffer holds no aligned 2 MiB or the kernel refused the advice), or -1 when
 * the buffer is not direct.
 */
JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_HugePages_zeroOnHugePages(JNIEnv *env,
                                                                                 jclass cls,
                                                                                 jobject buffer) {
  (void)cls;
  jlong capacity = 0;
  uintptr_t start = 0, end = 0;
  char *data = aligned_part(env, buffer, &capacity, &start, &end);
  if (data == NULL) {
    return -1;
  }
  jlong advised = 0;
  if (end > start && madvise((void *)start, end - start, MADV_HUGEPAGE) == 0) {
    advised = (jlong)(end - start);
  }
  memset(data, 0, (size_t)capacity);
  return advised;
}

/*
 * For memory already in use: asks the kernel to move the 2 MiB-aligned part onto huge pages now
 * (MADV_COLLAPSE copies the pages and remaps them; readers meanwhile see the same bytes). Returns
 * the bytes collapsed, 0 where the kernel cannot (no aligned 2 MiB, a kernel before 6.1, huge pages
 * off, no free huge page), or -1 when the buffer is not direct.
 */
JNIEXPORT jlong JNICALL Java_io_github_djlattention_ops_HugePages_collapse(JNIEnv *env, jclass cls,
                                                                          jobject buffer) {
  (void)cls;
  jlong capacity = 0;
  uintptr_t start = 0, end = 0;
  if (aligned_part(env, buffer, &capacity, &start, &end) == NULL) {
    return -1;
  }
  if (end <= start || madvise((void *)start, end - start, MADV_COLLAPSE) != 0) {
    return 0;
  }
  return (jlong)(end - start);
}
