package io.github.djlattention.cli;

import java.time.Duration;

/** The {@code --timeout <seconds>} option of the commands that run models. */
final class CliTimeouts {

  /** The longest accepted timeout: a week, far beyond any real run. */
  static final double MAX_SECONDS = 7 * 24 * 3600;

  private CliTimeouts() {}

  /**
   * Parses the option's value.
   *
   * @param seconds the value given
   * @return the timeout, at least one millisecond
   * @throws IllegalArgumentException quoting the value unless it is finite, > 0 and at most a week
   */
  static Duration parse(double seconds) {
    if (!(seconds > 0 && seconds <= MAX_SECONDS)) {
      throw new IllegalArgumentException(
          "--timeout must be > 0 and <= " + (long) MAX_SECONDS + " seconds, got " + seconds);
    }
    return Duration.ofMillis(Math.max(1, Math.round(seconds * 1000)));
  }
}
