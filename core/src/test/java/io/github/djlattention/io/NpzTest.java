package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NpzTest {
  @TempDir Path dir;
  private NDManager manager;

  @BeforeEach
  void openManager() {
    manager = NDManager.newBaseManager("PyTorch");
  }

  @AfterEach
  void closeManager() {
    manager.close();
  }

  /** savez and savez_compressed archives of q=(2, 3) float32, mask=(2,) bool, n=() int64. */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"stored.npz", "compressed.npz"})
  void readsNumpyArchivesInOrder(String name) {
    Map<String, NDArray> arrays = Npz.read(manager, Fixtures.path(name));

    assertEquals(List.of("q", "mask", "n"), List.copyOf(arrays.keySet()));
    arrays.forEach((key, array) -> assertEquals(key, array.getName()));
    assertEquals(new Shape(2, 3), arrays.get("q").getShape());
    assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, arrays.get("q").toFloatArray());
    assertArrayEquals(new boolean[] {true, false}, arrays.get("mask").toBooleanArray());
    assertEquals(DataType.INT64, arrays.get("n").getDataType());
    assertEquals(new Shape(), arrays.get("n").getShape());
    assertEquals(7L, arrays.get("n").getLong());
  }

  @Test
  void roundTripsEveryDtype() {
    Map<String, NDArray> arrays = new LinkedHashMap<>();
    for (ElementType dtype : ElementType.values()) {
      arrays.put(
          "z_" + dtype.numpyName(),
          NpyRoundTripTest.sample(manager, dtype.dataType(), new Shape(2, 1, 3), 3));
    }
    arrays.put("empty", manager.zeros(new Shape(0, 4)));
    Path file = dir.resolve("all.npz");

    Npz.write(file, arrays);
    Map<String, NDArray> read = Npz.read(manager, file);

    assertEquals(List.copyOf(arrays.keySet()), List.copyOf(read.keySet()));
    arrays.forEach(
        (key, original) -> {
          NDArray back = read.get(key);
          assertEquals(original.getDataType(), back.getDataType(), key);
          assertEquals(original.getShape(), back.getShape(), key);
          assertArrayEquals(original.toByteArray(), back.toByteArray(), key);
        });
  }

  @Test
  void writesEmptyArchive() {
    Path file = dir.resolve("none.npz");

    Npz.write(file, Map.of());

    assertTrue(Npz.read(manager, file).isEmpty());
  }

  private String readFailure(Path file) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Npz.read(manager, file));
    assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
    return e.getMessage().substring(file.toString().length() + 2);
  }

  @Test
  void npyFileIsNotAnArchive() {
    assertEquals(
        "not an .npz archive (no zip signature)", readFailure(Fixtures.path("f4_2x3.npy")));
  }

  @Test
  void emptyFileIsNotAnArchive() throws IOException {
    Path file = Files.write(dir.resolve("x.npz"), new byte[0]);

    assertEquals("not an .npz archive (no zip signature)", readFailure(file));
  }

  @Test
  void corruptZipIsRejected() throws IOException {
    byte[] numpy = Files.readAllBytes(Fixtures.path("stored.npz"));
    Path file = Files.write(dir.resolve("x.npz"), Arrays.copyOf(numpy, numpy.length / 2));

    assertTrue(readFailure(file).startsWith("corrupt .npz archive"));
  }

  private Path zipWith(String entryName, byte[] content) throws IOException {
    Path file = dir.resolve("x.npz");
    try (OutputStream out = Files.newOutputStream(file);
        ZipOutputStream zip = new ZipOutputStream(out)) {
      zip.putNextEntry(new ZipEntry("ok.npy"));
      zip.write(Files.readAllBytes(Fixtures.path("f4_2x3.npy")));
      zip.closeEntry();
      zip.putNextEntry(new ZipEntry(entryName));
      zip.write(content);
      zip.closeEntry();
    }
    return file;
  }

  @Test
  void nonNpyEntryIsNamed() throws IOException {
    Path file = zipWith("notes.txt", new byte[] {'h', 'i'});

    assertEquals("entry 'notes.txt' is not a .npy array (expected <name>.npy)", readFailure(file));
  }

  @Test
  void malformedEntryIsNamed() throws IOException {
    byte[] numpy = Files.readAllBytes(Fixtures.path("f4_2x3.npy"));
    Path file = zipWith("bad.npy", Arrays.copyOf(numpy, numpy.length - 4));

    assertEquals(
        "entry 'bad.npy': truncated: header says shape (2, 3) float32 = 24 bytes, file has 20",
        readFailure(file));
  }

  @Test
  void entryWithGarbageIsNamed() throws IOException {
    Path file = zipWith("junk.npy", new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});

    assertTrue(readFailure(file).startsWith("entry 'junk.npy': not a .npy file"));
  }

  @Test
  void missingFileIsAnIoFailure() {
    Path file = dir.resolve("absent.npz");

    UncheckedIOException e =
        assertThrows(UncheckedIOException.class, () -> Npz.read(manager, file));

    assertEquals(file + ": no such file", e.getMessage());
  }

  @Test
  void unsupportedArrayIsNamedOnWrite() {
    Map<String, NDArray> arrays =
        Map.of("w", manager.create(new float[] {1}).toType(DataType.COMPLEX64, false));
    Path file = dir.resolve("w.npz");

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Npz.write(file, arrays));

    assertTrue(e.getMessage().startsWith(file + ": array 'w': "), e.getMessage());
  }
}
