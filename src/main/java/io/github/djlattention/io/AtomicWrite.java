package io.github.djlattention.io;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Writes a file through a temporary sibling that is moved over the target when complete. */
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

  private AtomicWrite() {}

  /**
   * Writes {@code file} atomically; on any failure the temporary file is deleted and {@code file}
   * is left as it was.
   *
   * @throws UncheckedIOException naming the file and the reason if writing fails
   */
  public static void write(Path file, Body body) {
    Path target = file.toAbsolutePath();
    Path directory = target.getParent();
    if (directory == null) {
      throw new IllegalArgumentException(file + ": not a file path");
    }
    Path temp = null;
    try {
      temp = Files.createTempFile(directory, "." + target.getFileName() + ".", ".tmp");
      try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(temp))) {
        body.writeTo(out);
      }
      try {
        Files.move(
            temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      deleteAfterFailure(temp, e);
      throw new UncheckedIOException(file + ": cannot write: " + reason(e, directory), e);
    } catch (RuntimeException | Error e) {
      deleteAfterFailure(temp, e);
      throw e;
    }
  }

  private static void deleteAfterFailure(Path temp, Throwable failure) {
    if (temp == null) {
      return;
    }
    try {
      Files.deleteIfExists(temp);
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
