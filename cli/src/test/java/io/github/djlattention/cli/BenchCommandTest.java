package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The options of {@code bench} that are refused before anything is timed. */
class BenchCommandTest {

  @Test
  void theBfloat16SeriesWritesNoJson() {
    CliRun run = CliRun.of("bench", "--bfloat16", "--json", "out.json");
    assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run::toString);
    assertTrue(run.err().contains("--bfloat16 writes no --json"), run::toString);
  }

  @Test
  void trainingAndBfloat16AreSeparateSeries() {
    CliRun run = CliRun.of("bench", "--training", "--bfloat16");
    assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run::toString);
    assertTrue(run.err().contains("pick one"), run::toString);
  }

  @Test
  void helpNamesTheBfloat16Series() {
    CliRun run = CliRun.of("bench", "--help");
    assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
    assertTrue(run.out().contains("--bfloat16"), run::toString);
  }

  @Test
  void helpNamesTheGenerationLoop() {
    CliRun run = CliRun.of("bench", "--help");
    assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
    assertTrue(run.out().contains("512-token generation loop"), run::toString);
    assertTrue(run.out().contains("tokens per second"), run::toString);
  }

  @Test
  void theSeriesOfTheirOwnExcludeEachOther() {
    for (String[] pair :
        new String[][] {
          {"--small", "--decode"}, {"--dispatch", "--small"}, {"--dispatch", "--training"}
        }) {
      CliRun run = CliRun.of("bench", pair[0], pair[1]);
      assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run::toString);
      assertTrue(run.err().contains("series of their own: pick one"), run::toString);
    }
  }

  @Test
  void helpNamesTheSmallAndDispatchSeries() {
    CliRun run = CliRun.of("bench", "--help");
    assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
    assertTrue(run.out().contains("--small"), run::toString);
    assertTrue(run.out().contains("--dispatch"), run::toString);
  }
}
