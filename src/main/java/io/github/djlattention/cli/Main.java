package io.github.djlattention.cli;

import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code djl-attention} command line: {@code java -jar target/djl-attention.jar <command>}.
 *
 * <p>Bad input prints one line on stderr and exits with 2; {@code --verbose} adds the stack trace.
 */
@Command(
    name = "djl-attention",
    mixinStandardHelpOptions = true,
    description = "Self-attention on DJL NDArrays, ONNX export, and a conformance suite.")
public final class Main implements Runnable {

  /** Every subcommand, registered in this one list. */
  static final List<Class<?>> SUBCOMMANDS = List.of(ConformanceCommand.class);

  /** Exit code for bad input. */
  static final int EXIT_USAGE = 2;

  @CommandLine.Spec private CommandLine.Model.CommandSpec spec;

  /**
   * Runs the command line and exits with its code.
   *
   * @param args the arguments
   */
  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /**
   * Runs the command line without exiting.
   *
   * @param args the arguments
   * @return the exit code
   */
  public static int execute(String... args) {
    return commandLine().execute(args);
  }

  /**
   * The configured picocli command line with every subcommand.
   *
   * @return the command line
   */
  static CommandLine commandLine() {
    CommandLine line = new CommandLine(new Main());
    for (Class<?> subcommand : SUBCOMMANDS) {
      line.addSubcommand(subcommand);
    }
    line.setExecutionExceptionHandler(
        (exception, commandLine, parseResult) -> {
          boolean verbose = parseResult.hasMatchedOption("--verbose");
          if (verbose) {
            exception.printStackTrace(commandLine.getErr());
          } else {
            commandLine.getErr().println("error: " + message(exception));
          }
          return EXIT_USAGE;
        });
    line.setParameterExceptionHandler(
        (exception, arguments) -> {
          exception.getCommandLine().getErr().println("error: " + exception.getMessage());
          return EXIT_USAGE;
        });
    return line;
  }

  private static String message(Throwable exception) {
    String text = exception.getMessage() == null ? exception.toString() : exception.getMessage();
    int newline = text.indexOf('\n');
    return newline < 0 ? text : text.substring(0, newline);
  }

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }
}
