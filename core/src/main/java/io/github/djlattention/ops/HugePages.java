package io.github.djlattention.ops;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import java.nio.ByteBuffer;

/**
 * Transparent huge pages (2 MiB) for the large, long-lived arrays that a generated token reads
 * whole: the KV cache's buffers and the projections' weights. On 4 KiB pages every 4 KiB of such a
 * read costs a TLB miss; on this project's machine a plain read of 128 MiB ran at 21 to 28 GB/s on
 * 4 KiB pages and at 33 to 53 GB/s on 2 MiB pages (docs/performance.md). The kernel ({@code
 * core/src/main/c/huge_pages.c}) changes how the memory is mapped, never what it holds, and may
 * refuse (huge pages off, no free huge page, a kernel before Linux 6.1 for {@link #collapse}): then
 * nothing changes.
 *
 * <p>Only PyTorch-engine CPU arrays of at least {@link #PAGE_BYTES} and at most 2 GiB, with the
 * native library loaded; {@code -Ddjl.attention.hugepages=false} turns all of it off.
 */
public final class HugePages {

  /** The size of a transparent huge page on x86-64; smaller arrays are left alone. */
  public static final long PAGE_BYTES = 2L << 20;

  /** {@code false} turns huge pages off: {@link KvCache} zeroes with {@code zeros}. */
  static final String ENABLED_PROPERTY = "djl.attention.hugepages";

  private HugePages() {}

  /**
   * Asks the kernel to move an array's memory onto huge pages now ({@code MADV_COLLAPSE}: it copies
   * the pages and remaps them, and readers meanwhile see the same bytes). Meant for dense arrays
   * read whole and often, such as an inference model's weights; it takes time once (40 to 330 ms
   * for 128 MiB on this project's machine). The array is only read: its contents, manager and
   * identity are unchanged (a non-dense array's contiguous copy would be what moves, in a scope of
   * this call's own, so do not pass one).
   *
   * @param array a PyTorch-engine CPU array
   * @return the bytes moved (its 2 MiB-aligned part); 0 where nothing was
   */
  public static long collapse(NDArray array) {
    if (!applies(array.getManager(), array.getShape().size() * array.getDataType().getNumOfBytes())
        || !(array instanceof PtNDArray)) {
      return 0;
    }
    try (NDManager scope = array.getManager().newSubManager()) {
      NDArray view = Attention.borrow(scope, array);
      return Math.max(0, collapse(NativeInputs.buffer(view)));
    }
  }

  /**
   * A zeroed array for {@link KvCache}: made uninitialized (no page touched yet), advised onto huge
   * pages, then zeroed natively, so that the first touch maps huge pages; null where that does not
   * apply (the caller makes it with {@code zeros}).
   *
   * @param advised receives the bytes advised in its first element
   */
  static NDArray zeroed(NDManager manager, Shape shape, DataType dataType, long[] advised) {
    if (!applies(manager, shape.size() * dataType.getNumOfBytes())) {
      return null;
    }
    NDArray buffer = manager.create(shape, dataType); // uninitialized
    if (buffer instanceof PtNDArray array) {
      long bytes = zeroOnHugePages(NativeInputs.buffer(array));
      if (bytes >= 0) {
        advised[0] = bytes;
        return buffer;
      }
    }
    buffer.close();
    return null;
  }

  private static boolean applies(NDManager manager, long bytes) {
    return !"false".equalsIgnoreCase(System.getProperty(ENABLED_PROPERTY))
        && bytes >= PAGE_BYTES
        && bytes <= Integer.MAX_VALUE
        && "PyTorch".equals(manager.getEngine().getEngineName())
        && Device.cpu().equals(manager.getDevice())
        && NativeAttentionKernel.libraryLoaded();
  }

  /** Advises huge pages on an untouched direct buffer, then zeroes it; -1 if not direct. */
  private static native long zeroOnHugePages(ByteBuffer buffer);

  /** Moves a direct buffer's memory onto huge pages; the bytes moved, -1 if not direct. */
  private static native long collapse(ByteBuffer buffer);
}
