package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Failed writes leave neither a temporary file nor a changed target. */
class AtomicWriteTest {
  @TempDir Path dir;
  private NDManager manager;
  private NDArray array;

  @BeforeEach
  void openManager() {
    manager = NDManager.newBaseManager("PyTorch");
    array = manager.create(new float[] {1, 2, 3});
  }

  @AfterEach
  void closeManager() {
    manager.close();
  }

  private List<Path> listing(Path directory) throws IOException {
    try (Stream<Path> files = Files.list(directory)) {
      return files.sorted().toList();
    }
  }

  @Test
  void missingDirectoryIsReported() {
    Path file = dir.resolve("missing").resolve("x.npy");

    UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> Npy.write(file, array));

    assertEquals(
        file + ": cannot write: directory " + file.getParent() + " does not exist", e.getMessage());
    assertFalse(Files.exists(file.getParent()));
  }

  @Test
  void readOnlyDirectoryIsReportedAndLeftEmpty() throws IOException {
    Path readOnly = Files.createDirectory(dir.resolve("ro"));
    Files.setPosixFilePermissions(readOnly, PosixFilePermissions.fromString("r-xr-xr-x"));
    try {
      assumeFalse(
          Files.isWritable(readOnly), "running as a user who may write to read-only directories");
      Path file = readOnly.resolve("x.npz");

      UncheckedIOException e =
          assertThrows(UncheckedIOException.class, () -> Npz.write(file, Map.of("a", array)));

      assertTrue(e.getMessage().startsWith(file + ": cannot write: permission denied"));
      assertEquals(List.of(), listing(readOnly));
    } finally {
      Files.setPosixFilePermissions(readOnly, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
  }

  @Test
  void aDirectoryTargetIsRefusedBeforeWriting() throws IOException {
    Path target = Files.createDirectory(dir.resolve("x.npy"));
    Files.write(target.resolve("keep"), new byte[] {1});

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Npy.write(target, array));

    assertTrue(e.getMessage().startsWith(target + " exists and is a directory"), e.getMessage());
    assertEquals(List.of(target), listing(dir));
    assertEquals(List.of(target.resolve("keep")), listing(target));
  }

  @Test
  void aTargetThatBecomesADirectoryDuringTheWriteIsNotReplacedAndTheTempIsDeleted()
      throws IOException {
    Path target = dir.resolve("x.npy");

    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                AtomicWrite.write(
                    target,
                    out -> {
                      out.write(new byte[] {1, 2, 3});
                      Files.createDirectory(target);
                    }));

    assertTrue(e.getMessage().startsWith(target + " exists and is a directory"), e.getMessage());
    assertEquals(List.of(target), listing(dir));
    assertEquals(List.of(), listing(target));
  }

  @Test
  void unsupportedDtypeLeavesTheExistingFileUntouched() throws IOException {
    Path file = dir.resolve("x.npy");
    Npy.write(file, array);
    byte[] before = Files.readAllBytes(file);
    NDArray complex = array.toType(DataType.COMPLEX64, false);

    assertThrows(IllegalArgumentException.class, () -> Npy.write(file, complex));

    assertArrayEquals(before, Files.readAllBytes(file));
    assertEquals(List.of(file), listing(dir));
  }
}
