package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every malformed file fails with an IllegalArgumentException naming the file and the problem. */
class NpyMalformedTest {
  private static final String GOOD_HEADER =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";

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

  private String readFailure(byte[] content) throws IOException {
    Path file = dir.resolve("x.npy");
    Files.write(file, content);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Npy.read(manager, file));
    assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
    // The stream decoder, which does not know the length up front, must agree on the problem.
    IllegalArgumentException fromStream =
        assertThrows(
            IllegalArgumentException.class,
            () -> Npy.decode(manager, new java.io.ByteArrayInputStream(content), "x.npy"));
    assertTrue(fromStream.getMessage().startsWith("x.npy: "), fromStream.getMessage());
    return e.getMessage().substring(file.toString().length() + 2);
  }

  private static void assertContains(String expected, String message) {
    assertTrue(message.contains(expected), () -> "'" + message + "' lacks '" + expected + "'");
  }

  @Test
  void randomBytes() throws IOException {
    byte[] junk = new byte[200];
    new Random(1).nextBytes(junk);
    junk[0] = 0x11;

    assertContains("not a .npy file (expected magic \\x93NUMPY, found \\x11", readFailure(junk));
  }

  @Test
  void emptyFile() throws IOException {
    assertContains("not a .npy file", readFailure(new byte[0]));
  }

  @Test
  void badMagic() throws IOException {
    byte[] content = Fixtures.npy(1, GOOD_HEADER, new byte[48]);
    content[1] = 'n';

    assertContains("found \\x93nUMPY", readFailure(content));
  }

  @Test
  void unsupportedVersion() throws IOException {
    byte[] content = Fixtures.npy(1, GOOD_HEADER, new byte[48]);
    content[6] = 4;

    assertContains("unsupported .npy format version 4.0", readFailure(content));
  }

  @Test
  void truncatedHeader() throws IOException {
    byte[] content = Arrays.copyOf(Fixtures.npy(1, GOOD_HEADER, new byte[48]), 30);

    assertContains(
        "truncated header: header length says 60 bytes, file has 20", readFailure(content));
  }

  @Test
  void truncatedHeaderLength() throws IOException {
    byte[] content = Arrays.copyOf(Fixtures.npy(2, GOOD_HEADER, new byte[48]), 10);

    assertContains("truncated header", readFailure(content));
  }

  @Test
  void truncatedData() throws IOException {
    byte[] content = Fixtures.npy(1, GOOD_HEADER, new byte[20]);

    assertEquals(
        "truncated: header says shape (3, 4) float32 = 48 bytes, file has 20",
        readFailure(content));
  }

  @Test
  void trailingData() throws IOException {
    byte[] content = Fixtures.npy(1, GOOD_HEADER, new byte[50]);

    assertEquals(
        "trailing data: header says shape (3, 4) float32 = 48 bytes, file has 50",
        readFailure(content));
  }

  @Test
  void largeTrailingDataIsReportedWithoutDrainingTheStream() throws IOException {
    byte[] content = Fixtures.npy(1, GOOD_HEADER, new byte[48 + 100_000]);

    assertContains(
        "trailing data: header says shape (3, 4) float32 = 48 bytes", readFailure(content));
  }

  @Test
  void truncatedNumpyFile() throws IOException {
    byte[] numpy = Files.readAllBytes(Fixtures.path("f8_2x3.npy"));

    assertEquals(
        "truncated: header says shape (2, 3) float64 = 48 bytes, file has 40",
        readFailure(Arrays.copyOf(numpy, numpy.length - 8)));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiterString = " => ",
      quoteCharacter = '"',
      value = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), => unexpected end of header",
        "{'descr': '<f4', 'fortran_order': False} => keys are [descr, fortran_order]",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'x': 1} => keys are",
        "{'descr': '<f4', 'descr': '<f4', 'shape': (3, 4)} => duplicate key 'descr'",
        "{descr: '<f4', 'fortran_order': False, 'shape': (3, 4)} => unexpected name 'descr'",
        "{'descr': '<f4, 'fortran_order': False, 'shape': (3, 4)} => expected '}' but found 'f' at column 18",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (3, 4)} => fortran_order must be True or False",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [3, 4]} => shape must be a tuple",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3)} => is not a tuple (write (n,))",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3.5,)} => expected ')' but found '.'",
        "{'descr': '<f4', 'fortran_order': False, 'shape': ('3',)} => shape must be a tuple of integers",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)} junk => unexpected text after the literal",
        "['descr', '<f4'] => not a dict",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}; import os => unexpected text",
      })
  void badHeaderDict(String header, String problem) throws IOException {
    String message = readFailure(Fixtures.npy(1, header, new byte[48]));

    assertTrue(message.startsWith("malformed header"), message);
    assertContains(problem, message);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiterString = " => ",
      quoteCharacter = '"',
      value = {
        "(3, -4) => negative dimension -4 in shape (3, -4)",
        "(-1,) => negative dimension -1 in shape (-1,)",
        "(99999999999999999999999,) => dimension 99999999999999999999999 in shape (99999999999999999999999,) is too large",
        "(4611686018427387903, 4611686018427387903) => is too large (over the 2147483647-byte limit)",
        "(1048576, 1048576) => shape (1048576, 1048576) float32 is too large",
        "(536870912,) => shape (536870912,) float32 is too large",
      })
  void badShape(String shape, String problem) throws IOException {
    String header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";

    assertContains(problem, readFailure(Fixtures.npy(1, header, new byte[48])));
  }

  @Test
  void largestAllowedShapeIsStillCheckedAgainstTheFileSize() throws IOException {
    String header = "{'descr': '|u1', 'fortran_order': False, 'shape': (2147483647,), }";

    assertContains(
        "truncated: header says shape (2147483647,) uint8 = 2147483647 bytes, file has 48",
        readFailure(Fixtures.npy(1, header, new byte[48])));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiterString = " => ",
      quoteCharacter = '"',
      value = {
        "'<U5' => unsupported dtype '<U5' (expected float16/32/64, bool or integer)",
        "'|S3' => unsupported dtype '|S3'",
        "'|O' => unsupported dtype '|O'",
        "'<c8' => unsupported dtype '<c8'",
        "'<u4' => unsupported dtype '<u4'",
        "'<i2' => unsupported dtype '<i2'",
        "'f4' => unsupported dtype 'f4'",
        "'|f4' => dtype '|f4' has no byte order",
        "[('a', '<f4')] => unsupported dtype: structured",
      })
  void unsupportedDtype(String descr, String problem) throws IOException {
    String header = "{'descr': " + descr + ", 'fortran_order': False, 'shape': (3, 4), }";

    assertContains(problem, readFailure(Fixtures.npy(1, header, new byte[48])));
  }

  @Test
  void numpyStringArrayIsRejected() {
    Path file = Fixtures.path("u5_strings.npy");

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Npy.read(manager, file));

    assertEquals(
        file + ": unsupported dtype '<U5' (expected float16/32/64, bool or integer)",
        e.getMessage());
  }

  @Test
  void oversizedHeaderLengthIsRefusedBeforeReading() throws IOException {
    byte[] content = Fixtures.npy(2, GOOD_HEADER, new byte[48]);
    content[11] = 0x7f; // header length 0x7f00003d

    assertContains("exceeds the 1048576-byte limit", readFailure(content));
  }

  @Test
  void invalidUtf8InVersion3Header() throws IOException {
    byte[] content = Fixtures.npy(3, GOOD_HEADER, new byte[48]);
    content[13] = (byte) 0xff;

    assertContains("not valid UTF-8", readFailure(content));
  }

  @Test
  void missingCommaBetweenItemsIsLocated() throws IOException {
    String header = "{'descr': '<f4' 'fortran_order': False, 'shape': (3, 4)}";

    assertContains(
        "expected '}' but found ''' at column 17",
        readFailure(Fixtures.npy(1, header, new byte[48])));
  }

  @Test
  void missingFileIsAnIoFailure() {
    Path file = dir.resolve("absent.npy");

    UncheckedIOException e =
        assertThrows(UncheckedIOException.class, () -> Npy.read(manager, file));

    assertEquals(file + ": no such file", e.getMessage());
  }
}
