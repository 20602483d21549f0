package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class NpyRoundTripTest {
  private static final List<Shape> SHAPES =
      List.of(
          new Shape(),
          new Shape(5),
          new Shape(0),
          new Shape(2, 3),
          new Shape(0, 4),
          new Shape(2, 0, 3),
          new Shape(1, 2, 3, 4),
          new Shape(2, 3, 0, 1));

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

  static Stream<Arguments> cases() {
    List<Arguments> cases = new ArrayList<>();
    for (ElementType dtype : ElementType.values()) {
      for (Shape shape : SHAPES) {
        cases.add(Arguments.of(dtype.dataType(), shape));
      }
    }
    return cases.stream();
  }

  /** Small non-negative integers, exactly representable in every supported dtype. */
  static NDArray sample(NDManager manager, DataType dataType, Shape shape, long seed) {
    Random random = new Random(seed);
    double[] values = new double[Math.toIntExact(shape.size())];
    for (int i = 0; i < values.length; i++) {
      values[i] = random.nextInt(6);
    }
    return manager.create(values, shape).toType(dataType, false);
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  void fileRoundTripKeepsDtypeShapeAndBytes(DataType dataType, Shape shape) {
    NDArray original = sample(manager, dataType, shape, 42);
    Path file = dir.resolve("a.npy");

    Npy.write(file, original);
    NDArray read = Npy.read(manager, file);

    assertEquals(dataType, read.getDataType());
    assertEquals(shape, read.getShape());
    assertArrayEquals(original.toByteArray(), read.toByteArray());
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("cases")
  void encodedBytesDecodeToTheSameArray(DataType dataType, Shape shape) {
    NDArray original = sample(manager, dataType, shape, 7);

    byte[] bytes = Npy.encode(original);
    NDArray decoded = Npy.decode(manager, bytes, "memory");

    assertEquals(0, (bytes[8] & 0xff | (bytes[9] & 0xff) << 8) + 10 & 63, "header is 64-aligned");
    assertEquals(dataType, decoded.getDataType());
    assertEquals(shape, decoded.getShape());
    assertArrayEquals(original.toByteArray(), decoded.toByteArray());
  }

  @Test
  void float16ExtremesAndBooleansSurviveExactly() {
    NDArray halves =
        manager
            .create(new float[] {65504f, -65504f, 6.1035156e-05f, 5.9604645e-08f, -0f, 1f / 3})
            .toType(DataType.FLOAT16, false);
    NDArray flags = manager.create(new boolean[] {true, false, false, true});

    NDArray halvesBack = Npy.decode(manager, Npy.encode(halves), "halves");
    NDArray flagsBack = Npy.decode(manager, Npy.encode(flags), "flags");

    assertEquals(DataType.FLOAT16, halvesBack.getDataType());
    assertArrayEquals(halves.toByteArray(), halvesBack.toByteArray());
    assertEquals(DataType.BOOLEAN, flagsBack.getDataType());
    assertArrayEquals(new boolean[] {true, false, false, true}, flagsBack.toBooleanArray());
  }

  @Test
  void transposedViewIsWrittenInLogicalOrder() {
    NDArray transposed = manager.arange(6f).reshape(2, 3).transpose(); // (3, 2)

    NDArray back = Npy.decode(manager, Npy.encode(transposed), "transposed");

    assertEquals(new Shape(3, 2), back.getShape());
    assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, back.toFloatArray());
  }

  @Test
  void writeReplacesAnExistingFile() {
    Path file = dir.resolve("a.npy");
    Npy.write(file, manager.create(new float[] {1, 2, 3}));

    Npy.write(file, manager.create(new int[] {7}));

    NDArray read = Npy.read(manager, file);
    assertEquals(DataType.INT32, read.getDataType());
    assertArrayEquals(new int[] {7}, read.toIntArray());
  }

  @Test
  void unsupportedDataTypeIsRejectedOnWrite() {
    NDArray complex = manager.create(new float[] {1, 2}).toType(DataType.COMPLEX64, false);

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Npy.encode(complex));

    assertTrue(e.getMessage().contains("complex64"), e.getMessage());
  }
}
