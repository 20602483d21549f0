package io.github.djlattention.io;

import ai.djl.ndarray.types.Shape;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.LongStream;

/**
 * The parsed header dict of a {@code .npy} file.
 *
 * @param dtype the element type
 * @param byteOrder the byte order of multi-byte elements in the file
 * @param fortranOrder whether the data is laid out column-major
 * @param dims the shape, each entry non-negative
 */
record NpyHeader(ElementType dtype, ByteOrder byteOrder, boolean fortranOrder, long[] dims) {
  /** The largest data section this package reads or writes, in bytes. */
  static final long MAX_DATA_BYTES = Integer.MAX_VALUE;

  private static final Set<String> KEYS = Set.of("descr", "fortran_order", "shape");
  private static final Pattern DESCR = Pattern.compile("([<>|=])([a-zA-Z])(\\d+)");

  /**
   * Parses and validates a header dict such as {@code {'descr': '<f4', 'fortran_order': False,
   * 'shape': (2, 3), }}.
   *
   * @throws IllegalArgumentException with a message (without the source name) saying what is wrong
   */
  static NpyHeader parse(String text) {
    Object literal;
    try {
      literal = PyLiteral.parse(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "malformed header " + quote(text) + ": " + e.getMessage(), e);
    }
    if (!(literal instanceof Map)) {
      throw new IllegalArgumentException("malformed header " + quote(text) + ": not a dict");
    }
    Map<?, ?> dict = (Map<?, ?>) literal;
    if (!dict.keySet().equals(KEYS)) {
      throw new IllegalArgumentException(
          "malformed header "
              + quote(text)
              + ": keys are "
              + dict.keySet()
              + ", expected [descr, fortran_order, shape]");
    }
    Object descr = dict.get("descr");
    if (!(descr instanceof String)) {
      throw new IllegalArgumentException(
          "unsupported dtype: structured or non-string descr in header "
              + quote(text)
              + " (expected "
              + ElementType.SUPPORTED
              + ")");
    }
    Object fortran = dict.get("fortran_order");
    if (!(fortran instanceof Boolean)) {
      throw new IllegalArgumentException(
          "malformed header " + quote(text) + ": fortran_order must be True or False");
    }
    long[] dims = dims(dict.get("shape"), text);
    String descrText = (String) descr;
    Matcher matcher = DESCR.matcher(descrText);
    ElementType dtype =
        matcher.matches()
            ? ElementType.ofNumpy(matcher.group(2).charAt(0), Integer.parseInt(matcher.group(3)))
                .orElse(null)
            : null;
    if (dtype == null) {
      throw new IllegalArgumentException(
          "unsupported dtype '" + descrText + "' (expected " + ElementType.SUPPORTED + ")");
    }
    char order = matcher.group(1).charAt(0);
    if (order == '|' && dtype.itemSize() > 1) {
      throw new IllegalArgumentException(
          "dtype '" + descrText + "' has no byte order (expected '<' or '>')");
    }
    ByteOrder byteOrder =
        order == '>'
            ? ByteOrder.BIG_ENDIAN
            : order == '<' ? ByteOrder.LITTLE_ENDIAN : ByteOrder.nativeOrder();
    return new NpyHeader(dtype, byteOrder, (Boolean) fortran, dims);
  }

  private static long[] dims(Object shape, String text) {
    if (!(shape instanceof PyLiteral.Tuple)) {
      throw new IllegalArgumentException(
          "malformed header " + quote(text) + ": shape must be a tuple of integers");
    }
    List<Object> items = ((PyLiteral.Tuple) shape).items();
    InputLimits.Limit.RANK.check(items.size(), "shape");
    long[] dims = new long[items.size()];
    for (int i = 0; i < dims.length; i++) {
      Object item = items.get(i);
      if (!(item instanceof BigInteger)) {
        throw new IllegalArgumentException(
            "malformed header " + quote(text) + ": shape must be a tuple of integers");
      }
      BigInteger dim = (BigInteger) item;
      if (dim.signum() < 0) {
        throw new IllegalArgumentException(
            "negative dimension " + dim + " in shape " + text(items));
      }
      if (dim.bitLength() > 62) {
        throw new IllegalArgumentException(
            "dimension " + dim + " in shape " + text(items) + " is too large");
      }
      dims[i] = dim.longValue();
    }
    return dims;
  }

  /** The header dict numpy 1.x writes, without padding. */
  static String format(ElementType dtype, long[] dims) {
    return "{'descr': '"
        + dtype.numpyDescr()
        + "', 'fortran_order': False, 'shape': "
        + shapeText(dims)
        + ", }";
  }

  /**
   * The size of the data section in bytes.
   *
   * @throws IllegalArgumentException if it exceeds {@link #MAX_DATA_BYTES}
   */
  long dataBytes() {
    long bytes = dtype.itemSize();
    for (long dim : dims) {
      if (dim != 0 && bytes > MAX_DATA_BYTES / dim) {
        if (LongStream.of(dims).anyMatch(d -> d == 0)) {
          return 0;
        }
        throw new IllegalArgumentException(
            "shape "
                + shapeText(dims)
                + " "
                + dtype.numpyName()
                + " is too large (over the "
                + MAX_DATA_BYTES
                + "-byte limit)");
      }
      bytes *= dim;
    }
    return bytes;
  }

  /** The DJL shape; the file layout is C order unless {@link #fortranOrder()}. */
  Shape shape() {
    return new Shape(dims);
  }

  /** Describes the expected data, as in {@code shape (3, 4) float32 = 48 bytes}. */
  String describe() {
    return "shape " + shapeText(dims) + " " + dtype.numpyName() + " = " + dataBytes() + " bytes";
  }

  /** A shape as Python prints a tuple: {@code ()}, {@code (3,)}, {@code (2, 3)}. */
  static String shapeText(long[] dims) {
    if (dims.length == 1) {
      return "(" + dims[0] + ",)";
    }
    return Arrays.stream(dims).mapToObj(Long::toString).collect(Collectors.joining(", ", "(", ")"));
  }

  private static String text(List<Object> items) {
    if (items.size() == 1) {
      return "(" + items.get(0) + ",)";
    }
    return items.stream().map(Object::toString).collect(Collectors.joining(", ", "(", ")"));
  }

  private static String quote(String header) {
    String trimmed = header.strip();
    return trimmed.length() <= 120 ? trimmed : trimmed.substring(0, 117) + "...";
  }
}
