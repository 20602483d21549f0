package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The bounds of {@link InputLimits}: where each one cuts, and how it is overridden. */
class InputLimitsTest {

  static Stream<Integer> depths() {
    return IntStream.rangeClosed(1, 64).boxed();
  }

  /** Depth 32 parses, 33 does not, whatever the containers; no stack is needed for either. */
  @ParameterizedTest(name = "depth {0}")
  @MethodSource("depths")
  void nestingIsCutAtTheLimit(int depth) {
    StringBuilder text = new StringBuilder();
    StringBuilder close = new StringBuilder();
    for (int i = 0; i < depth; i++) {
      String[] kinds = {"[", "(", "{'k': "};
      String open = kinds[(i * 7 + depth) % 3];
      text.append(open);
      close.insert(0, open.equals("[") ? "]" : open.equals("(") ? ",)" : "}");
    }
    String literal = text + "1" + close;
    if (depth <= 32) {
      PyLiteral.parse(literal);
    } else {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> PyLiteral.parse(literal));
      assertTrue(e.getMessage().startsWith("containers nested 33 deep"), e.getMessage());
    }
  }

  @Test
  void integersAreCutAtFortyDigits() {
    assertEquals(new java.math.BigInteger("9".repeat(40)), PyLiteral.parse("9".repeat(40)));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> PyLiteral.parse("-" + "9".repeat(41)));
    assertTrue(e.getMessage().contains("an integer of 41 digits at column 2"), e.getMessage());
  }

  @Test
  void propertiesOverrideTheDefaultsAndMustBePositive() {
    InputLimits.Limit limit = InputLimits.Limit.MEMBERS;
    assertEquals(4096, limit.get());
    try {
      System.setProperty(limit.property(), "7");
      assertEquals(7, limit.get());
      limit.check(7, "x");
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> limit.check(8, "a.npz"));
      assertEquals(
          "a.npz has 8 members, over the limit of 7 members (-Ddjlattention.maxMembers=N)",
          e.getMessage());
      for (String bad : new String[] {"0", "-1", "x", ""}) {
        System.setProperty(limit.property(), bad);
        assertThrows(IllegalStateException.class, limit::get, bad);
      }
    } finally {
      System.clearProperty(limit.property());
    }
  }

  @Test
  void productsOverflowOrExceedAndZeroWins() {
    InputLimits.Limit limit = InputLimits.Limit.CASE_ELEMENTS;
    assertEquals(24, InputLimits.product(limit, "a x b", 4, 6));
    assertEquals(0, InputLimits.product(limit, "a x b", 0, Long.MAX_VALUE, Long.MAX_VALUE));
    IllegalArgumentException overflow =
        assertThrows(
            IllegalArgumentException.class,
            () -> InputLimits.product(limit, "a x b x c", 1L << 40, 1L << 40, 3));
    assertTrue(overflow.getMessage().contains("overflows a long"), overflow.getMessage());
    IllegalArgumentException over =
        assertThrows(
            IllegalArgumentException.class, () -> InputLimits.product(limit, "s x t", 4096, 1025));
    assertTrue(
        over.getMessage().startsWith("s x t = 4096 x 1025 = 4198400 elements, over the limit"),
        over.getMessage());
    assertThrows(IllegalArgumentException.class, () -> InputLimits.product(limit, "n", -1));
  }

  @Test
  void countingStreamStopsAtItsBound() throws IOException {
    try (InputStream in =
        InputLimits.bounded(
            new ByteArrayInputStream(new byte[100]), 99, InputLimits.Limit.ARRAY_BYTES, "m")) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> in.readAllBytes());
      assertTrue(e.getMessage().startsWith("m inflates to more than 99 bytes"), e.getMessage());
    }
    try (InputLimits.CountingStream in =
        InputLimits.bounded(
            new ByteArrayInputStream(new byte[100]), 100, InputLimits.Limit.ARRAY_BYTES, "m")) {
      assertEquals(100, in.readAllBytes().length);
      assertEquals(100, in.count());
    }
  }

  @Test
  void onlyRegularFilesAreOpened(@TempDir Path dir) throws IOException {
    Path file = Files.write(dir.resolve("f"), new byte[10]);
    Path link = Files.createSymbolicLink(dir.resolve("link"), file);
    assertEquals(10, InputLimits.requireFile(link, InputLimits.Limit.MODEL_BYTES));
    assertEquals(10, InputLimits.readFile(link, InputLimits.Limit.MODEL_BYTES).length);
    IllegalArgumentException directory =
        assertThrows(IllegalArgumentException.class, () -> InputLimits.requireRegularFile(dir));
    assertTrue(directory.getMessage().endsWith("a directory, not a regular file"));
    if (Files.exists(Path.of("/dev/zero"))) {
      assertThrows(
          IllegalArgumentException.class,
          () -> InputLimits.readFile(Path.of("/dev/zero"), InputLimits.Limit.MODEL_BYTES));
    }
    assertThrows(
        UncheckedIOException.class, () -> InputLimits.requireRegularFile(dir.resolve("none")));
    try {
      System.setProperty(InputLimits.Limit.MODEL_BYTES.property(), "9");
      assertThrows(
          IllegalArgumentException.class,
          () -> InputLimits.readFile(file, InputLimits.Limit.MODEL_BYTES));
    } finally {
      System.clearProperty(InputLimits.Limit.MODEL_BYTES.property());
    }
  }
}
