package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bounded, seeded fuzzing of the commands that read files (compute, check, export, conformance):
 * every malformed case exits 2 with one stderr line and leaves no output or temp file; none hangs
 * or crashes. Most cases run in this JVM; a few run in a child JVM to catch native crashes. {@code
 * scripts/cli-fuzz.sh} runs more of them through {@code java -jar}.
 */
class CliFuzzTest {

  private static final int IN_PROCESS_CASES = 250;
  private static final long TIMEOUT_SECONDS = 60;

  static Stream<Long> seeds() {
    return LongStream.range(0, IN_PROCESS_CASES).boxed();
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void malformedInputExitsTwoWithOneLine(long seed, @TempDir Path dir) {
    CliFuzzScenario scenario = CliFuzzScenario.generate(seed, dir);
    TreeSet<String> before = CliFuzz.snapshot(dir);
    CliFuzz.Outcome outcome = CliFuzz.inProcess(scenario, TIMEOUT_SECONDS);
    List<String> problems = CliFuzz.problems(scenario, outcome, before, CliFuzz.snapshot(dir));
    assertTrue(problems.isEmpty(), scenario + ": " + problems + "\nstderr: " + outcome.err());
  }

  private static final int HOSTILE_CASES = 150;

  static Stream<Long> hostileSeeds() {
    return LongStream.range(0, HOSTILE_CASES).boxed();
  }

  /** The hostile families of {@link CliFuzzScenario#hostile}, drawn at random. */
  @ParameterizedTest(name = "seed {0}")
  @MethodSource("hostileSeeds")
  void hostileInputExitsTwoWithOneShortLine(long seed, @TempDir Path dir) {
    CliFuzzScenario scenario = CliFuzzScenario.hostile(seed, dir);
    TreeSet<String> before = CliFuzz.snapshot(dir);
    CliFuzz.Outcome outcome = CliFuzz.inProcess(scenario, TIMEOUT_SECONDS);
    List<String> problems = CliFuzz.problems(scenario, outcome, before, CliFuzz.snapshot(dir));
    assertTrue(problems.isEmpty(), scenario + ": " + problems + "\nstderr: " + outcome.err());
  }

  /** One case of each command in a child JVM: a native crash would show as exit 134 or 139. */
  @ParameterizedTest(name = "seed {0}")
  @MethodSource("childSeeds")
  void malformedInputDoesNotCrashAChildJvm(long seed, @TempDir Path dir) throws Exception {
    CliFuzzScenario scenario = CliFuzzScenario.generate(seed, dir);
    TreeSet<String> before = CliFuzz.snapshot(dir);
    CliFuzz.Outcome outcome = CliFuzz.childJvm(scenario, dir, null, 120);
    List<String> problems = CliFuzz.problems(scenario, outcome, before, CliFuzz.snapshot(dir));
    assertTrue(problems.isEmpty(), scenario + ": " + problems + "\nstderr: " + outcome.err());
  }

  /** The first seed of each command. */
  static Stream<Long> childSeeds() throws Exception {
    Path scratch = Files.createTempDirectory("cli-fuzz-seeds");
    try {
      return Stream.of("compute", "check", "export", "conformance")
          .map(
              command ->
                  LongStream.range(0, 1000)
                      .filter(seed -> firstWord(seed, scratch).equals(command))
                      .findFirst()
                      .orElseThrow())
          .toList()
          .stream();
    } finally {
      CliFuzz.deleteTree(scratch);
    }
  }

  private static String firstWord(long seed, Path scratch) {
    try {
      Path dir = Files.createTempDirectory(scratch, "s");
      return CliFuzzScenario.generate(seed, dir).name().split(" ")[0];
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void theGeneratorIsDeterministic(@TempDir Path a, @TempDir Path b) {
    for (long seed = 0; seed < 20; seed++) {
      Path da = a.resolve("s" + seed);
      Path db = b.resolve("s" + seed);
      try {
        Files.createDirectories(da);
        Files.createDirectories(db);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
      assertEquals(
          CliFuzzScenario.generate(seed, da).name(), CliFuzzScenario.generate(seed, db).name());
    }
  }
}
