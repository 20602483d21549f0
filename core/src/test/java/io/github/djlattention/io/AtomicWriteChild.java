package io.github.djlattention.io;

import java.nio.file.Path;

/**
 * A child JVM for {@link AtomicWriteSignalTest}: writes a large file through {@link AtomicWrite},
 * slowly, and says "writing" on stdout once the temporary file exists.
 */
public final class AtomicWriteChild {
  private AtomicWriteChild() {}

  /**
   * Writes {@code args[1]} chunks of 64 KiB to {@code args[0]}, a millisecond apart.
   *
   * @param args the target and the number of chunks
   */
  public static void main(String[] args) {
    Path target = Path.of(args[0]);
    int chunks = Integer.parseInt(args[1]);
    byte[] chunk = new byte[64 * 1024];
    java.util.Arrays.fill(chunk, (byte) 'n');
    AtomicWrite.write(
        target,
        out -> {
          for (int i = 0; i < chunks; i++) {
            out.write(chunk);
            out.flush();
            if (i == 0) {
              System.out.println("writing");
              System.out.flush();
            }
            try {
              Thread.sleep(1);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              return;
            }
          }
        });
    System.out.println("done");
  }
}
