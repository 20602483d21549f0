package io.github.djlattention.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code djl-attention} command: parses the arguments, runs one subcommand and maps whatever it
 * throws to an exit code through {@link ErrorPolicy}.
 *
 * <p>Use {@link #run(String[], PrintStream, PrintStream)} to run it in-process (tests, other
 * tools); {@link #main(String[])} calls it and exits with its code.
 */
@Command(
    name = "djl-attention",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Self-attention on DJL NDArrays: compute it, export it to ONNX, check it.",
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:success",
      "1:the command ran but a check failed",
      "2:bad input (usage, missing or invalid file, invalid argument)",
      "3:any other failure (environment, bug)"
    })
public final class Main implements Callable<Integer> {

  /** Every subcommand, in the order {@code --help} lists them. Adding a command is one line. */
  static final List<Class<?>> SUBCOMMANDS =
      List.of(SeedCommand.class, ComputeCommand.class, ExportCommand.class, CheckCommand.class);

  @Spec private CommandSpec spec;

  private boolean verbose;

  /**
   * The shared {@code --verbose} option: accepted by the top command and by every subcommand.
   *
   * @param verbose whether to print details and, on failure, the stack trace
   */
  @Option(
      names = "--verbose",
      scope = ScopeType.INHERIT,
      description = "Print more detail; on failure, print the stack trace too.")
  void setVerbose(boolean verbose) {
    this.verbose = verbose;
  }

  /** Returns whether {@code --verbose} was given anywhere on the command line. */
  boolean verbose() {
    return verbose;
  }

  /** Without a subcommand there is nothing to do: a usage error. */
  @Override
  public Integer call() {
    throw new ParameterException(
        spec.commandLine(),
        "missing command: choose one of " + String.join(", ", subcommandNames()) + " (or --help)");
  }

  private List<String> subcommandNames() {
    return List.copyOf(spec.subcommands().keySet());
  }

  /**
   * Runs the command line in this JVM without exiting.
   *
   * <p>Sets the system property {@code ai.djl.offline=true} first unless it is already set, so that
   * DJL never tries to download a native library: a missing one fails at once.
   *
   * @param args the arguments, as given to {@code main}
   * @param out where results go
   * @param err where the one-line error messages (and, with {@code --verbose}, stack traces) go
   * @return the exit code, one of {@link ExitCodes}
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    if (System.getProperty("ai.djl.offline") == null) {
      System.setProperty("ai.djl.offline", "true");
    }
    return commandLine(out, err).execute(args);
  }

  /**
   * Builds the command line with every subcommand and the shared error policy.
   *
   * @param out where results go
   * @param err where errors go
   * @return a fresh command line; one per run
   */
  static CommandLine commandLine(PrintStream out, PrintStream err) {
    Main main = new Main();
    CommandLine commandLine = new CommandLine(main);
    for (Class<?> subcommand : SUBCOMMANDS) {
      commandLine.addSubcommand(subcommand);
    }
    ErrorPolicy policy = new ErrorPolicy(main::verbose);
    commandLine.setExecutionExceptionHandler(policy);
    commandLine.setParameterExceptionHandler(policy);
    commandLine.setOut(writer(out));
    commandLine.setErr(writer(err));
    return commandLine;
  }

  private static PrintWriter writer(PrintStream stream) {
    return new PrintWriter(stream, true);
  }

  /**
   * Runs the command line and exits with its code.
   *
   * @param args the arguments
   */
  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /** Prints this library's version and the versions it runs with. */
  static final class Version implements IVersionProvider {
    @Override
    public String[] getVersion() {
      String version = Main.class.getPackage().getImplementationVersion();
      return new String[] {
        "djl-attention " + (version != null ? version : "(development build)"),
        "Java " + System.getProperty("java.version") + ", " + System.getProperty("os.name")
      };
    }
  }
}
