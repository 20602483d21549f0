package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * JVM errors and hostile messages through the error policy: a {@link StackOverflowError}, an {@link
 * OutOfMemoryError}, a native library that fails to link, or any other error exits 3 with one line,
 * bounded and escaped; {@code --verbose} adds the (escaped) stack trace.
 */
class JvmErrorsTest {

  /** A subcommand that fails as its argument says. */
  @Command(name = "fails")
  static final class FailingCommand implements Callable<Integer> {
    @CommandLine.Parameters(index = "0")
    private String what;

    @CommandLine.Parameters(index = "1", defaultValue = "")
    private String message;

    @Override
    public Integer call() {
      switch (what) {
        case "recursion":
          return recurse(0);
        case "stack":
          throw new StackOverflowError();
        case "array-too-large":
          long[] huge = new long[Integer.MAX_VALUE]; // "Requested array size exceeds VM limit"
          return huge.length;
        case "heap":
          throw new OutOfMemoryError("Java heap space");
        case "link":
          throw new UnsatisfiedLinkError("no torch in java.library.path: " + message);
        case "init":
          throw new ExceptionInInitializerError(new IllegalStateException(message));
        case "class":
          throw new NoClassDefFoundError("ai/djl/pytorch/jni/" + message);
        case "assertion":
          throw new AssertionError(message);
        case "bad":
          throw new IllegalArgumentException(message);
        default:
          throw new IllegalStateException(message);
      }
    }

    private static int recurse(int depth) {
      return recurse(depth + 1) + 1;
    }
  }

  private static CommandLine withFailingCommand(PrintStream out, PrintStream err) {
    List<Object> subcommands = new ArrayList<>(Main.SUBCOMMANDS);
    subcommands.add(FailingCommand.class);
    return Main.commandLine(subcommands, out, err);
  }

  static Stream<String> errors() {
    return Stream.of(
        "recursion", "stack", "array-too-large", "heap", "link", "init", "class", "assertion");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("errors")
  void jvmErrorsExitThreeWithOneLine(String what) {
    CliRun run = CliRun.of(JvmErrorsTest::withFailingCommand, "fails", what, "\u001b[31mx\u0007");
    assertEquals(ExitCodes.FAILURE, run.exitCode(), run::toString);
    assertEquals(1, run.errLines().size(), run::toString);
    String line = run.errLines().get(0);
    assertTrue(line.startsWith("djl-attention fails: "), line);
    assertTrue(line.endsWith("(--verbose prints the stack trace)"), line);
    assertFalse(HostileFiles.hasControl(line), line);
    assertTrue(line.length() <= ErrorPolicy.MAX_LINE, line);
  }

  @Test
  void outOfMemorySaysSoAndNamesTheHeap() {
    CliRun run = CliRun.of(JvmErrorsTest::withFailingCommand, "fails", "array-too-large");
    assertTrue(
        run.err().contains("out of memory (Requested array size exceeds VM limit"), run.err());
    assertTrue(run.err().contains("-Xmx"), run.err());
  }

  @Test
  void linkErrorsPointAtTheNativeLibraries() {
    CliRun run = CliRun.of(JvmErrorsTest::withFailingCommand, "fails", "link", "x");
    assertTrue(run.err().contains("UnsatisfiedLinkError: no torch"), run.err());
    assertTrue(run.err().contains("lib/"), run.err());
  }

  @Test
  void verbosePrintsTheEscapedStackTrace() {
    CliRun run =
        CliRun.of(JvmErrorsTest::withFailingCommand, "--verbose", "fails", "assertion", "a\u001bb");
    assertEquals(ExitCodes.FAILURE, run.exitCode(), run::toString);
    List<String> lines = run.errLines();
    assertTrue(lines.size() > 2, run::toString);
    assertTrue(lines.get(0).contains("AssertionError: a\\x1bb"), lines.get(0));
    assertTrue(lines.stream().anyMatch(l -> l.startsWith("\tat ")), run::toString);
    assertTrue(lines.stream().noneMatch(HostileFiles::hasControl), run::toString);
  }

  static Stream<Integer> messageSeeds() {
    return IntStream.range(0, 60).boxed();
  }

  /** Random messages of 0 to 200,000 characters with control characters, as bad input and bugs. */
  @ParameterizedTest(name = "seed {0}")
  @MethodSource("messageSeeds")
  void everyMessageIsOneBoundedEscapedLine(int seed) {
    Random random = new Random(seed);
    int length = random.nextInt(4) == 0 ? random.nextInt(50) : random.nextInt(200_000);
    String message = HostileFiles.controlText(random, length) + (seed % 3 == 0 ? "\n\nmore" : "");
    String what = seed % 2 == 0 ? "bad" : "bug";
    CliRun run = CliRun.of(JvmErrorsTest::withFailingCommand, "fails", what, message);
    assertEquals(
        what.equals("bad") ? ExitCodes.BAD_INPUT : ExitCodes.FAILURE,
        run.exitCode(),
        run::toString);
    assertEquals(1, run.errLines().size(), () -> "lines: " + run.errLines().size());
    String line = run.errLines().get(0);
    assertTrue(line.length() <= ErrorPolicy.MAX_LINE, () -> "length " + line.length());
    assertFalse(HostileFiles.hasControl(line), line);
    assertTrue(line.startsWith("djl-attention fails: "), line);
    if (line.length() == ErrorPolicy.MAX_LINE || line.contains("more characters cut]")) {
      assertTrue(line.matches(".* \\[\\.\\.\\. \\d+ more characters cut\\]$"), line);
    }
  }

  @Test
  void terminalLineEscapesAndCuts() {
    assertEquals("a\\x1b[31mb\\x07 c", ErrorPolicy.terminalLine("a\u001b[31mb\u0007\nc"));
    assertEquals("tab\\there \\u202e", ErrorPolicy.terminalLine("tab\there \u202e"));
    String cut = ErrorPolicy.terminalLine("x".repeat(10_000));
    assertEquals(
        ErrorPolicy.MAX_LINE - 48 + " [... 9548 more characters cut]".length(), cut.length());
    assertTrue(cut.endsWith(" [... 9548 more characters cut]"), cut);
    assertEquals("plain", ErrorPolicy.terminalLine("plain"));
  }
}
