package io.github.djlattention.io;

import io.github.djlattention.testing.Layouts;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Builds {@code .npy} and {@code .npz} content byte by byte in either memory order (C or Fortran)
 * and either byte order, as {@code np.save} writes it, without Python.
 */
final class LayoutFiles {
  private LayoutFiles() {}

  /**
   * Random elements of a dtype, little-endian, in C order; booleans are 0 or 1.
   *
   * @param dtype the element type
   * @param count the number of elements
   * @param seed the random seed
   * @return {@code count * itemSize} bytes
   */
  static byte[] sample(ElementType dtype, int count, long seed) {
    byte[] bytes = new byte[Math.multiplyExact(count, dtype.itemSize())];
    Random random = new Random(seed);
    if (dtype == ElementType.BOOL) {
      for (int i = 0; i < bytes.length; i++) {
        bytes[i] = (byte) random.nextInt(2);
      }
    } else {
      random.nextBytes(bytes);
    }
    return bytes;
  }

  /**
   * A complete {@code .npy} file (version 1.0) holding the given elements.
   *
   * @param dtype the element type
   * @param byteOrder the byte order of the file's elements; ignored for one-byte dtypes
   * @param fortranOrder whether the file stores the data column-major, as numpy does for an
   *     F-contiguous array such as a transposed weight
   * @param dims the logical shape
   * @param littleEndianCOrder the elements in C order, little-endian
   * @return the file content
   */
  static byte[] npy(
      ElementType dtype,
      ByteOrder byteOrder,
      boolean fortranOrder,
      long[] dims,
      byte[] littleEndianCOrder) {
    int itemSize = dtype.itemSize();
    byte[] data = littleEndianCOrder.clone();
    if (itemSize > 1 && byteOrder == ByteOrder.BIG_ENDIAN) {
      for (int start = 0; start < data.length; start += itemSize) {
        for (int i = 0, j = itemSize - 1; i < j; i++, j--) {
          byte b = data[start + i];
          data[start + i] = data[start + j];
          data[start + j] = b;
        }
      }
    }
    if (fortranOrder) {
      data = Layouts.toFortranOrder(data, itemSize, dims);
    }
    String descr = dtype.numpyDescr();
    if (itemSize > 1 && byteOrder == ByteOrder.BIG_ENDIAN) {
      descr = ">" + descr.substring(1);
    }
    String header =
        "{'descr': '"
            + descr
            + "', 'fortran_order': "
            + (fortranOrder ? "True" : "False")
            + ", 'shape': "
            + NpyHeader.shapeText(dims)
            + ", }";
    return Fixtures.npy(1, header, data);
  }

  /**
   * A deflated {@code .npz} archive (as {@code np.savez_compressed} writes it).
   *
   * @param entries {@code .npy} contents by array name, in archive order
   * @return the archive content
   */
  static byte[] npz(Map<String, byte[]> entries) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
      for (Map.Entry<String, byte[]> entry : entries.entrySet()) {
        zip.putNextEntry(new ZipEntry(entry.getKey() + ".npy"));
        zip.write(entry.getValue());
        zip.closeEntry();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  /** The little-endian bytes as the native order, as {@link NDArray#toByteArray()} returns. */
  static byte[] nativeOrder(byte[] littleEndian, int itemSize) {
    if (itemSize == 1 || ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN) {
      return littleEndian;
    }
    byte[] swapped = littleEndian.clone();
    for (int start = 0; start < swapped.length; start += itemSize) {
      for (int i = 0; i < itemSize; i++) {
        swapped[start + i] = littleEndian[start + itemSize - 1 - i];
      }
    }
    return swapped;
  }
}
