package io.github.djlattention.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** Reads this process's resident set size from {@code /proc/self/status} (Linux only). */
public final class ResidentMemory {

  private static final Path STATUS = Paths.get("/proc/self/status");

  private ResidentMemory() {}

  /** Whether {@code /proc/self/status} can be read here. */
  public static boolean available() {
    return Files.isReadable(STATUS);
  }

  /**
   * Returns the {@code VmRSS} line of {@code /proc/self/status} in KiB.
   *
   * @throws IllegalStateException when the line is missing
   */
  public static long residentKib() {
    try {
      for (String line : Files.readAllLines(STATUS)) {
        if (line.startsWith("VmRSS:")) {
          // "VmRSS:	  123456 kB"
          return Long.parseLong(line.substring(6).replace("kB", "").trim());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + STATUS, e);
    }
    throw new IllegalStateException("no VmRSS line in " + STATUS);
  }
}
