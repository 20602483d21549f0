package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.NativeLifetime;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Arrays read from {@code .npy} and {@code .npz} own their memory for their whole life: after the
 * garbage collector has freed every unreachable buffer and other arrays have been closed, they (and
 * views taken from them) still hold the file's data, in C-contiguous memory, whatever the dtype,
 * the byte order and the memory order of the file (issue 10).
 */
class NpyLifetimeTest {
  private static final List<long[]> SHAPES = List.of(new long[] {37, 29}, new long[] {5, 7, 9});

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

  static Stream<Arguments> layouts() {
    List<Arguments> cases = new ArrayList<>();
    for (ElementType dtype : ElementType.values()) {
      List<ByteOrder> orders =
          dtype.itemSize() == 1
              ? List.of(ByteOrder.LITTLE_ENDIAN)
              : List.of(ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN);
      for (ByteOrder byteOrder : orders) {
        for (boolean fortranOrder : new boolean[] {false, true}) {
          cases.add(Arguments.of(dtype, byteOrder, fortranOrder));
        }
      }
    }
    return cases.stream();
  }

  /** One file's array and what it must hold. */
  private record Read(String what, NDArray array, long[] dims, byte[] expected) {}

  @ParameterizedTest(name = "{0} {1} fortran={2}")
  @MethodSource("layouts")
  void arraysKeepTheirDataAfterGarbageCollection(
      ElementType dtype, ByteOrder byteOrder, boolean fortranOrder) throws IOException {
    List<Read> reads = new ArrayList<>();
    long[] sizes = new long[SHAPES.size()];
    for (int s = 0; s < SHAPES.size(); s++) {
      long[] dims = SHAPES.get(s);
      int count = Math.toIntExact(new Shape(dims).size());
      byte[] elements = LayoutFiles.sample(dtype, count, 31L * s + dtype.ordinal());
      byte[] expected = LayoutFiles.nativeOrder(elements, dtype.itemSize());
      sizes[s] = expected.length;
      byte[] npy = LayoutFiles.npy(dtype, byteOrder, fortranOrder, dims, elements);
      Path npyFile = dir.resolve("a" + s + ".npy");
      Files.write(npyFile, npy);
      Path npzFile = dir.resolve("a" + s + ".npz");
      Files.write(npzFile, LayoutFiles.npz(Map.of("a", npy)));

      reads.add(new Read(npyFile.toString(), Npy.read(manager, npyFile), dims, expected));
      reads.add(new Read("decode " + npyFile, Npy.decode(manager, npy, "a"), dims, expected));
      reads.add(new Read(npzFile.toString(), Npz.read(manager, npzFile).get("a"), dims, expected));
      // Arrays read and closed again, from another manager, must not take the others along.
      try (NDManager other = manager.newSubManager()) {
        Npy.read(other, npyFile);
        Npz.read(other, npzFile);
      }
    }
    NativeLifetime.collectAndReuse(sizes);

    for (Read read : reads) {
      assertEquals(new Shape(read.dims()), read.array().getShape(), read.what());
      assertEquals(dtype.dataType(), read.array().getDataType(), read.what());
      assertArrayEquals(read.expected(), read.array().toByteArray(), read.what());
      assertTrue(NativeLifetime.isCContiguous(read.array()), read.what() + " is not C-contiguous");
    }

    // A view shares the array's storage; it must stay valid when the array itself is closed.
    List<NDArray> views = new ArrayList<>();
    for (Read read : reads) {
      views.add(read.array().reshape(-1));
      read.array().close();
    }
    NativeLifetime.collectAndReuse(sizes);
    for (int i = 0; i < reads.size(); i++) {
      Read read = reads.get(i);
      assertArrayEquals(read.expected(), views.get(i).toByteArray(), read.what() + " (a view)");
    }
  }

  /**
   * The reported sizes: a (2048, 2048) Fortran-order array crashed the JVM in sgemm, and freed
   * buffers this large are unmapped, so the check runs in a fresh JVM: a crash there fails this
   * test instead of the whole run.
   */
  @Test
  void largeFortranOrderArraysSurviveGarbageCollectionInAFreshJvm() throws Exception {
    Path java = Paths.get(System.getProperty("java.home"), "bin", "java");
    List<String> command =
        List.of(
            java.toString(),
            "-Xmx512m",
            "-Dai.djl.offline=true",
            "-cp",
            System.getProperty("java.class.path"),
            LargeFortranProbe.class.getName(),
            dir.toString());
    Path log = dir.resolve("probe.log");
    Process process =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    if (!process.waitFor(300, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      fail("the probe did not finish in 300 s:\n" + Files.readString(log, StandardCharsets.UTF_8));
    }
    String output = Files.readString(log, StandardCharsets.UTF_8);
    String tail = output.length() > 4000 ? output.substring(output.length() - 4000) : output;
    assertEquals(0, process.exitValue(), () -> "the probe failed:\n" + tail);
    assertTrue(output.contains("all arrays intact"), () -> "the probe said:\n" + tail);
  }
}
