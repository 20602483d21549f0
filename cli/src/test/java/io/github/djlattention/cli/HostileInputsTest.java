package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Generated families of hostile inputs, one per class of broken promise: headers nested thousands
 * deep, dimensions of thousands of digits, control characters in headers and member names, many
 * members, archives that inflate beyond the limits, generated conformance cases whose sizes are out
 * of range or overflow, and paths that are not regular files. Each run must exit 2 with exactly one
 * stderr line of at most {@value ErrorPolicy#MAX_LINE} characters, free of control characters and
 * of stack traces, and leave no file behind.
 */
class HostileInputsTest {

  private static final Path SEED = Paths.get("models", "seed");
  private static final Path SEED_MODEL = Paths.get("models", "seed_self_attention");

  // ---- assertions

  /** Runs the arguments in-process and checks the promise; returns the one stderr line. */
  static String assertRefused(Path dir, int exitCode, List<String> args, String... fragments) {
    TreeSet<String> before = CliFuzz.snapshot(dir);
    CliFuzzScenario scenario =
        new CliFuzzScenario(0, String.join(" ", args), args, List.of(), Set.of(exitCode));
    CliFuzz.Outcome outcome = CliFuzz.inProcess(scenario, 30);
    String context = args + "\nstderr: " + abbreviate(outcome.err());
    assertFalse(outcome.timedOut(), () -> "hung: " + context);
    assertEquals(exitCode, outcome.exitCode(), () -> "exit code: " + context);
    List<String> lines = outcome.err().lines().toList();
    assertEquals(1, lines.size(), () -> "stderr lines: " + context);
    String line = lines.get(0);
    assertTrue(
        line.length() <= ErrorPolicy.MAX_LINE, () -> "line of " + line.length() + ": " + context);
    assertFalse(HostileFiles.hasControl(line), () -> "control character: " + context);
    assertFalse(line.contains("\tat ") || line.contains("Exception in thread"), context);
    for (String fragment : fragments) {
      assertTrue(line.contains(fragment), () -> "'" + fragment + "' missing: " + context);
    }
    assertEquals(before, CliFuzz.snapshot(dir), () -> "files changed: " + context);
    return line;
  }

  private static String abbreviate(String text) {
    return text.length() <= 2000 ? text : text.substring(0, 2000) + "... (" + text.length() + ")";
  }

  private static List<String> compute(Path dir, Path q) {
    return List.of(
        "compute",
        "--q=" + q,
        "--k=" + SEED.resolve("k.npy"),
        "--v=" + SEED.resolve("v_identity.npy"),
        "--out=" + dir.resolve("out.npz"));
  }

  private static List<String> check(Path dir, Path onnx, Path inputs, Path weights) {
    return List.of(
        "check",
        "--onnx=" + onnx,
        "--inputs=" + inputs,
        "--weights=" + weights,
        "--json=" + dir.resolve("report.json"));
  }

  private static Path write(Path dir, String name, byte[] bytes) throws IOException {
    return Files.write(dir.resolve(name), bytes);
  }

  // ---- 1. nesting (StackOverflowError in the header parser)

  static Stream<Integer> depths() {
    return IntStream.range(0, 25).mapToObj(i -> 100 + i * 412); // 100 .. 9988
  }

  @ParameterizedTest(name = "depth {0}")
  @MethodSource("depths")
  void deeplyNestedHeaderIsRefused(int depth, @TempDir Path dir) throws IOException {
    Path q =
        write(
            dir,
            "q.npy",
            HostileFiles.npy2(HostileFiles.nestedDict(depth, new Random(depth)), new byte[8]));
    assertRefused(dir, ExitCodes.BAD_INPUT, compute(dir, q), "nested 33 deep", "maxNesting");
  }

  @Test
  void nestingWithinTheLimitIsParsedAndReportedAsAWrongKey(@TempDir Path dir) throws IOException {
    Path q =
        write(
            dir,
            "q.npy",
            HostileFiles.npy2(HostileFiles.nestedDict(31, new Random(1)), new byte[8]));
    assertRefused(
        dir, ExitCodes.BAD_INPUT, compute(dir, q), "keys are [descr, fortran_order, shape, x]");
  }

  /**
   * The tester's example, a list nested 5,000 deep, in a child JVM with a default-sized thread
   * stack (the tests' own JVM runs with -Xss4m): today's recursive parser overflowed the stack.
   */
  @Test
  void regressionListNested5000Deep(@TempDir Path dir) throws Exception {
    Path q = write(dir, "q.npy", HostileFiles.npy2(nestedList(5000), new byte[8]));
    List<String> args = compute(dir, q);
    CliFuzzScenario scenario =
        new CliFuzzScenario(0, "nested", args, List.of(), Set.of(ExitCodes.BAD_INPUT));
    TreeSet<String> before = CliFuzz.snapshot(dir);
    CliFuzz.Outcome outcome = CliFuzz.childJvm(scenario, dir, null, 120, List.of("-Xss512k"));
    assertEquals(ExitCodes.BAD_INPUT, outcome.exitCode(), outcome::err);
    assertEquals(1, outcome.errLines().size(), outcome::err);
    assertTrue(outcome.err().contains("maxNesting"), outcome::err);
    assertEquals(List.of(), CliFuzz.problems(scenario, outcome, before, CliFuzz.snapshot(dir)));
  }

  /** Deeper than any stack: 200,000 levels in a 400 KB header, in this JVM. */
  @Test
  void regressionListNested200000Deep(@TempDir Path dir) throws IOException {
    Path q = write(dir, "q.npy", HostileFiles.npy2(nestedList(200_000), new byte[8]));
    assertRefused(dir, ExitCodes.BAD_INPUT, compute(dir, q), "maxNesting");
  }

  private static String nestedList(int depth) {
    return "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': "
        + "[".repeat(depth)
        + "]".repeat(depth)
        + "}";
  }

  // ---- 7. long and hostile messages

  static Stream<Integer> digitCounts() {
    return IntStream.range(0, 20)
        .mapToObj(i -> (int) Math.round(41 * Math.pow(1.5, i))); // 41 .. 91k
  }

  @ParameterizedTest(name = "{0} digits")
  @MethodSource("digitCounts")
  void dimensionOfManyDigitsIsOneShortLine(int digits, @TempDir Path dir) throws IOException {
    Path q =
        write(
            dir,
            "q.npy",
            HostileFiles.npy2(HostileFiles.digitsDict(digits, new Random(digits)), new byte[8]));
    assertRefused(
        dir, ExitCodes.BAD_INPUT, compute(dir, q), digits + " digits", "maxIntegerDigits");
  }

  @Test
  void regressionFiftyThousandDigitDimension(@TempDir Path dir) throws IOException {
    String dict =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (" + "7".repeat(50_000) + ",), }";
    Path q = write(dir, "q.npy", HostileFiles.npy2(dict, new byte[8]));
    assertRefused(dir, ExitCodes.BAD_INPUT, compute(dir, q));
  }

  static Stream<Long> controlSeeds() {
    return Stream.iterate(0L, s -> s + 1).limit(40);
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("controlSeeds")
  void controlCharactersInAHeaderAreEscaped(long seed, @TempDir Path dir) throws IOException {
    Random random = new Random(seed);
    String descr = HostileFiles.controlText(random, 1 + random.nextInt(300)).replace("'", "");
    String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (2,), }";
    Path q = write(dir, "q.npy", HostileFiles.npy2(dict, new byte[8]));
    assertRefused(dir, ExitCodes.BAD_INPUT, compute(dir, q), "q.npy");
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("controlSeeds")
  void controlCharactersInMemberNamesAreEscaped(long seed, @TempDir Path dir) throws IOException {
    Random random = new Random(seed);
    Map<String, byte[]> members = new LinkedHashMap<>();
    int count = 1 + random.nextInt(5);
    for (int i = 0; i < count; i++) {
      String name = HostileFiles.controlText(random, 1 + random.nextInt(80)).replace("\u0000", "");
      byte[] member = HostileFiles.npy2(HostileFiles.GOOD_DICT, new byte[8]);
      members.put(name + (random.nextInt(4) == 0 ? "" : ".npy"), member);
    }
    Path archive = write(dir, "weights.npz", HostileFiles.zip(members));
    List<String> args =
        seed % 2 == 0
            ? List.of("export", "--weights=" + archive, "--out=" + dir.resolve("model.onnx"))
            : check(
                dir,
                SEED_MODEL.resolve("model.onnx"),
                archive,
                SEED_MODEL.resolve("state_dict.npz"));
    String line = assertRefused(dir, ExitCodes.BAD_INPUT, args);
    assertTrue(line.contains("\\x") || line.contains("\\u"), () -> "nothing escaped: " + line);
  }

  @Test
  void regressionEscAndBelFromAMemberName(@TempDir Path dir) throws IOException {
    Map<String, byte[]> members = new LinkedHashMap<>();
    members.put("\u001b[31mred\u0007.npy", HostileFiles.npy2(HostileFiles.GOOD_DICT, new byte[8]));
    Path archive = write(dir, "weights.npz", HostileFiles.zip(members));
    String line =
        assertRefused(
            dir,
            ExitCodes.BAD_INPUT,
            List.of("export", "--weights=" + archive, "--out=" + dir.resolve("model.onnx")));
    assertTrue(line.contains("\\x1b[31mred\\x07"), line);
  }

  // ---- member counts

  static Stream<Integer> memberCounts() {
    return Stream.of(10, 200, 1000, 4000, 4096, 4097, 5000, 9000, 20_000, 60_000);
  }

  @ParameterizedTest(name = "{0} members")
  @MethodSource("memberCounts")
  void manyMembersGiveOneShortLine(int count, @TempDir Path dir) throws IOException {
    Path archive = dir.resolve("weights.npz");
    HostileFiles.manyMembers(archive, count);
    List<String> args =
        List.of("export", "--weights=" + archive, "--out=" + dir.resolve("model.onnx"));
    assertRefused(dir, ExitCodes.BAD_INPUT, args, count > 4096 ? "maxMembers" : "names");
  }

  /** The tester's example: 200,000 members gave a single line of about 1.7 MB. */
  @Test
  void regression200000Members(@TempDir Path dir) throws IOException {
    Path archive = dir.resolve("weights.npz");
    HostileFiles.manyMembers(archive, 200_000);
    assertRefused(
        dir,
        ExitCodes.BAD_INPUT,
        List.of("export", "--weights=" + archive, "--out=" + dir.resolve("model.onnx")));
  }

  // ---- 8. inflation (zip bombs), with the limits lowered so that each case stays small

  static Stream<Arguments> bombs() {
    List<Arguments> cases = new ArrayList<>();
    Random random = new Random(8);
    for (int i = 0; i < 16; i++) {
      int members = 1 + random.nextInt(6);
      long dataBytes = (1L << 16) + random.nextInt(3 << 20); // 64 KiB .. 3 MiB of zeros
      cases.add(Arguments.of(members, dataBytes));
    }
    return cases.stream();
  }

  @ParameterizedTest(name = "{0} x {1} bytes")
  @MethodSource("bombs")
  void inflationIsCountedAndStoppedAtTheLimit(int members, long dataBytes, @TempDir Path dir)
      throws IOException {
    Path archive = dir.resolve("inputs.npz");
    HostileFiles.bomb(archive, members, dataBytes);
    long arrayLimit = 1 << 20;
    long inflatedLimit = 4 << 20;
    long memberBytes =
        HostileFiles.npy2(
                    "{'descr': '|u1', 'fortran_order': False, 'shape': (" + dataBytes + ",), }",
                    new byte[0])
                .length
            + dataBytes;
    // The first member over the array limit is refused when its header is read; before that, the
    // members read so far are counted against the archive's limit.
    String expected =
        dataBytes > arrayLimit
            ? "maxArrayBytes"
            : members * memberBytes > inflatedLimit ? "maxInflatedBytes" : "inputs";
    withProperties(
        Map.of(
            "djlattention.maxArrayBytes", "" + arrayLimit,
            "djlattention.maxInflatedBytes", "" + inflatedLimit),
        () ->
            assertRefused(
                dir,
                ExitCodes.BAD_INPUT,
                check(
                    dir,
                    SEED_MODEL.resolve("model.onnx"),
                    archive,
                    SEED_MODEL.resolve("state_dict.npz")),
                expected));
  }

  /**
   * The tester's example at the default limits, in a child JVM with {@code -Xmx1g} as the tester
   * ran it: 1 MB on disk, 1 GiB inflated. It cost 3.8 GB and ended in an OutOfMemoryError.
   */
  @Test
  void regressionOneGibibyteBombUnderXmx1g(@TempDir Path dir) throws Exception {
    Path archive = dir.resolve("inputs.npz");
    HostileFiles.bomb(archive, 1, 1L << 30);
    assertTrue(Files.size(archive) < 2_000_000, "a small file");
    List<String> args =
        check(dir, SEED_MODEL.resolve("model.onnx"), archive, SEED_MODEL.resolve("state_dict.npz"));
    CliFuzzScenario scenario =
        new CliFuzzScenario(0, "bomb", args, List.of(), Set.of(ExitCodes.BAD_INPUT));
    TreeSet<String> before = CliFuzz.snapshot(dir);
    CliFuzz.Outcome outcome = CliFuzz.childJvm(scenario, dir, null, 120, List.of("-Xmx1g"));
    assertEquals(ExitCodes.BAD_INPUT, outcome.exitCode(), outcome::err);
    assertEquals(1, outcome.errLines().size(), outcome::err);
    assertTrue(outcome.err().contains("maxArrayBytes"), outcome::err);
    assertEquals(List.of(), CliFuzz.problems(scenario, outcome, before, CliFuzz.snapshot(dir)));
  }

  static void withProperties(Map<String, String> properties, Runnable body) {
    Map<String, String> saved = new LinkedHashMap<>();
    properties.forEach((key, value) -> saved.put(key, System.setProperty(key, value)));
    try {
      body.run();
    } finally {
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

  // ---- 2. generated conformance cases: sizes out of range or overflowing

  static final String FUNCTIONAL =
      "{\"name\": \"f\", \"kind\": \"functional\", \"seed\": 1, \"batch\": 2, \"heads\": 2,"
          + " \"queryLength\": 3, \"headSize\": 4, \"rank\": 4, %s}";
  static final String FUNCTIONAL_MASK =
      "{\"name\": \"m\", \"kind\": \"functional\", \"seed\": 1, \"batch\": 1, \"heads\": 1,"
          + " \"queryLength\": 3, \"headSize\": 4, \"rank\": 2, \"mask\": {\"type\": \"bool\","
          + " \"shape\": [%s]}}";
  static final String BLOCK =
      "{\"name\": \"b\", \"kind\": \"mha-block\", \"seed\": 1, \"batch\": 2, \"embed\": 8,"
          + " \"heads\": 2, \"queryLength\": 3, \"cross\": true, %s}";

  static final List<String> HOSTILE_INTEGERS =
      List.of(
          "0",
          "-1",
          "-2147483648",
          "2147483647",
          "2147483648",
          "4294967297",
          "-4294967296",
          "9223372036854775807",
          "1e20",
          "1.5",
          "\"7\"",
          "true",
          "null",
          "[]");

  static Stream<Arguments> caseFields() {
    List<Arguments> cases = new ArrayList<>();
    for (String value : HOSTILE_INTEGERS) {
      for (String field :
          List.of(
              "batch",
              "heads",
              "kvHeads",
              "queryLength",
              "keyLength",
              "headSize",
              "valueHeadSize",
              "rank")) {
        cases.add(Arguments.of(field, value, functional(field, value)));
      }
      for (String field :
          List.of(
              "batch",
              "embed",
              "heads",
              "kvHeads",
              "queryLength",
              "keyLength",
              "keySize",
              "valueSize")) {
        cases.add(Arguments.of(field, value, block(field, value)));
      }
      cases.add(
          Arguments.of("mask.shape[0]", value, String.format(FUNCTIONAL_MASK, value + ", 3")));
      cases.add(
          Arguments.of("mask.shape[1]", value, String.format(FUNCTIONAL_MASK, "3, " + value)));
    }
    return cases.stream();
  }

  private static String functional(String field, String value) {
    String base = String.format(FUNCTIONAL, "\"" + field + "\": " + value);
    return base.replaceFirst("\"" + field + "\": [^,]*, ", ""); // the base's own value goes
  }

  private static String block(String field, String value) {
    String base = String.format(BLOCK, "\"" + field + "\": " + value);
    return base.replaceFirst("\"" + field + "\": [^,]*, ", "");
  }

  @ParameterizedTest(name = "{0} = {1}")
  @MethodSource("caseFields")
  void generatedCaseFieldsOutOfRangeAreBadInput(
      String field, String value, String json, @TempDir Path dir) throws IOException {
    Path file =
        write(dir, "cases.json", ("{\"cases\": [" + json + "]}").getBytes(StandardCharsets.UTF_8));
    String line = assertRefused(dir, ExitCodes.BAD_INPUT, conformance(dir, file));
    String plain = field.replace("[0]", "").replace("[1]", "");
    assertTrue(line.contains(plain), () -> "'" + plain + "' not named: " + line + "\n" + json);
  }

  static List<String> conformance(Path dir, Path cases) {
    return List.of(
        "conformance",
        "--suite=generated",
        "--generated-cases=" + cases,
        "--quiet",
        "--threads=1",
        "--json=" + dir.resolve("report.json"));
  }

  static Stream<String> testerCases() {
    return Stream.of(
        String.format(FUNCTIONAL, "\"kvHeads\": 0"),
        "{\"name\": \"q\", \"kind\": \"functional\", \"seed\": 1, \"batch\": 1, \"heads\": 1,"
            + " \"queryLength\": 200000, \"headSize\": 4}",
        String.format(FUNCTIONAL_MASK, "-1, 3"),
        "{\"name\": \"d\", \"kind\": \"functional\", \"seed\": 1, \"batch\": 1, \"heads\": 1,"
            + " \"queryLength\": 3, \"headSize\": 2147483647}");
  }

  /** The tester's examples: exit 3 (kvHeads 0, mask -1, head size 2³¹-1) or out of memory. */
  @ParameterizedTest
  @MethodSource("testerCases")
  void regressionGeneratedCases(String json, @TempDir Path dir) throws IOException {
    Path file =
        write(dir, "cases.json", ("{\"cases\": [" + json + "]}").getBytes(StandardCharsets.UTF_8));
    assertRefused(dir, ExitCodes.BAD_INPUT, conformance(dir, file));
  }

  static Stream<String> exportSizes() {
    return Stream.of("16385", "65536", "1000000", "2147483647");
  }

  /** {@code export --embed 1000000} exited 3 with a hint about lib/. */
  @ParameterizedTest
  @MethodSource("exportSizes")
  void regressionExportEmbedTooLarge(String embed, @TempDir Path dir) {
    String line =
        assertRefused(
            dir,
            ExitCodes.BAD_INPUT,
            List.of("export", "--embed=" + embed, "--heads=1", "--out=" + dir.resolve("m.onnx")),
            "--embed " + embed);
    assertFalse(line.contains("lib/"), line);
  }

  // ---- ONNX model sizes

  /** A 2.2 GB sparse file (no disk used): refused by size, before it is read. */
  @Test
  void regressionModelOfTwoGigabytes(@TempDir Path dir) throws IOException {
    Path model = dir.resolve("big.onnx");
    try (RandomAccessFile file = new RandomAccessFile(model.toFile(), "rw")) {
      file.setLength(2_200_000_000L);
    }
    assertRefused(
        dir,
        ExitCodes.BAD_INPUT,
        check(dir, model, SEED_MODEL.resolve("inputs.npz"), SEED_MODEL.resolve("state_dict.npz")),
        "maxModelBytes");
  }

  static Stream<Integer> modelSizes() {
    return IntStream.rangeClosed(-4, 4).mapToObj(d -> 4096 + d);
  }

  @ParameterizedTest(name = "{0} bytes")
  @MethodSource("modelSizes")
  void modelSizeLimitIsExact(int size, @TempDir Path dir) throws IOException {
    byte[] bytes = new byte[size];
    new Random(size).nextBytes(bytes);
    Path model = write(dir, "model.onnx", bytes);
    withProperties(
        Map.of("djlattention.maxModelBytes", "4096"),
        () -> {
          String line =
              assertRefused(
                  dir,
                  ExitCodes.BAD_INPUT,
                  check(
                      dir,
                      model,
                      SEED_MODEL.resolve("inputs.npz"),
                      SEED_MODEL.resolve("state_dict.npz")));
          assertEquals(size > 4096, line.contains("maxModelBytes"), line);
        });
  }

  // ---- regular files only

  static Stream<Arguments> nonRegularFiles() {
    List<Arguments> cases = new ArrayList<>();
    for (String kind : List.of("fifo", "directory", "/dev/null", "/dev/zero", "link-to-fifo")) {
      for (String option :
          List.of(
              "compute --q",
              "compute --mask",
              "check --onnx",
              "check --inputs",
              "check --weights",
              "check --expected",
              "export --weights",
              "conformance --generated-cases",
              "inspect MODEL",
              "verify-model MODEL",
              "verify-model --inputs",
              "verify-model --tokenizer")) {
        cases.add(Arguments.of(kind, option));
      }
    }
    return cases.stream();
  }

  @ParameterizedTest(name = "{1} {0}")
  @MethodSource("nonRegularFiles")
  void nonRegularFilesAreRefusedBeforeOpening(String kind, String option, @TempDir Path dir)
      throws Exception {
    Path target;
    switch (kind) {
      case "fifo":
      case "link-to-fifo":
        Path fifo = dir.resolve("fifo");
        assumeTrue(mkfifo(fifo), "mkfifo is not available");
        target = fifo;
        if (kind.equals("link-to-fifo")) {
          target = Files.createSymbolicLink(dir.resolve("link"), fifo);
        }
        break;
      case "directory":
        target = Files.createDirectory(dir.resolve("d.npy"));
        break;
      default:
        target = Paths.get(kind);
        assumeTrue(Files.exists(target), kind + " is not available");
        break;
    }
    List<String> args = new ArrayList<>();
    switch (option) {
      case "compute --q":
        args.addAll(compute(dir, target));
        break;
      case "compute --mask":
        args.addAll(compute(dir, SEED.resolve("q.npy")));
        args.add("--mask=" + target);
        break;
      case "check --onnx":
        args.addAll(
            check(
                dir,
                target,
                SEED_MODEL.resolve("inputs.npz"),
                SEED_MODEL.resolve("state_dict.npz")));
        break;
      case "check --inputs":
        args.addAll(
            check(
                dir,
                SEED_MODEL.resolve("model.onnx"),
                target,
                SEED_MODEL.resolve("state_dict.npz")));
        break;
      case "check --weights":
        args.addAll(
            check(dir, SEED_MODEL.resolve("model.onnx"), SEED_MODEL.resolve("inputs.npz"), target));
        break;
      case "check --expected":
        args.addAll(
            check(
                dir,
                SEED_MODEL.resolve("model.onnx"),
                SEED_MODEL.resolve("inputs.npz"),
                SEED_MODEL.resolve("state_dict.npz")));
        args.add("--expected=" + target);
        break;
      case "export --weights":
        args.addAll(List.of("export", "--weights=" + target, "--out=" + dir.resolve("m.onnx")));
        break;
      case "inspect MODEL":
        args.addAll(List.of("inspect", target.toString()));
        break;
      case "verify-model MODEL":
        args.addAll(
            List.of(
                "verify-model",
                target.toString(),
                "--inputs=" + SEED_MODEL.resolve("inputs.npz"),
                "--quiet"));
        break;
      case "verify-model --inputs":
        args.addAll(
            List.of(
                "verify-model",
                SEED_MODEL.resolve("model.onnx").toString(),
                "--inputs=" + target,
                "--quiet"));
        break;
      case "verify-model --tokenizer":
        args.addAll(
            List.of(
                "verify-model",
                SEED_MODEL.resolve("model.onnx").toString(),
                "--text=hello",
                "--tokenizer=" + target,
                "--quiet"));
        break;
      default:
        args.addAll(conformance(dir, target));
        break;
    }
    assertRefused(dir, ExitCodes.BAD_INPUT, args);
  }

  @Test
  void symbolicLinksToRegularFilesAreRead(@TempDir Path dir) throws IOException {
    Path q = Files.createSymbolicLink(dir.resolve("q.npy"), SEED.resolve("q.npy").toAbsolutePath());
    CliRun run = CliRun.of(compute(dir, q).toArray(String[]::new));
    assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
    assertTrue(Files.exists(dir.resolve("out.npz")));
  }

  static boolean mkfifo(Path path) {
    try {
      return new ProcessBuilder("mkfifo", path.toString()).start().waitFor() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
