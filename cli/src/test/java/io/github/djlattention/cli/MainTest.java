package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The top command and the shared error policy. */
class MainTest {

  @Test
  void versionPrintsTheNameAndExitsZero() {
    CliRun run = CliRun.of("--version");
    assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
    assertTrue(run.out().startsWith("djl-attention "), run::toString);
    assertEquals("", run.err());
  }

  @Test
  void helpListsEveryRegisteredSubcommand() {
    CliRun run = CliRun.of("--help");
    assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
    for (String name : subcommandNames()) {
      assertTrue(run.out().contains("\n  " + name + " "), () -> name + " missing in\n" + run);
    }
    assertTrue(run.out().contains("--verbose"), run::toString);
  }

  @Test
  void everySubcommandAcceptsVerboseAndHelp() {
    for (String name : subcommandNames()) {
      CliRun run = CliRun.of(name, "--help");
      assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
      assertTrue(run.out().contains("--verbose"), () -> name + " --help lacks --verbose\n" + run);
    }
  }

  @Test
  void noCommandIsAUsageError() {
    CliRun run = CliRun.of();
    assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run::toString);
    assertEquals(1, run.errLines().size(), run::toString);
    assertTrue(run.err().startsWith("djl-attention: missing command"), run::toString);
  }

  @Test
  void unknownCommandIsOneLineAndExitTwo() {
    CliRun run = CliRun.of("no-such-command");
    assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run::toString);
    assertEquals(1, run.errLines().size(), run::toString);
    assertTrue(run.err().contains("'no-such-command'"), run::toString);
  }

  @Test
  void unknownOptionNamesTheSubcommand() {
    CliRun run = CliRun.of("seed", "--no-such-option");
    assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run::toString);
    assertEquals(List.of("djl-attention seed: Unknown option: '--no-such-option'"), run.errLines());
  }

  @Test
  void badInputFromACommandIsOneLineWithoutStackTrace() {
    CliRun run = CliRun.of(MainTest::withTestCommands, "throws", "bad");
    assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run::toString);
    assertEquals(List.of("djl-attention throws: bad value 42"), run.errLines());
  }

  @Test
  void verboseAddsTheStackTraceBeforeOrAfterTheCommand() {
    for (String[] args :
        new String[][] {{"--verbose", "throws", "bad"}, {"throws", "bad", "--verbose"}}) {
      CliRun run = CliRun.of(MainTest::withTestCommands, args);
      assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run::toString);
      assertEquals("djl-attention throws: bad value 42", run.errLines().get(0), run::toString);
      assertTrue(run.err().contains("\tat "), () -> "no stack trace:\n" + run);
    }
  }

  @Test
  void otherExceptionsExitThreeAndNameTheirClass() {
    CliRun run = CliRun.of(MainTest::withTestCommands, "throws", "bug");
    assertEquals(ExitCodes.FAILURE, run.exitCode(), run::toString);
    assertEquals(1, run.errLines().size(), run::toString);
    assertTrue(
        run.err().startsWith("djl-attention throws: IllegalStateException: broken"), run::toString);
  }

  @Test
  void aCommandMayReportAFailedCheck() {
    CliRun run = CliRun.of(MainTest::withTestCommands, "throws", "check");
    assertEquals(ExitCodes.CHECK_FAILED, run.exitCode(), run::toString);
    assertEquals("", run.err());
  }

  @Test
  void runSetsDjlOfflineWhenUnset() {
    String before = System.clearProperty("ai.djl.offline");
    try {
      CliRun.of("--version");
      assertEquals("true", System.getProperty("ai.djl.offline"));
      System.setProperty("ai.djl.offline", "false");
      CliRun.of("--version");
      assertEquals("false", System.getProperty("ai.djl.offline"), "a caller's setting is kept");
    } finally {
      if (before == null) {
        System.clearProperty("ai.djl.offline");
      } else {
        System.setProperty("ai.djl.offline", before);
      }
    }
  }

  private static CommandLine withTestCommands(java.io.PrintStream out, java.io.PrintStream err) {
    List<Object> subcommands = new ArrayList<>(Main.SUBCOMMANDS);
    subcommands.add(new ThrowingCommand());
    return Main.commandLine(subcommands, out, err);
  }

  private static List<String> subcommandNames() {
    return Main.SUBCOMMANDS.stream()
        .map(c -> c instanceof Class<?> ? (Class<?>) c : c.getClass())
        .map(c -> c.getAnnotation(Command.class).name())
        .toList();
  }

  /**
   * A subcommand that fails on demand, to exercise the error policy. Like a command written without
   * knowing of the shared options, it declares its own help options and {@code --verbose}.
   */
  @Command(name = "throws", mixinStandardHelpOptions = true)
  static final class ThrowingCommand implements Callable<Integer> {
    @CommandLine.Option(names = "--verbose")
    private boolean verbose;

    @CommandLine.Parameters(index = "0")
    private String what;

    @Override
    public Integer call() {
      switch (what) {
        case "bad":
          throw new IllegalArgumentException("bad value 42");
        case "bug":
          throw new IllegalStateException("broken", new java.io.IOException("disk on fire"));
        case "check":
          return ExitCodes.CHECK_FAILED;
        default:
          return ExitCodes.OK;
      }
    }
  }
}
