package io.github.djlattention.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Runs {@link CliFuzzScenario}s in this JVM or in a child JVM and lists what each run did wrong.
 *
 * <p>A run is right when its exit code is allowed (2 for bad input), it printed exactly one line on
 * stderr when it exited 2, it finished within the time limit, no output it was asked to write
 * exists afterwards, its directory holds exactly the files it held before (no temp or partial
 * file), and, for child JVMs, it did not crash (exit 134 or 139, an {@code hs_err_pid*.log}).
 *
 * <p>{@code main(count, firstSeed, jar, families)} runs cases in child JVMs with {@code java -jar
 * jar} (or in-process) and prints a summary: the measurement behind {@code scripts/cli-fuzz.sh}.
 * Families: {@code classic} ({@link CliFuzzScenario#generate}), {@code hostile} ({@link
 * CliFuzzScenario#hostile}) or {@code all} (default, {@link CliFuzzScenario#generateAny}).
 */
final class CliFuzz {

  /** What one run did. */
  record Outcome(int exitCode, String out, String err, double seconds, boolean timedOut) {
    List<String> errLines() {
      return err.lines().filter(line -> !line.isBlank()).toList();
    }
  }

  private CliFuzz() {}

  /** Runs the scenario through {@link Main#run} in this JVM, waiting at most {@code timeout} s. */
  static Outcome inProcess(CliFuzzScenario scenario, long timeoutSeconds) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    ExecutorService thread = Executors.newSingleThreadExecutor();
    Map<String, String> saved = new TreeMap<>();
    scenario.properties().forEach((key, value) -> saved.put(key, System.setProperty(key, value)));
    long start = System.nanoTime();
    try (PrintStream outStream = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8)) {
      Future<Integer> run =
          thread.submit(
              () -> Main.run(scenario.args().toArray(String[]::new), outStream, errStream));
      int code;
      boolean timedOut = false;
      try {
        code = run.get(timeoutSeconds, TimeUnit.SECONDS);
      } catch (TimeoutException e) {
        run.cancel(true);
        code = -1;
        timedOut = true;
      } catch (Exception e) {
        // an Error escaping Main.run (e.g. OutOfMemoryError): record it as its own exit code
        errStream.println("escaped Main.run: " + e.getCause());
        code = -2;
      }
      return new Outcome(
          code,
          out.toString(StandardCharsets.UTF_8),
          err.toString(StandardCharsets.UTF_8),
          (System.nanoTime() - start) / 1e9,
          timedOut);
    } finally {
      thread.shutdownNow();
      saved.forEach(
          (key, value) -> {
            if (value == null) {
              System.clearProperty(key);
            } else {
              System.setProperty(key, value);
            }
          });
    }
  }

  /**
   * Runs the scenario in a child JVM, in {@code dir}: {@code java -jar jar} when {@code jar} is
   * given, else {@code java -cp <this classpath> Main}.
   */
  static Outcome childJvm(CliFuzzScenario scenario, Path dir, Path jar, long timeoutSeconds)
      throws IOException, InterruptedException {
    return childJvm(scenario, dir, jar, timeoutSeconds, List.of());
  }

  /** As {@link #childJvm(CliFuzzScenario, Path, Path, long)}, with JVM options such as -Xmx1g. */
  static Outcome childJvm(
      CliFuzzScenario scenario, Path dir, Path jar, long timeoutSeconds, List<String> jvmOptions)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Dai.djl.offline=true");
    command.addAll(jvmOptions);
    scenario.properties().forEach((key, value) -> command.add("-D" + key + "=" + value));
    if (jar != null) {
      command.add("-jar");
      command.add(jar.toAbsolutePath().toString());
    } else {
      command.add("-cp");
      command.add(System.getProperty("java.class.path"));
      command.add(Main.class.getName());
    }
    command.addAll(absolute(scenario.args()));
    Path outFile = Files.createTempFile("cli-fuzz", ".out");
    Path errFile = Files.createTempFile("cli-fuzz", ".err");
    long start = System.nanoTime();
    try {
      Process process =
          new ProcessBuilder(command)
              .directory(dir.toFile())
              .redirectOutput(outFile.toFile())
              .redirectError(errFile.toFile())
              .start();
      boolean finished = process.waitFor(timeoutSeconds, TimeUnit.SECONDS);
      if (!finished) {
        process.destroyForcibly().waitFor();
      }
      return new Outcome(
          finished ? process.exitValue() : -1,
          Files.readString(outFile, StandardCharsets.UTF_8),
          Files.readString(errFile, StandardCharsets.UTF_8),
          (System.nanoTime() - start) / 1e9,
          !finished);
    } finally {
      Files.deleteIfExists(outFile);
      Files.deleteIfExists(errFile);
    }
  }

  /** Paths in {@code --x=path} arguments made absolute, since the child runs in another dir. */
  private static List<String> absolute(List<String> args) {
    List<String> result = new ArrayList<>();
    for (String arg : args) {
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0 && arg.substring(eq + 1).contains("/")) {
        result.add(arg.substring(0, eq + 1) + Paths.get(arg.substring(eq + 1)).toAbsolutePath());
      } else {
        result.add(arg);
      }
    }
    return result;
  }

  /** The relative paths of every file and directory under {@code dir}. */
  static TreeSet<String> snapshot(Path dir) {
    try (Stream<Path> paths = Files.walk(dir)) {
      return paths
          .map(p -> dir.relativize(p).toString())
          .collect(Collectors.toCollection(TreeSet::new));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** What the run did wrong; empty when it behaved. */
  static List<String> problems(
      CliFuzzScenario scenario, Outcome outcome, TreeSet<String> before, TreeSet<String> after) {
    List<String> problems = new ArrayList<>();
    if (outcome.timedOut()) {
      problems.add("did not finish within the time limit");
    }
    if (outcome.exitCode() == 134 || outcome.exitCode() == 139) {
      problems.add("JVM crashed with exit " + outcome.exitCode());
    }
    if (!scenario.allowedExitCodes().contains(outcome.exitCode())) {
      problems.add(
          "exit " + outcome.exitCode() + ", expected one of " + scenario.allowedExitCodes());
    }
    if (outcome.exitCode() == ExitCodes.BAD_INPUT && outcome.errLines().size() != 1) {
      problems.add("stderr has " + outcome.errLines().size() + " lines, expected 1");
    }
    for (String line : outcome.errLines()) {
      if (line.length() > ErrorPolicy.MAX_LINE) {
        problems.add("a stderr line of " + line.length() + " characters");
      }
      if (HostileFiles.hasControl(line)) {
        problems.add("a control character on stderr");
      }
      if (line.startsWith("\tat ") || line.contains("Exception in thread")) {
        problems.add("a stack trace on stderr");
      }
    }
    if (outcome.exitCode() == ExitCodes.BAD_INPUT) {
      for (Path output : scenario.outputs()) {
        if (Files.exists(output)) {
          problems.add("left " + output + " behind");
        }
      }
    }
    TreeSet<String> added = new TreeSet<>(after);
    added.removeAll(before);
    added.removeIf(
        p ->
            outcome.exitCode() != ExitCodes.BAD_INPUT
                && scenario.outputs().stream().anyMatch(o -> o.endsWith(p)));
    if (!added.isEmpty()) {
      problems.add("new files " + added);
    }
    TreeSet<String> removed = new TreeSet<>(before);
    removed.removeAll(after);
    if (!removed.isEmpty()) {
      problems.add("removed files " + removed);
    }
    if (after.stream().anyMatch(p -> p.contains("hs_err_pid"))) {
      problems.add("JVM crash log hs_err_pid*.log");
    }
    return problems;
  }

  /**
   * Runs {@code count} cases from {@code firstSeed} in child JVMs ({@code java -jar jar}) and
   * prints one line per case and a summary; exits 1 when a case misbehaved.
   *
   * @param args count, first seed, jar (default cli/target/djl-attention.jar, or in-process),
   *     families (classic, hostile or all; default all)
   */
  public static void main(String[] args) throws Exception {
    int count = Integer.parseInt(args[0]);
    long firstSeed = Long.parseLong(args[1]);
    String where = args.length > 2 ? args[2] : "cli/target/djl-attention.jar";
    String families = args.length > 3 ? args[3] : "all";
    Path jar = "in-process".equals(where) ? null : Paths.get(where);
    Map<String, Integer> exitCodes = new TreeMap<>();
    Map<String, Double> seconds = new TreeMap<>();
    int bad = 0;
    double slowest = 0;
    double total = 0;
    for (long seed = firstSeed; seed < firstSeed + count; seed++) {
      Path dir = Files.createTempDirectory("cli-fuzz-" + seed + "-");
      CliFuzzScenario scenario =
          switch (families) {
            case "classic" -> CliFuzzScenario.generate(seed, dir);
            case "hostile" -> CliFuzzScenario.hostile(seed, dir);
            default -> CliFuzzScenario.generateAny(seed, dir);
          };
      TreeSet<String> before = snapshot(dir);
      Outcome outcome = jar == null ? inProcess(scenario, 60) : childJvm(scenario, dir, jar, 120);
      List<String> problems = problems(scenario, outcome, before, snapshot(dir));
      String[] words = scenario.name().split(" ");
      String family = words[0].equals("hostile") ? words[0] + " " + words[1] : words[0];
      exitCodes.merge(family + " exit " + outcome.exitCode(), 1, Integer::sum);
      seconds.merge(family, outcome.seconds(), Double::sum);
      slowest = Math.max(slowest, outcome.seconds());
      total += outcome.seconds();
      String line = outcome.errLines().isEmpty() ? "" : outcome.errLines().get(0);
      System.out.printf(
          Locale.ROOT,
          "%s %s exit=%d %.1fs stderr=%d %s%n",
          problems.isEmpty() ? "ok  " : "BAD ",
          scenario,
          outcome.exitCode(),
          outcome.seconds(),
          outcome.errLines().size(),
          problems.isEmpty() ? line : problems + " " + outcome.err());
      if (!problems.isEmpty()) {
        bad++;
      } else {
        deleteTree(dir);
      }
    }
    System.out.printf(
        Locale.ROOT,
        "summary cases=%d misbehaved=%d total_seconds=%.1f slowest_seconds=%.1f %s%n",
        count,
        bad,
        total,
        slowest,
        exitCodes);
    seconds.forEach(
        (family, time) -> System.out.printf(Locale.ROOT, "seconds %s %.1f%n", family, time));
    System.exit(bad == 0 ? 0 : 1);
  }

  static void deleteTree(Path dir) throws IOException {
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted((a, b) -> b.compareTo(a)).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
