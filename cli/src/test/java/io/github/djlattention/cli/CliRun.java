package io.github.djlattention.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import picocli.CommandLine;

/**
 * One in-process run of the command line: its exit code and what it printed.
 *
 * @param exitCode the exit code
 * @param out everything printed on stdout
 * @param err everything printed on stderr
 */
record CliRun(int exitCode, String out, String err) {

  /** Runs {@link Main#run} with captured streams. */
  static CliRun of(String... args) {
    return capture(out -> err -> Main.run(args, out, err));
  }

  /** Runs a command line built by the test (for example with an extra subcommand). */
  static CliRun of(CommandLineFactory factory, String... args) {
    return capture(out -> err -> Main.execute(factory.create(out, err), args));
  }

  /** Builds a command line writing to the given streams. */
  interface CommandLineFactory {
    CommandLine create(PrintStream out, PrintStream err);
  }

  /** The lines printed on stderr. */
  List<String> errLines() {
    return err.lines().toList();
  }

  private interface Body {
    java.util.function.Function<PrintStream, Integer> with(PrintStream out);
  }

  private static CliRun capture(Body body) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code;
    try (PrintStream outStream = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8)) {
      code = body.with(outStream).apply(errStream);
    }
    return new CliRun(
        code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  @Override
  public String toString() {
    return "exit " + exitCode + "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
}
