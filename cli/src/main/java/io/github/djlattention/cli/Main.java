package io.github.djlattention.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
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

  /**
   * Every subcommand ({@code @Command} classes), in the order {@code --help} lists them. Adding a
   * command is adding its line here; it gets {@code --help}, {@code --version}, {@code --verbose}
   * and the error policy from {@link #commandLine}.
   */
  static final List<Object> SUBCOMMANDS =
      List.of(
          new Object[] {
            SeedCommand.class, // the seed document's walk-through
            ComputeCommand.class, // attention on .npy files, into an .npz
            ExportCommand.class, // an attention block as an ONNX model
            CheckCommand.class, // DJL vs ONNX Runtime vs expected outputs
            InspectCommand.class, // the attention sites of an ONNX model
            VerifyModelCommand.class, // every site of a model recomputed and compared
            ConformanceCommand.class, // the conformance suites against their oracles
            BenchCommand.class, // the fast path against ONNX Runtime
          });

  /** The shared option: every command accepts it; {@link ErrorPolicy} reads it. */
  static final String VERBOSE = "--verbose";

  private static final String VERBOSE_DESCRIPTION =
      "Print more detail; on failure, also print the stack trace.";

  @Spec private CommandSpec spec;

  @Option(names = VERBOSE, description = VERBOSE_DESCRIPTION)
  private boolean verbose;

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
   * <p>Nothing escapes: exceptions and JVM errors ({@link StackOverflowError}, {@link
   * OutOfMemoryError}, a native library that fails to link) become one line on {@code err} and an
   * exit code, through {@link ErrorPolicy}.
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
    return execute(commandLine(SUBCOMMANDS, out, err), args);
  }

  /**
   * Executes a command line built by {@link #commandLine}; JVM errors that picocli lets through
   * also get the policy's one line and exit code.
   *
   * @param commandLine the command line
   * @param args the arguments
   * @return the exit code, one of {@link ExitCodes}
   */
  static int execute(CommandLine commandLine, String[] args) {
    try {
      return commandLine.execute(args);
    } catch (Error e) {
      return new ErrorPolicy().handleError(e, commandLine, args);
    }
  }

  /**
   * Builds the command line with the given subcommands and the shared error policy.
   *
   * @param subcommands {@code @Command} classes or instances, normally {@link #SUBCOMMANDS}
   * @param out where results go
   * @param err where errors go
   * @return a fresh command line; one per run
   */
  static CommandLine commandLine(List<?> subcommands, PrintStream out, PrintStream err) {
    CommandLine commandLine = new CommandLine(new Main());
    for (Object subcommand : subcommands) {
      commandLine.addSubcommand(withSharedOptions(new CommandLine(subcommand)));
    }
    // Streams and handlers reach only the subcommands added so far: add them all first.
    ErrorPolicy policy = new ErrorPolicy();
    commandLine.setExecutionExceptionHandler(policy);
    commandLine.setParameterExceptionHandler(policy);
    commandLine.setOut(writer(out));
    commandLine.setErr(writer(err));
    return commandLine;
  }

  /**
   * Gives a subcommand {@code --help}, {@code --version} and {@code --verbose} unless it declares
   * them itself. A subcommand reads {@code --verbose} with {@link #verbose(CommandSpec)}.
   */
  private static CommandLine withSharedOptions(CommandLine subcommand) {
    CommandSpec spec = subcommand.getCommandSpec();
    spec.mixinStandardHelpOptions(true);
    if (!spec.optionsMap().containsKey(VERBOSE)) {
      spec.addOption(
          OptionSpec.builder(VERBOSE).type(boolean.class).description(VERBOSE_DESCRIPTION).build());
    }
    return subcommand;
  }

  /**
   * Returns whether {@code --verbose} was given, before or after the subcommand's name.
   *
   * @param spec the spec of any command in this command line (a subcommand's {@code @Spec})
   * @return true when the last parse matched {@code --verbose} on any command
   */
  static boolean verbose(CommandSpec spec) {
    ParseResult result = spec.root().commandLine().getParseResult();
    for (; result != null; result = result.subcommand()) {
      if (result.hasMatchedOption(VERBOSE)) {
        return true;
      }
    }
    return false;
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
