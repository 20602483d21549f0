package io.github.djlattention.io;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.SecureRandom;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Writes a file through a temporary sibling that is renamed over the target when complete.
 *
 * <p>The promises, for every command that writes a file:
 *
 * <ul>
 *   <li>Only a regular file or a new name is replaced. A target that exists and is a directory, a
 *       FIFO, a device node, a socket or a symbolic link is refused with an {@link
 *       IllegalArgumentException} before anything is written: a symbolic link is not followed (name
 *       its target instead), so a link planted at the output name cannot redirect it.
 *   <li>The temporary file is created exclusively ({@code O_CREAT|O_EXCL}, which does not follow a
 *       symbolic link) under an unpredictable name in the target's directory: {@code
 *       .NAME.RANDOM.tmp}, or {@code .RANDOM.tmp} when the long form would exceed the 255-byte name
 *       limit, so any valid target name works. A name that is taken (by anything, a planted
 *       symbolic link included) is skipped for another random one.
 *   <li>On any failure the temporary file is deleted and the target is left as it was; a JVM
 *       shutdown (SIGTERM, SIGINT) deletes every temporary file still being written. Only SIGKILL
 *       or a power cut can leave one behind.
 * </ul>
 */
public final class AtomicWrite {
  /** Writes the content to an output stream. */
  @FunctionalInterface
  public interface Body {
    /**
     * Writes the whole content.
     *
     * @param out the temporary file's stream
     * @throws IOException when writing fails
     */
    void writeTo(OutputStream out) throws IOException;
  }

  /** The longest file name (in bytes) that Linux, macOS and Windows file systems take. */
  static final int MAX_NAME_BYTES = 255;

  private static final int RANDOM_CHARS = 16;
  private static final int ATTEMPTS = 100;
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Set<Path> LIVE = ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime()
        .addShutdownHook(new Thread(AtomicWrite::deleteLive, "AtomicWrite temp-file cleanup"));
  }

  private AtomicWrite() {}

  /**
   * Writes {@code file} atomically; on any failure the temporary file is deleted and {@code file}
   * is left as it was.
   *
   * @param file the file to create or replace; it must be a new name or a regular file
   * @param body writes the content
   * @throws IllegalArgumentException if {@code file} exists and is not a regular file (a symbolic
   *     link, directory, FIFO, device or socket), or has no parent
   * @throws UncheckedIOException naming the file and the reason if writing fails
   */
  public static void write(Path file, Body body) {
    write(file, body, AtomicWrite::randomText);
  }

  /** {@link #write(Path, Body)} with the temporary names' random parts from {@code random}. */
  static void write(Path file, Body body, Supplier<String> random) {
    Path target = file.toAbsolutePath();
    Path directory = target.getParent();
    if (directory == null || target.getFileName() == null) {
      throw new IllegalArgumentException(file + ": not a file path");
    }
    requireReplaceable(file);
    Path temp = null;
    try {
      temp = createTemp(directory, target.getFileName().toString(), random);
      try (OutputStream out =
          new BufferedOutputStream(
              Channels.newOutputStream(
                  Files.newByteChannel(
                      temp, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)))) {
        body.writeTo(out);
      }
      // Once more just before the rename: something may have been put there meanwhile.
      requireReplaceable(file);
      try {
        Files.move(
            temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
      }
      LIVE.remove(temp);
    } catch (IOException e) {
      deleteAfterFailure(temp, e);
      throw new UncheckedIOException(file + ": cannot write: " + reason(e, directory), e);
    } catch (RuntimeException | Error e) {
      deleteAfterFailure(temp, e);
      throw e;
    }
  }

  /**
   * Writes text as UTF-8, atomically.
   *
   * @param file the file to create or replace; it must be a new name or a regular file
   * @param text the content
   * @throws IllegalArgumentException if {@code file} exists and is not a regular file
   * @throws UncheckedIOException naming the file and the reason if writing fails
   */
  public static void writeString(Path file, String text) {
    write(file, out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
  }

  /**
   * Refuses an output path that exists and is not a regular file. Commands call it before doing any
   * work, so a bad {@code --out} fails at once; {@link #write} checks again.
   *
   * @param file the output path
   * @throws IllegalArgumentException naming the file and what it is, if it exists and is a symbolic
   *     link, directory, FIFO, device or socket
   */
  public static void requireReplaceable(Path file) {
    BasicFileAttributes attributes;
    try {
      attributes = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return; // a new name
    } catch (IOException e) {
      return; // e.g. a missing directory: the write reports it
    }
    if (attributes.isRegularFile()) {
      return;
    }
    String what;
    if (attributes.isSymbolicLink()) {
      what = "a symbolic link (not followed; name its target instead)";
    } else if (attributes.isDirectory()) {
      what = "a directory";
    } else {
      what = "not a regular file (a device, FIFO or socket)";
    }
    throw new IllegalArgumentException(
        file + " exists and is " + what + "; only a regular file or a new name is replaced");
  }

  /**
   * Refuses an output path that names one of the command's inputs, under any spelling ({@code ./x},
   * {@code a/../x}, a symbolic or hard link): replacing it would destroy the input.
   *
   * @param outputOption the output's option, e.g. {@code --out}
   * @param output the output path
   * @param inputs input option (e.g. {@code --q}) to path; null paths are skipped
   * @throws IllegalArgumentException naming both options and paths if the output is an input
   */
  public static void requireNotAnInput(String outputOption, Path output, Map<String, Path> inputs) {
    if (output == null || !Files.exists(output)) {
      return; // a new name cannot be an existing input
    }
    for (Map.Entry<String, Path> input : inputs.entrySet()) {
      Path path = input.getValue();
      if (path == null || !Files.exists(path)) {
        continue;
      }
      boolean same;
      try {
        same = Files.isSameFile(output, path);
      } catch (IOException e) {
        continue; // unreadable: the read reports it
      }
      if (same) {
        throw new IllegalArgumentException(
            outputOption
                + " "
                + output
                + " is the input "
                + input.getKey()
                + " "
                + path
                + "; writing it would replace that input");
      }
    }
  }

  /** Creates the temporary file exclusively, trying fresh random names while one is taken. */
  private static Path createTemp(Path directory, String name, Supplier<String> random)
      throws IOException {
    FileAlreadyExistsException taken = null;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
      Path temp = directory.resolve(tempName(name, random.get()));
      try {
        Files.newByteChannel(
                temp,
                StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE,
                LinkOption.NOFOLLOW_LINKS)
            .close();
        LIVE.add(temp);
        return temp;
      } catch (FileAlreadyExistsException e) {
        taken = e;
      }
    }
    throw taken;
  }

  /**
   * The temporary name for a target name: {@code .NAME.RANDOM.tmp}, or {@code .RANDOM.tmp} when
   * that would exceed {@link #MAX_NAME_BYTES}.
   */
  static String tempName(String name, String random) {
    String full = "." + name + "." + random + ".tmp";
    if (full.getBytes(StandardCharsets.UTF_8).length <= MAX_NAME_BYTES) {
      return full;
    }
    return "." + random + ".tmp";
  }

  static String randomText() {
    String alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    StringBuilder text = new StringBuilder(RANDOM_CHARS);
    for (int i = 0; i < RANDOM_CHARS; i++) {
      text.append(alphabet.charAt(RANDOM.nextInt(alphabet.length())));
    }
    return text.toString();
  }

  /** The temporary files being written now (for tests). */
  static Set<Path> live() {
    return Set.copyOf(LIVE);
  }

  private static void deleteLive() {
    for (Path temp : LIVE) {
      try {
        Files.deleteIfExists(temp);
      } catch (IOException | RuntimeException e) {
        // shutting down: nothing more can be done
      }
    }
  }

  private static void deleteAfterFailure(Path temp, Throwable failure) {
    if (temp == null) {
      return;
    }
    try {
      Files.deleteIfExists(temp);
      LIVE.remove(temp);
    } catch (IOException e) {
      failure.addSuppressed(e);
    }
  }

  private static String reason(IOException e, Path directory) {
    if (e instanceof NoSuchFileException && !Files.isDirectory(directory)) {
      return "directory " + directory + " does not exist";
    }
    if (e instanceof AccessDeniedException) {
      return "permission denied (" + ((FileSystemException) e).getFile() + ")";
    }
    if (e instanceof FileSystemException) {
      FileSystemException fse = (FileSystemException) e;
      return e.getClass().getSimpleName()
          + (fse.getReason() != null ? " (" + fse.getReason() + ")" : "")
          + " on "
          + fse.getFile();
    }
    return e.toString();
  }
}
