package io.github.djlattention.io;

import java.io.ByteArrayOutputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Access to the NumPy-written files in {@code src/test/resources/io} and hand-built headers. */
final class Fixtures {
  private Fixtures() {}

  /** The path of a fixture file written by NumPy (see the README next to it). */
  static Path path(String name) {
    URL url = Fixtures.class.getResource("/io/" + name);
    if (url == null) {
      throw new IllegalStateException("missing test fixture /io/" + name);
    }
    try {
      return Path.of(url.toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A {@code .npy} file with the given version, header dict text and data bytes. */
  static byte[] npy(int major, String header, byte[] data) {
    int lengthBytes = major == 1 ? 2 : 4;
    byte[] text = (header + "\n").getBytes(StandardCharsets.ISO_8859_1);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
    out.write(
        ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(text.length).array(),
        0,
        lengthBytes);
    out.writeBytes(text);
    out.writeBytes(data);
    return out.toByteArray();
  }
}
