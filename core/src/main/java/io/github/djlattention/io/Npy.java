package io.github.djlattention.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * Reads and writes single arrays in NumPy's {@code .npy} format.
 *
 * <p>Reading accepts format versions 1.0, 2.0 and 3.0; dtypes {@code float16}, {@code float32},
 * {@code float64}, {@code bool}, {@code int8}, {@code uint8}, {@code int32} and {@code int64} in
 * either byte order (big-endian data is converted); C or Fortran order (Fortran data is reordered
 * into C order of the logical shape); 0-d arrays and zero-length dimensions. Everything is
 * validated before the data is allocated: magic, version, header length, the header dict (parsed
 * strictly), the shape, and that the data section is exactly {@code count * itemsize} bytes.
 *
 * <p>Every array read is C-contiguous and lives in memory that the engine allocated and owns, not
 * in a Java buffer, so that a view taken from it stays valid after the array is closed, whatever
 * the garbage collector does.
 */
public final class Npy {
  private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
  private static final int ALIGNMENT = 64;
  private static final int MAX_TRAILING_REPORTED = 1 << 16;

  private Npy() {}

  /**
   * Reads a {@code .npy} file.
   *
   * @param manager the manager that will own the array
   * @param file the file to read
   * @return the array, in the file's shape and dtype
   * @throws IllegalArgumentException if the content is not a supported {@code .npy} array; the
   *     message starts with the file name and says what is wrong
   * @throws IllegalArgumentException if the path is not a regular file, or exceeds a limit of
   *     {@link InputLimits}
   * @throws UncheckedIOException if the file cannot be read
   */
  public static NDArray read(NDManager manager, Path file) {
    Objects.requireNonNull(manager, "manager");
    String source = file.toString();
    InputLimits.requireFile(file, InputLimits.Limit.FILE_BYTES);
    try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
      return decode(manager, in, Files.size(file), source);
    } catch (NoSuchFileException e) {
      throw new UncheckedIOException(source + ": no such file", e);
    } catch (IOException e) {
      throw new UncheckedIOException(source + ": cannot read: " + e.getMessage(), e);
    }
  }

  /**
   * Decodes the bytes of a {@code .npy} file.
   *
   * @param manager the manager that will own the array
   * @param bytes the complete file content
   * @param sourceName the name used in error messages, such as the file name
   * @return the decoded array
   * @throws IllegalArgumentException if the bytes are not a supported {@code .npy} array
   */
  public static NDArray decode(NDManager manager, byte[] bytes, String sourceName) {
    Objects.requireNonNull(manager, "manager");
    try {
      return decode(manager, new ByteArrayInputStream(bytes), bytes.length, sourceName);
    } catch (IOException e) {
      throw new UncheckedIOException(e); // cannot happen for an in-memory stream
    }
  }

  /**
   * Decodes a {@code .npy} stream, which must end right after the data.
   *
   * @param manager the manager that will own the array
   * @param in the stream; read to its end but not closed
   * @param sourceName the name used in error messages, such as the file name
   * @return the decoded array
   * @throws IllegalArgumentException if the content is not a supported {@code .npy} array
   * @throws UncheckedIOException if the stream cannot be read
   */
  public static NDArray decode(NDManager manager, InputStream in, String sourceName) {
    Objects.requireNonNull(manager, "manager");
    try {
      return decode(manager, in, -1, sourceName);
    } catch (IOException e) {
      throw new UncheckedIOException(sourceName + ": cannot read: " + e.getMessage(), e);
    }
  }

  /**
   * The one decoder behind every read.
   *
   * @param length the total stream length if known, else -1; lets size errors be reported before
   *     reading the data
   */
  static NDArray decode(NDManager manager, InputStream in, long length, String source)
      throws IOException {
    byte[] prefix = in.readNBytes(MAGIC.length + 2);
    if (prefix.length < MAGIC.length
        || !Arrays.equals(prefix, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
      throw bad(
          source,
          "not a .npy file (expected magic \\x93NUMPY, found "
              + printable(prefix, MAGIC.length)
              + (prefix.length < MAGIC.length ? ", file too short" : "")
              + ")");
    }
    if (prefix.length < MAGIC.length + 2) {
      throw bad(source, "truncated header: file ends inside the format version");
    }
    int major = prefix[MAGIC.length] & 0xff;
    int minor = prefix[MAGIC.length + 1] & 0xff;
    if (major < 1 || major > 3 || minor != 0) {
      throw bad(
          source,
          "unsupported .npy format version " + major + "." + minor + " (expected 1.0, 2.0 or 3.0)");
    }
    int lengthBytes = major == 1 ? 2 : 4;
    byte[] lengthField = in.readNBytes(lengthBytes);
    if (lengthField.length < lengthBytes) {
      throw bad(source, "truncated header: file ends inside the header length");
    }
    ByteBuffer lengthBuffer = ByteBuffer.wrap(lengthField).order(ByteOrder.LITTLE_ENDIAN);
    long headerLength =
        major == 1 ? lengthBuffer.getShort() & 0xffffL : lengthBuffer.getInt() & 0xffffffffL;
    long prefixLength = MAGIC.length + 2L + lengthBytes;
    long maxHeader = InputLimits.Limit.HEADER_BYTES.get();
    if (headerLength > maxHeader) {
      throw bad(
          source,
          "header length "
              + headerLength
              + " exceeds the "
              + maxHeader
              + "-byte limit (-D"
              + InputLimits.Limit.HEADER_BYTES.property()
              + "=N)");
    }
    if (length >= 0 && prefixLength + headerLength > length) {
      throw bad(
          source,
          "truncated header: header length says "
              + headerLength
              + " bytes, file has "
              + (length - prefixLength));
    }
    byte[] headerBytes = in.readNBytes((int) headerLength);
    if (headerBytes.length < headerLength) {
      throw bad(
          source,
          "truncated header: header length says "
              + headerLength
              + " bytes, file has "
              + headerBytes.length);
    }
    NpyHeader header;
    try {
      header = NpyHeader.parse(headerText(headerBytes, major));
    } catch (IllegalArgumentException e) {
      throw bad(source, e.getMessage(), e);
    }
    long dataBytes;
    try {
      dataBytes = header.dataBytes();
    } catch (IllegalArgumentException e) {
      throw bad(source, e.getMessage(), e);
    }
    if (length >= 0) {
      long available = length - prefixLength - headerLength;
      if (available != dataBytes) {
        throw sizeMismatch(source, header, available);
      }
    }
    String array = "shape " + NpyHeader.shapeText(header.dims()) + " " + header.dtype().numpyName();
    try {
      InputLimits.Limit.ARRAY_BYTES.check(dataBytes, array);
      InputLimits.Limit.TENSOR_ELEMENTS.check(dataBytes / header.dtype().itemSize(), array);
    } catch (IllegalArgumentException e) {
      throw bad(source, e.getMessage(), e);
    }
    byte[] data;
    if (length >= 0) {
      // The length is known and matches: one allocation of the exact size.
      data = new byte[(int) dataBytes];
      int read = in.readNBytes(data, 0, data.length);
      if (read < data.length) {
        throw sizeMismatch(source, header, read);
      }
    } else {
      // The length is unknown (a member of unknown size): grows only as far as the data does.
      data = in.readNBytes((int) dataBytes);
    }
    if (data.length < dataBytes) {
      throw sizeMismatch(source, header, data.length);
    }
    // Bounded, so that a lying (for example zip-bombed) stream is not drained to its end.
    int trailing = in.readNBytes(MAX_TRAILING_REPORTED + 1).length;
    if (trailing > MAX_TRAILING_REPORTED) {
      throw bad(
          source,
          "trailing data: header says "
              + header.describe()
              + ", file has more than "
              + (dataBytes + MAX_TRAILING_REPORTED));
    }
    if (trailing > 0) {
      throw sizeMismatch(source, header, dataBytes + trailing);
    }
    return toNDArray(manager, header, data);
  }

  private static String headerText(byte[] headerBytes, int major) {
    if (major < 3) {
      return new String(headerBytes, StandardCharsets.ISO_8859_1);
    }
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(headerBytes))
          .toString();
    } catch (CharacterCodingException e) {
      throw new IllegalArgumentException("malformed header: not valid UTF-8", e);
    }
  }

  /**
   * Builds the array from the validated data section.
   *
   * <p>The result owns its memory: the PyTorch engine wraps a direct buffer without copying
   * (torch::from_blob) and only the array made from it keeps the buffer reachable, so a view of
   * that array (such as the transpose that Fortran order needs, or a caller's reshape) would point
   * into memory the garbage collector frees once the array is closed. The data is therefore put in
   * C order here and copied once into memory that the engine allocates and reference-counts; the
   * wrapping array is closed right after. Peak memory is three times the data size (the bytes read,
   * the direct buffer and the engine's copy).
   */
  private static NDArray toNDArray(NDManager manager, NpyHeader header, byte[] data) {
    int itemSize = header.dtype().itemSize();
    if (itemSize > 1 && header.byteOrder() != ByteOrder.nativeOrder()) {
      swapBytes(data, itemSize);
    }
    if (header.dtype() == ElementType.BOOL) {
      for (int i = 0; i < data.length; i++) {
        data[i] = data[i] == 0 ? (byte) 0 : (byte) 1;
      }
    }
    ByteBuffer buffer = manager.allocateDirect(data.length).order(ByteOrder.nativeOrder());
    long[] dims = header.dims();
    if (header.fortranOrder() && dims.length >= 2) {
      putInCOrder(buffer, data, itemSize, dims);
    } else {
      buffer.put(data).rewind();
    }
    try (NDArray wrapped = manager.create(buffer, header.shape(), header.dtype().dataType())) {
      return wrapped.duplicate();
    }
  }

  /**
   * Copies column-major elements (first axis fastest) into {@code target} in C order (last axis
   * fastest); the target's position is left unchanged.
   *
   * @param target the buffer to fill, {@code data.length} bytes from index 0
   * @param data the elements in Fortran order
   * @param itemSize bytes per element
   * @param dims the logical shape
   */
  private static void putInCOrder(ByteBuffer target, byte[] data, int itemSize, long[] dims) {
    int rank = dims.length;
    long[] strides = new long[rank]; // bytes between neighbours along each axis in `data`
    long stride = itemSize;
    for (int axis = 0; axis < rank; axis++) {
      strides[axis] = stride;
      stride *= dims[axis];
    }
    long[] index = new long[rank];
    long source = 0;
    for (int offset = 0; offset < data.length; offset += itemSize) {
      target.put(offset, data, (int) source, itemSize);
      for (int axis = rank - 1; axis >= 0; axis--) {
        source += strides[axis];
        if (++index[axis] < dims[axis]) {
          break;
        }
        source -= strides[axis] * dims[axis];
        index[axis] = 0;
      }
    }
  }

  /**
   * Writes an array as a {@code .npy} file, atomically: the data goes to a temporary file in the
   * same directory, which then replaces {@code file}.
   *
   * @param file the file to write; replaced if it exists
   * @param array the array; any shape, dtype {@code float16/32/64}, {@code bool} or integer
   * @throws IllegalArgumentException if the array's data type cannot be stored in {@code .npy}
   * @throws UncheckedIOException if the file cannot be written; no temporary file is left behind
   */
  public static void write(Path file, NDArray array) {
    byte[] bytes = encode(array);
    AtomicWrite.write(file, out -> out.write(bytes));
  }

  /**
   * Encodes an array as the bytes of a {@code .npy} file (version 1.0, or 2.0 if the header does
   * not fit; little-endian; C order).
   *
   * @param array the array; any shape, dtype {@code float16/32/64}, {@code bool} or integer
   * @return the file content
   * @throws IllegalArgumentException if the array's data type cannot be stored, or its data exceeds
   *     {@value Integer#MAX_VALUE} bytes
   */
  public static byte[] encode(NDArray array) {
    ElementType dtype =
        ElementType.of(array.getDataType())
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "cannot store data type "
                            + array.getDataType().toString().toLowerCase(Locale.ROOT)
                            + " in .npy (expected "
                            + ElementType.SUPPORTED
                            + ")"));
    long[] dims = array.getShape().getShape();
    long dataBytes = new NpyHeader(dtype, ByteOrder.LITTLE_ENDIAN, false, dims).dataBytes();
    byte[] header = NpyHeader.format(dtype, dims).getBytes(StandardCharsets.ISO_8859_1);
    int v1Prefix = MAGIC.length + 2 + 2;
    int major = roundUp(v1Prefix + header.length + 1, ALIGNMENT) - v1Prefix <= 0xffff ? 1 : 2;
    int prefixLength = MAGIC.length + 2 + (major == 1 ? 2 : 4);
    int padded = roundUp(prefixLength + header.length + 1, ALIGNMENT) - prefixLength;
    ByteArrayOutputStream out =
        new ByteArrayOutputStream((int) (prefixLength + padded + dataBytes));
    out.writeBytes(MAGIC);
    out.write(major);
    out.write(0);
    ByteBuffer length = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(padded);
    out.write(length.array(), 0, major == 1 ? 2 : 4);
    out.writeBytes(header);
    for (int i = header.length; i < padded - 1; i++) {
      out.write(' ');
    }
    out.write('\n');
    byte[] data = array.toByteArray();
    if (data.length != dataBytes) {
      throw new IllegalStateException(
          "array returned " + data.length + " bytes, expected " + dataBytes);
    }
    if (dtype.itemSize() > 1 && ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      swapBytes(data, dtype.itemSize());
    }
    out.writeBytes(data);
    return out.toByteArray();
  }

  private static int roundUp(int value, int multiple) {
    return (value + multiple - 1) / multiple * multiple;
  }

  private static void swapBytes(byte[] data, int itemSize) {
    for (int start = 0; start < data.length; start += itemSize) {
      for (int i = 0, j = itemSize - 1; i < j; i++, j--) {
        byte b = data[start + i];
        data[start + i] = data[start + j];
        data[start + j] = b;
      }
    }
  }

  private static IllegalArgumentException sizeMismatch(
      String source, NpyHeader header, long available) {
    String problem = available < header.dataBytes() ? "truncated" : "trailing data";
    return bad(source, problem + ": header says " + header.describe() + ", file has " + available);
  }

  /** Bytes as Python prints them: printable ASCII as is, the rest as {@code \\xNN}. */
  private static String printable(byte[] bytes, int limit) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < Math.min(bytes.length, limit); i++) {
      int b = bytes[i] & 0xff;
      if (b >= 0x20 && b < 0x7f && b != '\\') {
        out.append((char) b);
      } else {
        out.append(String.format("\\x%02x", b));
      }
    }
    return out.length() == 0 ? "nothing" : out.toString();
  }

  private static IllegalArgumentException bad(String source, String problem) {
    return new IllegalArgumentException(source + ": " + problem);
  }

  private static IllegalArgumentException bad(String source, String problem, Throwable cause) {
    return new IllegalArgumentException(source + ": " + problem, cause);
  }
}
