package io.github.djlattention.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import io.github.djlattention.io.Npy;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The same values in other memory layouts, for differential tests: read back from a Fortran-order
 * {@code .npy}, a strided (transposed) view, and a view at an offset into a larger tensor.
 */
public final class Layouts {

  /** The layouts a differential case may hand the library. */
  public enum Layout {
    /** A fresh C-contiguous array. */
    CONTIGUOUS,
    /** Read from a Fortran-order {@code .npy} (as numpy writes an F-contiguous array). */
    FORTRAN_NPY,
    /** A view whose last two axes are swapped in memory: strided, not contiguous. */
    TRANSPOSED_VIEW,
    /** The second half of a tensor twice as long along the first axis: a view at an offset. */
    OFFSET_VIEW
  }

  private Layouts() {}

  /**
   * Returns an array equal to {@code array} in the given layout, owned by {@code manager}.
   *
   * @param manager the manager of the result and its temporaries
   * @param array a float32 or float64 array of rank 2 or more
   * @param layout the layout
   * @return the array in that layout
   */
  public static NDArray as(NDManager manager, NDArray array, Layout layout) {
    switch (layout) {
      case FORTRAN_NPY:
        return fortranRead(manager, array);
      case TRANSPOSED_VIEW:
        {
          NDArray swapped = array.swapAxes(-1, -2).duplicate(); // memory of the transpose
          swapped.attach(manager);
          NDArray view = swapped.swapAxes(-1, -2);
          view.attach(manager);
          return view;
        }
      case OFFSET_VIEW:
        {
          NDArray doubled = array.zerosLike().concat(array, 0); // (2·N, ...)
          doubled.attach(manager);
          NDArray view = doubled.get(new NDIndex("{}:", array.getShape().get(0))); // offset N
          view.attach(manager);
          return view;
        }
      default:
        NDArray copy = array.duplicate();
        copy.attach(manager);
        return copy;
    }
  }

  /** The array as {@link Npy#decode} reads it from a Fortran-order file of the same values. */
  private static NDArray fortranRead(NDManager manager, NDArray array) {
    DataType dtype = array.getDataType();
    int itemSize = dtype.getNumOfBytes();
    ByteBuffer c = array.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    byte[] cOrder = new byte[c.remaining()];
    c.get(cOrder);
    long[] dims = array.getShape().getShape();
    byte[] data = toFortranOrder(cOrder, itemSize, dims);
    StringBuilder shape = new StringBuilder("(");
    for (long dim : dims) {
      shape.append(dim).append(", ");
    }
    shape.append(')');
    String descr = dtype == DataType.FLOAT64 ? "<f8" : "<f4";
    StringBuilder header =
        new StringBuilder(
            "{'descr': '" + descr + "', 'fortran_order': True, 'shape': " + shape + ", }");
    while ((10 + header.length() + 1) % 64 != 0) {
      header.append(' ');
    }
    header.append('\n');
    byte[] headerBytes = header.toString().getBytes(StandardCharsets.US_ASCII);
    ByteBuffer file = ByteBuffer.allocate(10 + headerBytes.length + data.length);
    file.order(ByteOrder.LITTLE_ENDIAN);
    file.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII));
    file.put((byte) 1).put((byte) 0).putShort((short) headerBytes.length);
    file.put(headerBytes).put(data);
    return Npy.decode(manager, file.array(), "fortran-order case");
  }

  /**
   * Reorders elements from C order (last axis fastest) to Fortran order (first axis fastest).
   *
   * @param cOrder the elements in C order
   * @param itemSize bytes per element
   * @param dims the logical shape
   * @return the same elements in column-major order
   */
  public static byte[] toFortranOrder(byte[] cOrder, int itemSize, long[] dims) {
    byte[] fortran = new byte[cOrder.length];
    long[] strides = new long[dims.length]; // in elements, first axis fastest
    long stride = 1;
    for (int axis = 0; axis < dims.length; axis++) {
      strides[axis] = stride;
      stride *= dims[axis];
    }
    long[] index = new long[dims.length];
    int elements = cOrder.length / itemSize;
    for (int n = 0; n < elements; n++) {
      long target = 0;
      for (int axis = 0; axis < dims.length; axis++) {
        target += index[axis] * strides[axis];
      }
      System.arraycopy(cOrder, n * itemSize, fortran, (int) target * itemSize, itemSize);
      for (int axis = dims.length - 1; axis >= 0 && ++index[axis] == dims[axis]; axis--) {
        index[axis] = 0;
      }
    }
    return fortran;
  }
}
