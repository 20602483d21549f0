package io.github.djlattention.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.Arrays;
import java.util.function.BooleanSupplier;
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
 * {@link ExitCodes#FAILURE} and the line names the exception class.
 */
final class ErrorPolicy implements IExecutionExceptionHandler, IParameterExceptionHandler {

  private final BooleanSupplier verbose;

  /**
   * Creates the policy.
   *
   * @param verbose says whether {@code --verbose} was given (read when an error is handled)
   */
  ErrorPolicy(BooleanSupplier verbose) {
    this.verbose = verbose;
  }

  @Override
  public int handleParseException(ParameterException ex, String[] args) {
    boolean showTrace = verbose.getAsBoolean() || Arrays.asList(args).contains("--verbose");
    report(ex.getCommandLine(), oneLine(ex.getMessage(), ex), ex, showTrace);
    return ExitCodes.BAD_INPUT;
  }

  @Override
  public int handleExecutionException(
      Exception ex, CommandLine commandLine, ParseResult parseResult) {
    boolean badInput = isBadInput(ex);
    String message = describe(ex);
    if (!badInput) {
      message = ex.getClass().getSimpleName() + ": " + message;
      if (!verbose.getAsBoolean()) {
        message += " (--verbose prints the stack trace)";
      }
    }
    report(commandLine, message, ex, verbose.getAsBoolean());
    return badInput ? ExitCodes.BAD_INPUT : ExitCodes.FAILURE;
  }

  /** Returns whether the exception means the user's input is wrong rather than the program. */
  static boolean isBadInput(Throwable ex) {
    return ex instanceof IllegalArgumentException
        || ex instanceof UncheckedIOException
        || ex instanceof IOException
        || ex instanceof ParameterException;
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
