package io.github.djlattention.cli;

import ai.djl.engine.EngineException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
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
 * {@link ExitCodes#FAILURE} and the line names the exception class and its root cause. JVM errors
 * that escape a command ({@link StackOverflowError}, {@link OutOfMemoryError}, a native library
 * that fails to link) are environment or internal failures: also one line, also {@link
 * ExitCodes#FAILURE}, through {@link #handleError}.
 *
 * <p>The line is for a terminal: control characters (ESC, BEL, ...) from file contents or names are
 * shown escaped ({@code \x1b}), and a line longer than {@value #MAX_LINE} characters is cut, with a
 * note saying how much was left out. {@code --verbose} stack traces are escaped the same way, line
 * by line.
 */
final class ErrorPolicy implements IExecutionExceptionHandler, IParameterExceptionHandler {

  /** The longest line the policy prints, in characters. */
  static final int MAX_LINE = 500;

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
      if (ex instanceof EngineException && aboutTheNativeLibrary(ex)) {
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

  /**
   * Reports a JVM error that escaped the command (picocli passes errors through): one line, exit
   * {@link ExitCodes#FAILURE}.
   *
   * @param error the error
   * @param root the root command line; the line names the subcommand that was running
   * @param args the raw arguments, for {@code --verbose}
   * @return {@link ExitCodes#FAILURE}
   */
  int handleError(Error error, CommandLine root, String[] args) {
    CommandLine commandLine = root;
    ParseResult result = root.getParseResult();
    for (; result != null; result = result.subcommand()) {
      commandLine = result.commandSpec().commandLine();
    }
    boolean verbose = Arrays.asList(args).contains(Main.VERBOSE);
    String message;
    if (error instanceof OutOfMemoryError) {
      message =
          "out of memory ("
              + oneLine(error.getMessage(), error)
              + "; -Xmx allows "
              + (Runtime.getRuntime().maxMemory() >> 20)
              + " MiB): the input needs more memory than the JVM has; give java a larger -Xmx"
              + " or lower the limits of io.InputLimits";
    } else if (error instanceof StackOverflowError) {
      message = "internal failure: StackOverflowError (the thread's stack is exhausted)";
    } else if (error instanceof LinkageError) {
      message =
          error.getClass().getSimpleName()
              + ": "
              + oneLine(error.getMessage(), error)
              + rootCause(error)
              + "; a native library failed to load: check that lib/ holds the PyTorch and"
              + " ONNX Runtime native jars";
    } else {
      message =
          "internal failure: "
              + error.getClass().getSimpleName()
              + ": "
              + oneLine(error.getMessage(), error)
              + rootCause(error);
    }
    if (!verbose) {
      message += " (--verbose prints the stack trace)";
    }
    report(commandLine, message, error, verbose);
    return ExitCodes.FAILURE;
  }

  /** Whether a DJL engine failure is about loading the engine's native library. */
  private static boolean aboutTheNativeLibrary(Throwable ex) {
    for (Throwable t = ex; t != null; t = t.getCause() == t ? null : t.getCause()) {
      String message = String.valueOf(t.getMessage()).toLowerCase(java.util.Locale.ROOT);
      if (t instanceof LinkageError
          || message.contains("native library")
          || message.contains("engine not found")
          || message.contains("no deep learning engine")
          || message.contains("failed to load")) {
        return true;
      }
    }
    return false;
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
    err.println(terminalLine(commandLine.getCommandSpec().qualifiedName() + ": " + message));
    if (showTrace) {
      StringWriter trace = new StringWriter();
      ex.printStackTrace(new PrintWriter(trace));
      trace.toString().lines().forEach(line -> err.println(escape(line, true)));
    }
    err.flush();
  }

  /**
   * Makes a message fit one terminal line: line breaks become spaces, control characters are
   * escaped, and anything past {@link #MAX_LINE} characters is cut with a note.
   *
   * @param message the message
   * @return the line, at most {@link #MAX_LINE} characters, free of control characters
   */
  static String terminalLine(String message) {
    String line = escape(message.strip().replaceAll("\\s*\\R\\s*", " "), false);
    if (line.length() <= MAX_LINE) {
      return line;
    }
    int keep = MAX_LINE - 48; // room for the note
    if (Character.isHighSurrogate(line.charAt(keep - 1))) {
      keep--;
    }
    String note = " [... " + (line.length() - keep) + " more characters cut]";
    return line.substring(0, keep) + note;
  }

  /**
   * Escapes what a terminal would act on: C0 and C1 control characters, DEL, and the Unicode line,
   * paragraph and bidirectional-override characters, as {@code \xNN} or a backslash, u and four hex
   * digits; a backslash stays as it is.
   */
  static String escape(String text, boolean keepTabs) {
    StringBuilder out = null;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      boolean control =
          (c < 0x20 && !(keepTabs && c == '\t'))
              || (c >= 0x7f && c < 0xa0)
              || c == 0x2028
              || c == 0x2029
              || (c >= 0x202a && c <= 0x202e)
              || (c >= 0x2066 && c <= 0x2069);
      if (control && out == null) {
        out = new StringBuilder(text.length() + 16).append(text, 0, i);
      }
      if (out != null) {
        if (!control) {
          out.append(c);
        } else if (c == '\t') {
          out.append("\\t");
        } else if (c < 0x100) {
          out.append(String.format("\\x%02x", (int) c));
        } else {
          out.append(String.format("\\u%04x", (int) c));
        }
      }
    }
    return out == null ? text : out.toString();
  }
}
