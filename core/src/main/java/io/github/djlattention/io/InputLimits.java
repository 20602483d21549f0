package io.github.djlattention.io;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;
import java.util.Locale;

/**
 * Every bound this library puts on what it reads, in one place, each checked before the memory it
 * guards is allocated.
 *
 * <p>Each {@link Limit} has a documented default and a system property that overrides it ({@code
 * -Ddjlattention.maxModelBytes=N}); a value that is not a positive integer fails with an {@link
 * IllegalStateException}. Exceeding a limit is bad input: an {@link IllegalArgumentException} that
 * names the file or field, the value and the limit with its property, so the command line exits 2.
 *
 * <p>Readers also accept regular files only (symbolic links to them are fine): a FIFO, a device
 * such as {@code /dev/zero} or a directory is refused before it is opened, since opening or reading
 * one could block forever or never end.
 */
public final class InputLimits {

  /** A bound, its system property and its default. */
  public enum Limit {
    /** Bytes of an ONNX model or a serialized {@code TensorProto}, which are read whole. */
    MODEL_BYTES("djlattention.maxModelBytes", 512L << 20, "bytes"),
    /** Bytes of an {@code .npy} or {@code .npz} file on disk. */
    FILE_BYTES("djlattention.maxFileBytes", 1L << 30, "bytes"),
    /** Bytes of one array's data section ({@code .npy} file or archive member, inflated). */
    ARRAY_BYTES("djlattention.maxArrayBytes", 512L << 20, "bytes"),
    /** Bytes all members of one {@code .npz} archive inflate to together. */
    INFLATED_BYTES("djlattention.maxInflatedBytes", 1L << 30, "bytes"),
    /** Members of one {@code .npz} archive. */
    MEMBERS("djlattention.maxMembers", 4096, "members"),
    /** Bytes of an {@code .npy} header dict. */
    HEADER_BYTES("djlattention.maxHeaderBytes", 1L << 20, "bytes"),
    /** Levels of dicts, tuples and lists nested in an {@code .npy} header. */
    NESTING("djlattention.maxNesting", 32, "levels"),
    /** Digits of one integer in an {@code .npy} header. */
    INTEGER_DIGITS("djlattention.maxIntegerDigits", 40, "digits"),
    /** Axes of one array read from a file. */
    RANK("djlattention.maxRank", 32, "axes"),
    /** Elements of one array read from a file. */
    TENSOR_ELEMENTS("djlattention.maxTensorElements", 1L << 28, "elements"),
    /**
     * Elements of one tensor of a generated conformance case, and of its B·H·S·T attention weights
     * (the float64 oracle holds them all).
     */
    CASE_ELEMENTS("djlattention.maxCaseElements", 1L << 22, "elements"),
    /** Bytes of a JSON file, such as a generated case matrix. */
    TEXT_BYTES("djlattention.maxTextBytes", 16L << 20, "bytes");

    private final String property;
    private final long defaultValue;
    private final String unit;

    Limit(String property, long defaultValue, String unit) {
      this.property = property;
      this.defaultValue = defaultValue;
      this.unit = unit;
    }

    /**
     * The system property that overrides this limit.
     *
     * @return its name, such as {@code djlattention.maxModelBytes}
     */
    public String property() {
      return property;
    }

    /**
     * The default, used when the property is not set.
     *
     * @return the default bound
     */
    public long defaultValue() {
      return defaultValue;
    }

    /**
     * The bound in force: the system property if set, else the default.
     *
     * @return a positive bound
     * @throws IllegalStateException if the property is set but is not a positive integer
     */
    public long get() {
      String value = System.getProperty(property);
      if (value == null) {
        return defaultValue;
      }
      try {
        long bound = Long.parseLong(value.trim());
        if (bound > 0) {
          return bound;
        }
      } catch (NumberFormatException e) {
        // reported below
      }
      throw new IllegalStateException(
          "system property " + property + " must be a positive integer, got '" + value + "'");
    }

    /**
     * Checks a value against the bound.
     *
     * @param value the size, count or depth found
     * @param what what was measured, for the message, such as {@code "model.onnx: file"}
     * @throws IllegalArgumentException if {@code value} exceeds the bound; the message quotes
     *     {@code what}, the value, the bound and the property that raises it
     */
    public void check(long value, String what) {
      long bound = get();
      if (value > bound) {
        throw exceeded(what + " has " + value + " " + unit);
      }
    }

    /**
     * The exception for a value over the bound.
     *
     * @param found what was found, such as {@code "x.npz: 5000 members"}
     * @return an exception whose message ends with the bound and its property
     */
    public IllegalArgumentException exceeded(String found) {
      return new IllegalArgumentException(found + ", over the " + describe());
    }

    /**
     * The bound in words.
     *
     * @return for example {@code limit of 536870912 bytes (-Ddjlattention.maxModelBytes)}
     */
    public String describe() {
      return String.format(Locale.ROOT, "limit of %d %s (-D%s=N)", get(), unit, property);
    }
  }

  private InputLimits() {}

  /**
   * Checks that a path names a regular file (or a symbolic link to one), without opening it.
   *
   * @param file the path
   * @return the file's attributes, links followed
   * @throws UncheckedIOException if the file does not exist or its attributes cannot be read
   * @throws IllegalArgumentException if it is a directory, a FIFO, a device or another non-regular
   *     file
   */
  public static BasicFileAttributes requireRegularFile(Path file) {
    BasicFileAttributes attributes;
    try {
      attributes = Files.readAttributes(file, BasicFileAttributes.class);
    } catch (NoSuchFileException e) {
      throw new UncheckedIOException(file + ": no such file", e);
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot read: " + e.getMessage(), e);
    }
    if (!attributes.isRegularFile()) {
      String kind =
          attributes.isDirectory()
              ? "a directory"
              : attributes.isOther() ? "a FIFO, socket or device" : "not a file";
      throw new IllegalArgumentException(file + ": " + kind + ", not a regular file");
    }
    return attributes;
  }

  /**
   * Checks that a path is a regular file no larger than a bound, without opening it.
   *
   * @param file the path
   * @param limit the bound on its size
   * @return its size in bytes
   * @throws UncheckedIOException if the file does not exist or cannot be read
   * @throws IllegalArgumentException if it is not a regular file or is larger than the bound
   */
  public static long requireFile(Path file, Limit limit) {
    long size = requireRegularFile(file).size();
    limit.check(size, file + ": file");
    return size;
  }

  /**
   * Reads a whole regular file whose size is within a bound; stops reading at the bound even if the
   * file grows meanwhile.
   *
   * @param file the file
   * @param limit the bound on its size, such as {@link Limit#MODEL_BYTES}
   * @return its bytes
   * @throws UncheckedIOException if the file does not exist or cannot be read
   * @throws IllegalArgumentException if it is not a regular file or is larger than the bound
   */
  public static byte[] readFile(Path file, Limit limit) {
    requireFile(file, limit);
    long bound = limit.get();
    try (InputStream in = Files.newInputStream(file)) {
      byte[] bytes = in.readNBytes((int) Math.min(bound + 1, Integer.MAX_VALUE - 8));
      limit.check(bytes.length, file + ": file");
      return bytes;
    } catch (NoSuchFileException e) {
      throw new UncheckedIOException(file + ": no such file", e);
    } catch (IOException e) {
      throw new UncheckedIOException(file + ": cannot read: " + e.getMessage(), e);
    }
  }

  /**
   * Multiplies sizes, refusing a product that overflows a {@code long} or exceeds a bound.
   *
   * @param limit the bound on the product
   * @param what the factors' names, for the message, such as {@code "case c1: batch x heads"}
   * @param factors the sizes, each non-negative
   * @return the product
   * @throws IllegalArgumentException if the product overflows or exceeds the bound; the message
   *     quotes the factors
   */
  public static long product(Limit limit, String what, long... factors) {
    long product = 1;
    boolean overflow = false;
    for (long factor : factors) {
      if (factor < 0) {
        throw new IllegalArgumentException(what + ": negative size " + factor);
      }
      try {
        product = Math.multiplyExact(product, factor);
      } catch (ArithmeticException e) {
        overflow = true;
      }
    }
    StringBuilder text = new StringBuilder();
    for (long factor : factors) {
      text.append(text.length() == 0 ? "" : " x ").append(factor);
    }
    boolean zero = Arrays.stream(factors).anyMatch(f -> f == 0);
    if (overflow && !zero) {
      throw limit.exceeded(what + " = " + text + " overflows a long");
    }
    if (!zero && product > limit.get()) {
      throw limit.exceeded(what + " = " + text + " = " + product + " " + limit.unit);
    }
    return zero ? 0 : product;
  }

  /**
   * Wraps a stream so that reading more than {@code max} bytes from it fails.
   *
   * @param in the stream
   * @param max the most bytes that may be read
   * @param limit the limit that {@code max} comes from, for the message
   * @param what the stream's name, for the message
   * @return the counting stream; {@link CountingStream#count()} says how much was read
   */
  static CountingStream bounded(InputStream in, long max, Limit limit, String what) {
    return new CountingStream(in, max, limit, what);
  }

  /** A stream that counts what is read from it and fails past a bound. */
  static final class CountingStream extends FilterInputStream {
    private final long max;
    private final Limit limit;
    private final String what;
    private long count;

    CountingStream(InputStream in, long max, Limit limit, String what) {
      super(in);
      this.max = max;
      this.limit = limit;
      this.what = what;
    }

    /** The bytes read so far. */
    long count() {
      return count;
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0) {
        add(1);
      }
      return b;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
      int n = super.read(buffer, offset, (int) Math.min(length, max - count + 1));
      if (n > 0) {
        add(n);
      }
      return n;
    }

    @Override
    public long skip(long n) throws IOException {
      long skipped = super.skip(Math.min(n, max - count + 1));
      add(skipped);
      return skipped;
    }

    private void add(long n) {
      count += n;
      if (count > max) {
        throw limit.exceeded(what + " inflates to more than " + max + " bytes");
      }
    }
  }
}
