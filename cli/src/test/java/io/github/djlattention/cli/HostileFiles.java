package io.github.djlattention.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Hostile files for the command line's readers: headers nested thousands deep, dimensions of
 * thousands of digits, names full of terminal control characters, archives of many members and
 * archives that inflate far beyond their size (zip bombs). Shared by {@link HostileInputsTest} and
 * the fuzzer ({@link CliFuzzScenario}).
 */
final class HostileFiles {

  /** A float32 (2,) header dict; {@code extra} goes in as one more key's value when not null. */
  static final String GOOD_DICT = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";

  private HostileFiles() {}

  /** A version 2.0 {@code .npy} file (4-byte header length) with the given dict and data. */
  static byte[] npy2(String dict, byte[] data) {
    byte[] text = (dict + "\n").getBytes(StandardCharsets.UTF_8);
    ByteBuffer buffer = ByteBuffer.allocate(12 + text.length + data.length);
    buffer.order(ByteOrder.LITTLE_ENDIAN);
    buffer.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII));
    buffer.put((byte) 2).put((byte) 0).putInt(text.length);
    buffer.put(text).put(data);
    return buffer.array();
  }

  /** A header whose extra key holds containers nested {@code depth} deep, of random kinds. */
  static String nestedDict(int depth, Random random) {
    StringBuilder open = new StringBuilder();
    String[] closers = new String[depth];
    for (int i = 0; i < depth; i++) {
      switch (random.nextInt(3)) {
        case 0:
          open.append('[');
          closers[i] = "]";
          break;
        case 1:
          open.append('(');
          closers[i] = ",)";
          break;
        default:
          open.append("{'k': ");
          closers[i] = "}";
          break;
      }
    }
    StringBuilder close = new StringBuilder();
    for (int i = depth - 1; i >= 0; i--) {
      close.append(closers[i]);
    }
    return "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': "
        + open
        + "1"
        + close
        + "}";
  }

  /** A header whose shape has one dimension of {@code digits} digits. */
  static String digitsDict(int digits, Random random) {
    StringBuilder number = new StringBuilder().append((char) ('1' + random.nextInt(9)));
    for (int i = 1; i < digits; i++) {
      number.append((char) ('0' + random.nextInt(10)));
    }
    return "{'descr': '<f4', 'fortran_order': False, 'shape': (" + number + ", 2), }";
  }

  /**
   * Text of about {@code length} characters with at least one terminal control character (ESC
   * sequences, BEL, C1, DEL, bidi overrides, line breaks).
   */
  static String controlText(Random random, int length) {
    String[] pieces = {
      "\u001b[31m",
      "\u001b]0;title\u0007",
      "\u0007",
      "\u0008",
      "\r",
      "\u007f",
      "\u009b",
      "\u0085",
      "\u2028",
      "\u202e",
      "\u0000",
      "\u000b",
      "\u000c",
      "\u001b[2J",
      "\u0090"
    };
    StringBuilder text = new StringBuilder(pieces[random.nextInt(pieces.length)]);
    while (text.length() < length) {
      if (random.nextBoolean()) {
        text.append(pieces[random.nextInt(pieces.length)]);
      } else {
        text.append((char) ('a' + random.nextInt(26)));
      }
    }
    return text.toString();
  }

  /** Whether a line holds a character that a terminal acts on. */
  static boolean hasControl(String line) {
    return line.chars()
        .anyMatch(
            c ->
                (c < 0x20 && c != '\t')
                    || (c >= 0x7f && c < 0xa0)
                    || c == 0x2028
                    || c == 0x2029
                    || (c >= 0x202a && c <= 0x202e)
                    || (c >= 0x2066 && c <= 0x2069));
  }

  /** A stored {@code .npz} of the given entries (names as given, {@code .npy} not added). */
  static byte[] zip(Map<String, byte[]> entries) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ZipOutputStream zip = new ZipOutputStream(bytes, StandardCharsets.UTF_8)) {
      for (Map.Entry<String, byte[]> entry : entries.entrySet()) {
        byte[] data = entry.getValue();
        ZipEntry zipEntry = new ZipEntry(entry.getKey());
        zipEntry.setMethod(ZipEntry.STORED);
        zipEntry.setSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        zipEntry.setCrc(crc.getValue());
        zip.putNextEntry(zipEntry);
        zip.write(data);
        zip.closeEntry();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  /** A stored archive of {@code count} valid float32 (2,) members named {@code m<i>.npy}. */
  static void manyMembers(Path file, int count) throws IOException {
    byte[] member = npy2(GOOD_DICT, new byte[8]);
    CRC32 crc = new CRC32();
    crc.update(member);
    try (ZipOutputStream zip =
        new ZipOutputStream(new java.io.BufferedOutputStream(Files.newOutputStream(file)))) {
      for (int i = 0; i < count; i++) {
        ZipEntry entry = new ZipEntry("m" + i + ".npy");
        entry.setMethod(ZipEntry.STORED);
        entry.setSize(member.length);
        entry.setCrc(crc.getValue());
        zip.putNextEntry(entry);
        zip.write(member);
        zip.closeEntry();
      }
    }
  }

  /**
   * A deflated archive of {@code members} entries, each a uint8 {@code .npy} whose data is {@code
   * dataBytes} zeros: a few KB on disk per GB inflated.
   */
  static void bomb(Path file, int members, long dataBytes) throws IOException {
    try (ZipOutputStream zip =
        new ZipOutputStream(new java.io.BufferedOutputStream(Files.newOutputStream(file)))) {
      zip.setLevel(Deflater.BEST_COMPRESSION);
      for (int m = 0; m < members; m++) {
        zip.putNextEntry(new ZipEntry("b" + m + ".npy"));
        zip.write(
            npy2(
                "{'descr': '|u1', 'fortran_order': False, 'shape': (" + dataBytes + ",), }",
                new byte[0]));
        zeros(zip, dataBytes);
        zip.closeEntry();
      }
    }
  }

  private static void zeros(OutputStream out, long count) throws IOException {
    byte[] chunk = new byte[1 << 20];
    for (long left = count; left > 0; left -= chunk.length) {
      out.write(chunk, 0, (int) Math.min(chunk.length, left));
    }
  }
}
