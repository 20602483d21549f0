package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.io.Npy;
import io.github.djlattention.io.Npz;
import io.github.djlattention.testing.TestTensors;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input to {@code compute}: exit 2, exactly one stderr line naming the problem, and no output
 * file (an existing one untouched).
 */
class ComputeErrorsTest {

  @TempDir Path dir;

  private NDManager manager;

  @BeforeEach
  void setUp() throws IOException {
    manager = TestTensors.manager();
    write("q.npy", DataType.FLOAT32, 3, 4);
    write("k.npy", DataType.FLOAT32, 5, 4);
    write("v.npy", DataType.FLOAT32, 5, 2);
    Files.writeString(dir.resolve("text.npy"), "q = [[1, 2], [3, 4]]\n", StandardCharsets.UTF_8);
  }

  @AfterEach
  void tearDown() {
    manager.close();
  }

  /** Each case: a name, the arguments replacing the defaults, and the text the error names. */
  static Stream<Arguments> badInputs() {
    return Stream.of(
        bad("missing file", "no such file", "--q", "missing.npy"),
        bad("not a .npy file", "not a .npy file", "--k", "text.npy"),
        bad("rank mismatch", "must all be", "--k", "k3.npy"),
        bad("head-size mismatch", "head size", "--k", "k5.npy"),
        bad("value length mismatch", "differ in length", "--v", "v6.npy"),
        bad("integer dtype", "int32", "--q", "qint.npy"),
        bad("integer mask", "int64", "--mask", "maskint.npy"),
        bad("mask not broadcastable", "does not broadcast", "--mask", "mask23.npy"),
        bad("mask of higher rank", "more dimensions", "--mask", "mask4d.npy"),
        bad("scale 0", "--scale must be finite and > 0, got 0.0", "--scale", "0"),
        bad("negative scale", "--scale must be finite and > 0, got -2.0", "--scale", "-2"),
        bad("NaN scale", "--scale must be finite and > 0, got NaN", "--scale", "NaN"),
        bad("infinite scale", "--scale must be finite", "--scale", "Infinity"),
        bad("non-numeric scale", "--scale", "--scale", "half"),
        bad("negative softcap", "--softcap must be finite", "--softcap", "-1"),
        // finite in float64 but not in float32, the inputs' type: refused rather than NaN
        bad(
            "scale beyond float32",
            "scale 1.0E39 is outside the range float32 can compute with",
            "--scale",
            "1e39"),
        bad(
            "softcap beyond float32",
            "softcap 1.0E39 is outside the range float32 can compute with",
            "--softcap",
            "1e39"),
        bad(
            "softcap below float32's normal range",
            "softcap 1.0E-50 is outside the range float32 can compute with",
            "--softcap",
            "1e-50"),
        bad("missing --out", "Missing required option: '--out=<out.npz>'", "--out", null),
        bad("missing directory", "does not exist", "--out", "no/such/dir/out.npz"),
        bad("--out is a directory", "is a directory", "--out", "."));
  }

  private static Arguments bad(String name, String expected, String option, String value) {
    return Arguments.of(name, expected, option, value);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badInputs")
  void badInputIsOneLineExitTwoAndNoOutput(
      String name, String expected, String option, String value) throws IOException {
    writeCaseFiles();
    Path out = dir.resolve("out.npz");
    CliRun run = CliRun.of(args(out, option, value));
    assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run::toString);
    assertEquals(1, run.errLines().size(), run::toString);
    assertTrue(run.err().startsWith("djl-attention compute: "), run::toString);
    assertTrue(run.err().contains(expected), () -> "expected '" + expected + "' in\n" + run);
    assertEquals("", run.out());
    assertFalse(Files.exists(out), "no output file may be written");
    assertEquals(List.of(), leftovers(), "no temporary file may be left");
  }

  @Test
  void failureLeavesAnExistingOutputUntouched() throws IOException {
    Path out = dir.resolve("out.npz");
    byte[] before = "an earlier result".getBytes(StandardCharsets.UTF_8);
    Files.write(out, before);
    write("k5.npy", DataType.FLOAT32, 5, 5);
    CliRun run = CliRun.of(args(out, "--k", "k5.npy"));
    assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run::toString);
    assertArrayEquals(before, Files.readAllBytes(out));
    assertEquals(List.of("out.npz"), leftovers(), "no temporary file may be left");
  }

  @Test
  void successReplacesAnExistingOutput() throws IOException {
    Path out = dir.resolve("out.npz");
    Files.writeString(out, "an earlier result", StandardCharsets.UTF_8);
    CliRun run = CliRun.of(args(out, "--causal", null));
    assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
    assertEquals(new Shape(3, 5), Npz.read(manager, out).get("weights").getShape());
  }

  /** The arguments of a valid run, with {@code option} set to {@code value} (null drops it). */
  private String[] args(Path out, String option, String value) {
    List<String> args = new ArrayList<>(List.of("compute"));
    String[][] defaults = {
      {"--q", "q.npy"}, {"--k", "k.npy"}, {"--v", "v.npy"}, {"--out", out.toString()}
    };
    boolean replaced = false;
    for (String[] pair : defaults) {
      if (pair[0].equals(option)) {
        replaced = true;
        if (value == null) {
          continue;
        }
        pair = new String[] {option, value};
      }
      args.add(pair[0]);
      args.add(pair[0].equals("--out") ? pair[1] : dir.resolve(pair[1]).toString());
    }
    if (!replaced) {
      args.add(option);
      if (value != null) {
        args.add(option.equals("--mask") ? dir.resolve(value).toString() : value);
      }
    }
    return args.toArray(String[]::new);
  }

  private void writeCaseFiles() {
    write("k3.npy", DataType.FLOAT32, 1, 5, 4);
    write("k5.npy", DataType.FLOAT32, 5, 5);
    write("v6.npy", DataType.FLOAT32, 6, 2);
    write("qint.npy", DataType.INT32, 3, 4);
    write("maskint.npy", DataType.INT64, 3, 5);
    write("mask23.npy", DataType.BOOLEAN, 2, 3);
    write("mask4d.npy", DataType.BOOLEAN, 1, 1, 3, 5);
  }

  private void write(String name, DataType dtype, long... shape) {
    Npy.write(dir.resolve(name), manager.ones(new Shape(shape)).toType(dtype, false));
  }

  /** Files in the temp dir other than the inputs the tests wrote. */
  private List<String> leftovers() throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(f -> f.getFileName().toString()).filter(f -> !isInput(f)).sorted().toList();
    }
  }

  private static boolean isInput(String name) {
    return name.endsWith(".npy") && !name.startsWith(".");
  }
}
