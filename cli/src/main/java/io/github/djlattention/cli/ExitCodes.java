package io.github.djlattention.cli;

/** The exit codes of every {@code djl-attention} command. */
public final class ExitCodes {

  /** The command did its work. */
  public static final int OK = 0;

  /** The command ran, but a check it performs failed (for commands that check something). */
  public static final int CHECK_FAILED = 1;

  /**
   * Bad input: a usage error, a missing or unreadable file, an invalid array or argument. One line
   * on stderr says what is wrong.
   */
  public static final int BAD_INPUT = 2;

  /**
   * Anything else: the environment (for example a missing native library, or too little memory) or
   * a bug, JVM errors such as {@link StackOverflowError} and {@link OutOfMemoryError} included. One
   * line on stderr; {@code --verbose} adds the stack trace.
   */
  public static final int FAILURE = 3;

  private ExitCodes() {}
}
