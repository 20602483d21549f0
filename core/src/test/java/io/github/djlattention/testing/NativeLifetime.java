package io.github.djlattention.testing;

import ai.djl.ndarray.NDArray;
import java.lang.ref.PhantomReference;
import java.lang.ref.ReferenceQueue;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Helpers for tests about the lifetime of native memory behind arrays: an array that points into a
 * Java buffer nobody keeps reachable changes (or crashes the JVM) once the garbage collector has
 * freed the buffer and the memory is reused.
 */
public final class NativeLifetime {
  private NativeLifetime() {}

  /**
   * Makes the JVM free every unreachable direct buffer and reuse its memory: collects garbage until
   * a canary object is known to be collected (the JDK frees direct buffers on the same reference
   * processing), then allocates and fills direct buffers of the given sizes, so that memory freed
   * too early now holds other bytes (or is unmapped).
   *
   * @param junkSizes the byte sizes of the buffers to allocate and fill
   * @throws IllegalStateException if no garbage collection happened within a few seconds
   */
  public static void collectAndReuse(long... junkSizes) {
    ReferenceQueue<Object> queue = new ReferenceQueue<>();
    PhantomReference<Object> canary = new PhantomReference<>(new Object(), queue);
    boolean collected = false;
    try {
      for (int attempt = 0; attempt < 50 && !collected; attempt++) {
        System.gc();
        collected = queue.remove(100) != null;
      }
      Thread.sleep(20); // the reference handler frees the buffers in the same batch
      System.gc();
      Thread.sleep(20);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while collecting garbage", e);
    }
    if (!collected) {
      throw new IllegalStateException("no garbage collection within 5 s; cannot test lifetimes");
    }
    canary.clear();
    List<ByteBuffer> junk = new ArrayList<>();
    for (long size : junkSizes) {
      for (int copy = 0; copy < 4; copy++) {
        ByteBuffer buffer = ByteBuffer.allocateDirect(Math.toIntExact(Math.max(size, 16)));
        while (buffer.remaining() >= Long.BYTES) {
          buffer.putLong(0x5a5a5a5a5a5a5a5aL);
        }
        junk.add(buffer);
      }
    }
    junk.clear();
  }

  /**
   * Whether {@link NDArray#toByteBuffer(boolean) toByteBuffer(true)} hands out the array's own
   * memory: on the PyTorch engine, true exactly when the array is C-contiguous (a strided view gets
   * a contiguous copy instead).
   *
   * @param array a CPU array with at least one element
   * @return whether a write through the direct buffer shows in the array
   */
  public static boolean isCContiguous(NDArray array) {
    ByteBuffer direct = array.toByteBuffer(true);
    byte before = direct.get(0);
    direct.put(0, (byte) (before ^ 1));
    boolean shared = array.toByteArray()[0] != before;
    direct.put(0, before);
    return shared;
  }
}
