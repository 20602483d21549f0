package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.io.Npy;
import io.github.djlattention.testing.TestTensors;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, class 3, through the commands: an output that is not a regular file or a new name, or
 * that is one of the command's inputs, is refused with exit 2 and one stderr line before anything
 * is written; long valid names work; a planted symbolic link is never followed.
 */
class OutputTargetsTest {
  @TempDir Path dir;
  private Path q;
  private Path k;
  private Path v;
  private Path mask;

  @BeforeEach
  void inputs() {
    try (NDManager manager = TestTensors.manager()) {
      q = dir.resolve("q.npy");
      k = dir.resolve("k.npy");
      v = dir.resolve("v.npy");
      mask = dir.resolve("mask.npy");
      Npy.write(q, manager.randomNormal(new Shape(2, 3, 4)));
      Npy.write(k, manager.randomNormal(new Shape(2, 5, 4)));
      Npy.write(v, manager.randomNormal(new Shape(2, 5, 4)));
      Npy.write(
          mask, manager.ones(new Shape(3, 5)).toType(ai.djl.ndarray.types.DataType.BOOLEAN, false));
    }
  }

  /** Every entry under the directory: kind, and the bytes' hash for regular files. */
  private Map<String, String> snapshot() throws Exception {
    Map<String, String> entries = new TreeMap<>();
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Iterator<Path> it = walk.iterator(); it.hasNext(); ) {
        Path path = it.next();
        String kind =
            Files.isSymbolicLink(path)
                ? "link " + Files.readSymbolicLink(path)
                : Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS)
                    ? "file " + java.util.Arrays.hashCode(Files.readAllBytes(path))
                    : Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS) ? "dir" : "other";
        entries.put(dir.relativize(path).toString(), kind);
      }
    }
    return entries;
  }

  private String[] compute(Path out) {
    return new String[] {
      "compute", "--q=" + q, "--k=" + k, "--v=" + v, "--mask=" + mask, "--out=" + out
    };
  }

  private static void mkfifo(Path path) throws Exception {
    Process p = new ProcessBuilder("mkfifo", path.toString()).start();
    assertTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0);
  }

  private static void assertRefused(CliRun run, String contains) {
    assertEquals(ExitCodes.BAD_INPUT, run.exitCode(), run.toString());
    assertEquals(1, run.errLines().size(), run.toString());
    assertTrue(run.err().contains(contains), run.toString());
  }

  @Test
  void everyNonRegularOutIsRefusedAndLeftAsItWas() throws Exception {
    Path victim = Files.writeString(dir.resolve("victim.txt"), "precious");
    List<Path> targets = new ArrayList<>();
    targets.add(Files.createDirectory(dir.resolve("outdir")));
    mkfifo(dir.resolve("fifo.npz"));
    targets.add(dir.resolve("fifo.npz"));
    if ("root".equals(System.getProperty("user.name"))) {
      Process p =
          new ProcessBuilder("mknod", dir.resolve("null.npz").toString(), "c", "1", "3").start();
      assertTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0);
      targets.add(dir.resolve("null.npz"));
    }
    targets.add(Files.createSymbolicLink(dir.resolve("link.npz"), victim));
    targets.add(Files.createSymbolicLink(dir.resolve("dangling.npz"), dir.resolve("nothing")));
    targets.add(Files.createSymbolicLink(dir.resolve("linkdir"), dir.resolve("outdir")));
    Map<String, String> before = snapshot();
    for (Path target : targets) {
      assertRefused(CliRun.of(compute(target)), target + " exists and is ");
      Path model = dir.resolve("m.onnx");
      assertRefused(
          CliRun.of("export", "--embed=8", "--heads=2", "--out=" + target), target + " exists");
      assertRefused(
          CliRun.of("conformance", "--suite=generated", "--case=none", "--html=" + target),
          target + " exists and is ");
      assertEquals(before, snapshot(), "after " + target);
      assertTrue(Files.notExists(model));
    }
    assertEquals("precious", Files.readString(victim));
  }

  @Test
  void outThatIsAnInputIsRefusedUnderEverySpelling() throws Exception {
    Files.createDirectory(dir.resolve("a"));
    Files.createSymbolicLink(dir.resolve("qlink.npy"), q);
    Files.createLink(dir.resolve("qhard.npy"), q);
    Path cwd = Path.of("").toAbsolutePath();
    Map<String, String> before = snapshot();
    int cases = 0;
    for (Path input : List.of(q, k, v, mask)) {
      String option = "--" + input.getFileName().toString().replace(".npy", "");
      List<Path> spellings =
          new ArrayList<>(
              List.of(
                  input,
                  dir.resolve("./" + input.getFileName()),
                  dir.resolve("a/../" + input.getFileName()),
                  cwd.relativize(input)));
      if (input == q) {
        spellings.add(dir.resolve("qlink.npy"));
        spellings.add(dir.resolve("qhard.npy"));
      }
      for (Path out : spellings) {
        CliRun run = CliRun.of(compute(out));
        assertRefused(
            run,
            Files.isSymbolicLink(out)
                ? out
                    + " exists and is a symbolic link" // refused as a link, before the input check
                : "--out " + out + " is the input " + option + " " + input);
        cases++;
      }
    }
    assertEquals(18, cases);
    assertEquals(before, snapshot());
    Path weights = CliFuzzScenario.MODELS.resolve("seed_self_attention/state_dict.npz");
    Path copy = Files.copy(weights, dir.resolve("sd.npz"));
    assertRefused(
        CliRun.of("export", "--weights=" + copy, "--out=" + dir.resolve("a/../sd.npz")),
        "is the input --weights");
    Path seed = CliFuzzScenario.MODELS.resolve("seed_self_attention");
    Path inputs = Files.copy(seed.resolve("inputs.npz"), dir.resolve("in.npz"));
    assertRefused(
        CliRun.of(
            "check",
            "--onnx=" + seed.resolve("model.onnx"),
            "--weights=" + seed.resolve("state_dict.npz"),
            "--inputs=" + inputs,
            "--json=" + dir.resolve("./in.npz")),
        "is the input --inputs");
    Path generated = Files.copy(Path.of("conformance/generated/cases.json"), dir.resolve("g.json"));
    assertRefused(
        CliRun.of(
            "conformance",
            "--suite=generated",
            "--generated-cases=" + generated,
            "--json=" + dir.resolve("a/../g.json")),
        "is the input --generated-cases");
    assertRefused(
        CliRun.of(
            "conformance",
            "--suite=generated",
            "--case=none",
            "--json=" + dir.resolve("r.json"),
            "--html=" + dir.resolve("a/../r.json")),
        "--json and --html are the same file");
  }

  @Test
  void longOutNamesFrom200To255CharactersWork() throws Exception {
    for (int length = 200; length <= 255; length += 5) {
      String name = "o".repeat(length - 4) + ".npz";
      Path out = dir.resolve(name);
      CliRun run = CliRun.of(compute(out));
      assertEquals(0, run.exitCode(), length + ": " + run);
      assertTrue(Files.isRegularFile(out));
      try (Stream<Path> files = Files.list(dir)) {
        assertEquals(
            List.of(),
            files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList());
      }
      Files.delete(out);
    }
  }

  @Test
  void aSymlinkPlantedAtTheOldPredictableTempNameIsNotFollowed() throws Exception {
    Path victim = Files.writeString(dir.resolve("victim.txt"), "precious");
    Path json = dir.resolve("report.json");
    Path html = dir.resolve("report.html");
    long pid = ProcessHandle.current().pid();
    for (Path report : List.of(json, html)) {
      Files.createSymbolicLink(
          dir.resolve("." + report.getFileName() + "." + pid + ".tmp"), victim);
    }
    CliRun run =
        CliRun.of(
            "conformance",
            "--suite=onnx-attention",
            "--case=test_attention_4d_causal",
            "--quiet",
            "--json=" + json,
            "--html=" + html);
    assertEquals(0, run.exitCode(), run.toString());
    assertEquals("precious", Files.readString(victim, StandardCharsets.UTF_8));
    for (Path report : List.of(json, html)) {
      assertTrue(Files.isRegularFile(report, LinkOption.NOFOLLOW_LINKS), report.toString());
      assertTrue(Files.size(report) > 100);
      assertTrue(
          Files.isSymbolicLink(dir.resolve("." + report.getFileName() + "." + pid + ".tmp")));
    }
  }
}
