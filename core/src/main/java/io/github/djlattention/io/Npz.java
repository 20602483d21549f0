package io.github.djlattention.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * Reads and writes NumPy {@code .npz} archives: zip files of {@code <name>.npy} entries, as written
 * by {@code numpy.savez} (stored) and {@code numpy.savez_compressed} (deflated).
 *
 * <p>Each entry is decoded by {@link Npy}, with the same validation; errors name the archive and
 * the entry.
 */
public final class Npz {
  private static final String SUFFIX = ".npy";
  private static final LocalDateTime ENTRY_TIME = LocalDateTime.of(1980, 1, 1, 0, 0);

  /** A member's bytes beyond its header and data: prefix and the trailing bytes Npy reports. */
  private static final long MEMBER_OVERHEAD = 16 + (1 << 16) + 1;

  private Npz() {}

  /**
   * Reads every array of an {@code .npz} archive.
   *
   * @param manager the manager that will own the arrays
   * @param file the archive
   * @return the arrays in archive order, keyed by entry name without {@code .npy}; each array's
   *     name ({@link NDArray#getName()}) is its key
   * @throws IllegalArgumentException if the file is not a regular file or not a zip archive, an
   *     entry is not a {@code .npy} file, an entry is malformed, or the archive exceeds a limit of
   *     {@link InputLimits} (file size, member count, inflated bytes of a member or of all); the
   *     message names the file and the entry
   * @throws UncheckedIOException if the file cannot be read
   */
  public static Map<String, NDArray> read(NDManager manager, Path file) {
    Objects.requireNonNull(manager, "manager");
    String source = file.toString();
    Map<String, NDArray> arrays = new LinkedHashMap<>();
    try {
      InputLimits.requireFile(file, InputLimits.Limit.FILE_BYTES);
      checkSignature(file, source);
      try (ZipFile zip = new ZipFile(file.toFile())) {
        InputLimits.Limit.MEMBERS.check(zip.size(), source);
        long memberLimit =
            InputLimits.Limit.ARRAY_BYTES.get()
                + InputLimits.Limit.HEADER_BYTES.get()
                + MEMBER_OVERHEAD;
        long remaining = InputLimits.Limit.INFLATED_BYTES.get();
        Enumeration<? extends ZipEntry> entries = zip.entries();
        while (entries.hasMoreElements()) {
          ZipEntry entry = entries.nextElement();
          String key = key(entry, source);
          if (arrays.containsKey(key)) {
            throw new IllegalArgumentException(
                source + ": duplicate entry '" + entry.getName() + "'");
          }
          String entrySource = source + ": entry '" + entry.getName() + "'";
          if (entry.getSize() > memberLimit) {
            throw InputLimits.Limit.ARRAY_BYTES.exceeded(
                entrySource + " declares " + entry.getSize() + " bytes inflated");
          }
          if (entry.getSize() > remaining) {
            throw InputLimits.Limit.INFLATED_BYTES.exceeded(
                source
                    + ": the members up to '"
                    + entry.getName()
                    + "' inflate to "
                    + (InputLimits.Limit.INFLATED_BYTES.get() - remaining + entry.getSize())
                    + " bytes");
          }
          // Counted while inflating: the declared size may lie.
          boolean memberBound = memberLimit <= remaining;
          try (InputLimits.CountingStream in =
              InputLimits.bounded(
                  zip.getInputStream(entry),
                  Math.min(memberLimit, remaining),
                  memberBound ? InputLimits.Limit.ARRAY_BYTES : InputLimits.Limit.INFLATED_BYTES,
                  entrySource)) {
            NDArray array = Npy.decode(manager, in, entry.getSize(), entrySource);
            remaining -= in.count();
            array.setName(key);
            arrays.put(key, array);
          } catch (ZipException | EOFException e) {
            throw new IllegalArgumentException(
                entrySource + ": corrupt compressed data (" + e.getMessage() + ")", e);
          }
        }
      } catch (ZipException e) {
        throw new IllegalArgumentException(
            source + ": corrupt .npz archive (" + e.getMessage() + ")", e);
      }
      return arrays;
    } catch (NoSuchFileException e) {
      closeAll(arrays);
      throw new UncheckedIOException(source + ": no such file", e);
    } catch (IOException e) {
      closeAll(arrays);
      throw new UncheckedIOException(source + ": cannot read: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      closeAll(arrays);
      throw e;
    }
  }

  private static void checkSignature(Path file, String source) throws IOException {
    byte[] signature;
    try (InputStream in = Files.newInputStream(file)) {
      signature = in.readNBytes(4);
    }
    boolean zip =
        signature.length == 4
            && signature[0] == 'P'
            && signature[1] == 'K'
            && ((signature[2] == 3 && signature[3] == 4)
                || (signature[2] == 5 && signature[3] == 6));
    if (!zip) {
      throw new IllegalArgumentException(source + ": not an .npz archive (no zip signature)");
    }
  }

  private static String key(ZipEntry entry, String source) {
    String name = entry.getName();
    if (entry.isDirectory() || !name.endsWith(SUFFIX) || name.length() == SUFFIX.length()) {
      throw new IllegalArgumentException(
          source + ": entry '" + name + "' is not a .npy array (expected <name>.npy)");
    }
    return name.substring(0, name.length() - SUFFIX.length());
  }

  private static void closeAll(Map<String, NDArray> arrays) {
    arrays.values().forEach(NDArray::close);
    arrays.clear();
  }

  /**
   * Writes arrays as an uncompressed {@code .npz} archive (like {@code numpy.savez}), atomically:
   * the archive goes to a temporary file in the same directory, which then replaces {@code file}.
   *
   * @param file the archive to write; replaced if it exists
   * @param arrays the arrays by name, written in iteration order as entries {@code <name>.npy}
   * @throws IllegalArgumentException if a name is empty or an array's data type cannot be stored
   * @throws UncheckedIOException if the file cannot be written; no temporary file is left behind
   */
  public static void write(Path file, Map<String, NDArray> arrays) {
    Map<String, byte[]> encoded = new LinkedHashMap<>();
    for (Map.Entry<String, NDArray> entry : arrays.entrySet()) {
      String key = Objects.requireNonNull(entry.getKey(), "array name");
      NDArray array = Objects.requireNonNull(entry.getValue(), () -> "array '" + key + "'");
      if (key.isEmpty()) {
        throw new IllegalArgumentException(file + ": array names must not be empty");
      }
      try {
        encoded.put(key + SUFFIX, Npy.encode(array));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(file + ": array '" + key + "': " + e.getMessage(), e);
      }
    }
    AtomicWrite.write(
        file,
        out -> {
          ZipOutputStream zip = new ZipOutputStream(out);
          for (Map.Entry<String, byte[]> entry : encoded.entrySet()) {
            byte[] bytes = entry.getValue();
            CRC32 crc = new CRC32();
            crc.update(bytes);
            ZipEntry zipEntry = new ZipEntry(entry.getKey());
            zipEntry.setMethod(ZipEntry.STORED);
            zipEntry.setSize(bytes.length);
            zipEntry.setCompressedSize(bytes.length);
            zipEntry.setCrc(crc.getValue());
            zipEntry.setTimeLocal(ENTRY_TIME);
            zip.putNextEntry(zipEntry);
            zip.write(bytes);
            zip.closeEntry();
          }
          zip.finish();
        });
  }
}
