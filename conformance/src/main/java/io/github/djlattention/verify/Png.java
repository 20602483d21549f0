package io.github.djlattention.verify;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/** Writes small RGB images as PNG files, for the attention maps of the HTML report. */
final class Png {

  private static final byte[] SIGNATURE = {(byte) 137, 80, 78, 71, 13, 10, 26, 10};

  private Png() {}

  /**
   * Encodes an image.
   *
   * @param width pixels per row
   * @param height rows
   * @param rgb 0xRRGGBB per pixel, row-major
   * @return the PNG file's bytes
   */
  static byte[] encode(int width, int height, int[] rgb) {
    if (rgb.length != width * height) {
      throw new IllegalArgumentException(
          rgb.length + " pixels for a " + width + "x" + height + " image");
    }
    byte[] raw = new byte[height * (1 + 3 * width)];
    int p = 0;
    for (int y = 0; y < height; y++) {
      raw[p++] = 0; // filter: none
      for (int x = 0; x < width; x++) {
        int c = rgb[y * width + x];
        raw[p++] = (byte) (c >> 16);
        raw[p++] = (byte) (c >> 8);
        raw[p++] = (byte) c;
      }
    }
    Deflater deflater = new Deflater(Deflater.BEST_COMPRESSION);
    deflater.setInput(raw);
    deflater.finish();
    ByteArrayOutputStream compressed = new ByteArrayOutputStream();
    byte[] buffer = new byte[8192];
    while (!deflater.finished()) {
      compressed.write(buffer, 0, deflater.deflate(buffer));
    }
    deflater.end();
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    png.writeBytes(SIGNATURE);
    ByteBuffer header = ByteBuffer.allocate(13);
    header.putInt(width).putInt(height).put((byte) 8).put((byte) 2).put((byte) 0);
    header.put((byte) 0).put((byte) 0);
    chunk(png, "IHDR", header.array());
    chunk(png, "IDAT", compressed.toByteArray());
    chunk(png, "IEND", new byte[0]);
    return png.toByteArray();
  }

  /** The image as a {@code data:} URI. */
  static String dataUri(int width, int height, int[] rgb) {
    return "data:image/png;base64,"
        + Base64.getEncoder().encodeToString(encode(width, height, rgb));
  }

  private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
    byte[] name = type.getBytes(StandardCharsets.US_ASCII);
    out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
    out.writeBytes(name);
    out.writeBytes(data);
    CRC32 crc = new CRC32();
    crc.update(name);
    crc.update(data);
    out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
  }
}
