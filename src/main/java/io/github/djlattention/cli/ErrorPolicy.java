package io.github.djlattention.cli;

import ai.djl.engine.EngineException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/**
 * The one error policy of every {@code djl-attention} command.
 *
 * <p>Whatever goes wrong, stderr gets exactly one line, {@code djl-attention <command>: <message>},
 * and the stack trace only with {@code --verbose}. Usage errors and bad input ({@link
 * IllegalArgumentException}, {@link UncheckedIOException}, {@link IOException} such as a missing
 * file, picocli's {@link ParameterException}) exit {@link ExitCodes#BAD_INPUT}; anything else exits
 * {@link ExitCodes#FAILURE} and the line names the exception class and its root cause.
 */
final class ErrorPolicy implements IExecutionExceptionHandler, IParameterExceptionHandler {

  @Override
  public int handleParseException(ParameterException ex, String[] args) {
    // The parse failed, so its result may be incomplete: look at the raw arguments too.
    boolean showTrace =
        Main.verbose(ex.getCommandLine().getCommandSpec())
            || Arrays.asList(args).contains(Main.VERBOSE);
    report(ex.getCommandLine(), oneLine(ex.getMessage(), ex), ex, showTrace);
    return ExitCodes.BAD_INPUT;
  }

  @Override
  public int handleExecutionException(
      Exception ex, CommandLine commandLine, ParseResult parseResult) {
    boolean verbose = Main.verbose(commandLine.getCommandSpec());
    boolean badInput = isBadInput(ex);
    String message = describe(ex);
    if (!badInput) {
      message = ex.getClass().getSimpleName() + ": " + message + rootCause(ex);
      if (ex instanceof EngineException) {
        message +=
            "; check that lib/ holds the PyTorch native jar (pytorch-native-cpu):"
                + " ai.djl.offline="
                + System.getProperty("ai.djl.offline")
                + " forbids downloading it";
      }
      if (!verbose) {
        message += " (--verbose prints the stack trace)";
      }
    }
    report(commandLine, message, ex, verbose);
    return badInput ? ExitCodes.BAD_INPUT : ExitCodes.FAILURE;
  }

  /** Returns whether the exception means the user's input is wrong rather than the program. */
  static boolean isBadInput(Throwable ex) {
    return ex instanceof IllegalArgumentException
        || ex instanceof UncheckedIOException
        || ex instanceof IOException
        || ex instanceof ParameterException;
  }

  /** Names the innermost cause, which often says more than the exception itself. */
  private static String rootCause(Throwable ex) {
    Throwable root = ex;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    return root == ex
        ? ""
        : " (caused by "
            + root.getClass().getSimpleName()
            + ": "
            + oneLine(root.getMessage(), root)
            + ")";
  }

  private static String describe(Throwable ex) {
    if (ex instanceof NoSuchFileException) {
      return ((NoSuchFileException) ex).getFile() + ": no such file";
    }
    if (ex instanceof AccessDeniedException) {
      return ((AccessDeniedException) ex).getFile() + ": permission denied";
    }
    if (ex instanceof FileSystemException) {
      FileSystemException fse = (FileSystemException) ex;
      return fse.getFile() + ": " + (fse.getReason() != null ? fse.getReason() : fse.toString());
    }
    return oneLine(ex.getMessage(), ex);
  }

  /** Collapses a message to one line; falls back to the exception class if there is none. */
  private static String oneLine(String message, Throwable ex) {
    if (message == null || message.isBlank()) {
      return ex.getClass().getName();
    }
    return message.strip().replaceAll("\\s*\\R\\s*", " ");
  }

  private static void report(
      CommandLine commandLine, String message, Throwable ex, boolean showTrace) {
    PrintWriter err = commandLine.getErr();
    err.println(commandLine.getCommandSpec().qualifiedName() + ": " + message);
    if (showTrace) {
      ex.printStackTrace(err);
    }
    err.flush();
  }
}
