package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.file.Files;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Reads files written by NumPy 1.24 (see src/test/resources/io/README.md). */
class NpyGoldenTest {
  private NDManager manager;

  @BeforeEach
  void openManager() {
    manager = NDManager.newBaseManager("PyTorch");
  }

  @AfterEach
  void closeManager() {
    manager.close();
  }

  /** Each fixture holds {@code arange(6).reshape(2, 3) - offset} in its dtype. */
  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "f2_2x3.npy, FLOAT16, 2",
    "f4_2x3.npy, FLOAT32, 2",
    "f8_2x3.npy, FLOAT64, 2",
    "i1_2x3.npy, INT8, 2",
    "u1_2x3.npy, UINT8, 0",
    "i4_2x3.npy, INT32, 2",
    "i8_2x3.npy, INT64, 2",
    "f4_v2_2x3.npy, FLOAT32, 0",
    "f4_v3_2x3.npy, FLOAT32, 0",
    "f4_fortran_2x3.npy, FLOAT32, 0",
    "f4_bigendian_2x3.npy, FLOAT32, 0",
    "i8_bigendian_fortran_2x3.npy, INT64, 0"
  })
  void readsNumpyFiles(String name, DataType dataType, int offset) {
    NDArray array = Npy.read(manager, Fixtures.path(name));

    assertEquals(dataType, array.getDataType());
    assertEquals(new Shape(2, 3), array.getShape());
    double[] expected = new double[6];
    for (int i = 0; i < expected.length; i++) {
      expected[i] = i - offset;
    }
    assertArrayEquals(expected, array.toType(DataType.FLOAT64, false).toDoubleArray());
  }

  @Test
  void readsBooleans() {
    NDArray array = Npy.read(manager, Fixtures.path("b1_2x3.npy"));

    assertEquals(DataType.BOOLEAN, array.getDataType());
    assertEquals(new Shape(2, 3), array.getShape());
    assertArrayEquals(
        new boolean[] {true, false, true, false, false, true}, array.toBooleanArray());
  }

  @Test
  void readsScalarEmptyAndRank4() {
    NDArray scalar = Npy.read(manager, Fixtures.path("f4_scalar.npy"));
    NDArray empty = Npy.read(manager, Fixtures.path("f4_0x4.npy"));
    NDArray rank4 = Npy.read(manager, Fixtures.path("f8_rank4.npy"));

    assertEquals(new Shape(), scalar.getShape());
    assertEquals(2.5f, scalar.getFloat());
    assertEquals(new Shape(0, 4), empty.getShape());
    assertEquals(DataType.FLOAT32, empty.getDataType());
    assertEquals(new Shape(1, 2, 3, 4), rank4.getShape());
    assertEquals(23 / 8.0, rank4.getDouble(0, 1, 2, 3));
  }

  @Test
  void readsFortranOrderRank3InLogicalOrder() {
    NDArray array = Npy.read(manager, Fixtures.path("f8_fortran_2x3x4.npy"));

    assertEquals(new Shape(2, 3, 4), array.getShape());
    double[] expected = new double[24];
    for (int i = 0; i < expected.length; i++) {
      expected[i] = i;
    }
    assertArrayEquals(expected, array.toDoubleArray());
  }

  /** numpy and this package write the same header text, padding and data. */
  @ParameterizedTest(name = "{0}")
  @ValueSource(
      strings = {
        "f2_2x3.npy",
        "f4_2x3.npy",
        "f8_2x3.npy",
        "b1_2x3.npy",
        "i1_2x3.npy",
        "u1_2x3.npy",
        "i4_2x3.npy",
        "i8_2x3.npy",
        "f4_scalar.npy",
        "f4_0x4.npy",
        "f8_rank4.npy"
      })
  void encodingMatchesNumpyByteForByte(String name) throws IOException {
    byte[] numpyBytes = Files.readAllBytes(Fixtures.path(name));

    byte[] ours = Npy.encode(Npy.read(manager, Fixtures.path(name)));

    assertArrayEquals(numpyBytes, ours);
  }
}
