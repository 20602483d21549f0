package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, class 3: an output only ever replaces a regular file or a new name, its temporary file
 * is created exclusively under an unpredictable, short enough name, and an output that is one of
 * the inputs is refused. Each test is a generated family of cases.
 */
class AtomicWriteHostileTest {
  @TempDir Path dir;

  private static final byte[] CONTENT = "new content".getBytes(StandardCharsets.UTF_8);
  private static final byte[] VICTIM = "precious".getBytes(StandardCharsets.UTF_8);

  /** Every entry of a directory tree, with what it is and, for regular files, its content. */
  static Map<String, String> snapshot(Path root) throws IOException {
    Map<String, String> entries = new TreeMap<>();
    try (Stream<Path> walk = Files.walk(root)) {
      for (Iterator<Path> it = walk.iterator(); it.hasNext(); ) {
        Path path = it.next();
        String kind;
        if (Files.isSymbolicLink(path)) {
          kind = "link -> " + Files.readSymbolicLink(path);
        } else if (Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS)) {
          long size = Files.size(path);
          kind =
              size <= 64
                  ? "file " + new String(Files.readAllBytes(path), StandardCharsets.ISO_8859_1)
                  : "file of " + size + " bytes";
        } else if (Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
          kind = "dir";
        } else {
          kind = "other";
        }
        entries.put(root.relativize(path).toString(), kind);
      }
    }
    return entries;
  }

  private static void run(String... command) throws IOException, InterruptedException {
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    assertTrue(process.waitFor(30, TimeUnit.SECONDS), String.join(" ", command));
    assertEquals(0, process.exitValue(), String.join(" ", command));
  }

  /** Makes one kind of non-regular file at {@code path}; returns false if this machine can't. */
  private boolean make(String kind, Path path) throws Exception {
    Path victim = dir.resolve("victim.txt");
    if (!Files.exists(victim)) {
      Files.write(victim, VICTIM);
    }
    switch (kind) {
      case "directory":
        Files.createDirectory(path);
        return true;
      case "directory with a file":
        Files.createDirectory(path);
        Files.write(path.resolve("inside"), VICTIM);
        return true;
      case "fifo":
        run("mkfifo", path.toString());
        return true;
      case "socket":
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
          server.bind(UnixDomainSocketAddress.of(path));
        }
        return true;
      case "char device":
        if (!"root".equals(System.getProperty("user.name"))) {
          return false;
        }
        run("mknod", path.toString(), "c", "1", "3"); // like /dev/null, inside the temp dir
        return true;
      case "symlink to a file":
        Files.createSymbolicLink(path, victim);
        return true;
      case "relative symlink to a file":
        Files.createSymbolicLink(path, victim.getFileName());
        return true;
      case "symlink to a directory":
        Files.createSymbolicLink(path, Files.createDirectories(dir.resolve("elsewhere")));
        return true;
      case "dangling symlink":
        Files.createSymbolicLink(path, dir.resolve("nowhere"));
        return true;
      case "symlink to a fifo":
        if (!Files.exists(dir.resolve("pipe"), LinkOption.NOFOLLOW_LINKS)) {
          run("mkfifo", dir.resolve("pipe").toString());
        }
        Files.createSymbolicLink(path, dir.resolve("pipe"));
        return true;
      case "symlink loop":
        Files.createSymbolicLink(path, path);
        return true;
      default:
        throw new AssertionError(kind);
    }
  }

  @Test
  void everyKindOfNonRegularTargetIsRefusedAndLeftAsItWas() throws Exception {
    List<String> kinds =
        List.of(
            "directory",
            "directory with a file",
            "fifo",
            "socket",
            "char device",
            "symlink to a file",
            "relative symlink to a file",
            "symlink to a directory",
            "dangling symlink",
            "symlink to a fifo",
            "symlink loop");
    int tried = 0;
    for (String kind : kinds) {
      for (String name : List.of("out.npz", "report.json", ".hidden", "with space.html")) {
        Path target = dir.resolve(kind.replace(' ', '_') + "-" + name);
        if (!make(kind, target)) {
          continue;
        }
        tried++;
        Map<String, String> before = snapshot(dir);
        IllegalArgumentException e =
            assertThrows(
                IllegalArgumentException.class,
                () -> AtomicWrite.write(target, out -> out.write(CONTENT)),
                kind);
        assertTrue(e.getMessage().startsWith(target + " exists and is "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertEquals(before, snapshot(dir), kind + ": something was touched");
        assertEquals(Map.of(), Map.copyOf(liveIn(dir)), kind);
      }
    }
    assertTrue(tried >= 40, "tried " + tried);
  }

  private static Map<Path, Boolean> liveIn(Path directory) {
    Map<Path, Boolean> live = new LinkedHashMap<>();
    for (Path path : AtomicWrite.live()) {
      if (path.startsWith(directory)) {
        live.put(path, true);
      }
    }
    return live;
  }

  @Test
  void symlinksPlantedAtTheTemporaryNamesAreNeitherFollowedNorReplaced() throws Exception {
    Random random = new Random(11);
    Path victim = dir.resolve("victim.txt");
    Files.write(victim, VICTIM);
    for (int round = 0; round < 30; round++) {
      Path target = dir.resolve("report" + round + ".json");
      // The names the writer will try: the first `planted` are taken by links to the victim.
      int planted = 1 + random.nextInt(40);
      List<String> names = new ArrayList<>();
      for (int i = 0; i < planted + 1; i++) {
        names.add("r" + round + "n" + i);
      }
      for (int i = 0; i < planted; i++) {
        Path link =
            dir.resolve(AtomicWrite.tempName(target.getFileName().toString(), names.get(i)));
        Files.createSymbolicLink(link, i % 2 == 0 ? victim : victim.getFileName());
      }
      // The old scheme's predictable name, too.
      Files.createSymbolicLink(
          dir.resolve("." + target.getFileName() + "." + ProcessHandle.current().pid() + ".tmp"),
          victim);
      Iterator<String> supply = names.iterator();
      Map<String, String> before = snapshot(dir);

      AtomicWrite.write(target, out -> out.write(CONTENT), supply::next);

      Map<String, String> after = snapshot(dir);
      assertEquals("file new content", after.remove(target.getFileName().toString()));
      assertEquals(before, after, "round " + round + ": a planted link or the victim changed");
      assertEquals(new String(VICTIM, StandardCharsets.UTF_8), Files.readString(victim));
    }
  }

  @Test
  void allNamesTakenFailsWithoutTouchingAnything() throws Exception {
    Path target = dir.resolve("out.npz");
    Files.write(target, VICTIM);
    Files.createSymbolicLink(dir.resolve(AtomicWrite.tempName("out.npz", "same")), target);
    Map<String, String> before = snapshot(dir);
    UncheckedIOException e =
        assertThrows(
            UncheckedIOException.class,
            () -> AtomicWrite.write(target, out -> out.write(CONTENT), () -> "same"));
    assertTrue(e.getMessage().startsWith(target + ": cannot write: "), e.getMessage());
    assertEquals(before, snapshot(dir));
  }

  @Test
  void theRandomPartIsUnpredictable() {
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (int i = 0; i < 1000; i++) {
      String name = AtomicWrite.randomText();
      assertEquals(16, name.length());
      assertTrue(seen.add(name), "repeated " + name);
    }
  }

  @Test
  void namesFrom200To255CharactersAreWrittenAnd256IsRefusedCleanly() throws Exception {
    for (int length = 200; length <= 256; length++) {
      Path sub = Files.createDirectory(dir.resolve("len" + length));
      for (String filler : List.of("a", "é")) { // 1 and 2 bytes per character
        String suffix = ".npz";
        int bytesPerChar = filler.getBytes(StandardCharsets.UTF_8).length;
        int stem = (length - suffix.length()) / bytesPerChar;
        String name =
            filler.repeat(stem)
                + "x".repeat(length - suffix.length() - stem * bytesPerChar)
                + suffix;
        assertEquals(length, name.getBytes(StandardCharsets.UTF_8).length);
        Path target = sub.resolve(name);
        if (length <= AtomicWrite.MAX_NAME_BYTES) {
          AtomicWrite.write(target, out -> out.write(CONTENT));
          assertEquals(Map.of("", "dir", name, "file new content"), snapshot(sub), "" + length);
          Files.delete(target);
        } else {
          assertThrows(
              RuntimeException.class, () -> AtomicWrite.write(target, out -> out.write(CONTENT)));
          assertEquals(Map.of("", "dir"), snapshot(sub), "" + length);
        }
      }
    }
  }

  @Test
  void anOutputThatIsAnInputIsRefusedUnderEverySpelling() throws Exception {
    Path input = dir.resolve("q.npy");
    Files.write(input, VICTIM);
    Files.createDirectory(dir.resolve("a"));
    Files.createDirectories(dir.resolve("b/c"));
    Files.createSymbolicLink(dir.resolve("link.npy"), input);
    Files.createSymbolicLink(dir.resolve("linkdir"), dir);
    Files.createLink(dir.resolve("hard.npy"), input);
    Path cwd = Path.of("").toAbsolutePath();
    List<Path> spellings =
        List.of(
            input,
            dir.resolve("./q.npy"),
            dir.resolve("a/../q.npy"),
            dir.resolve("b/c/../../q.npy"),
            dir.resolve(".//./q.npy"),
            dir.resolve("link.npy"),
            dir.resolve("linkdir/q.npy"),
            dir.resolve("linkdir/linkdir/a/../q.npy"),
            dir.resolve("hard.npy"),
            cwd.relativize(input),
            Path.of("./" + cwd.relativize(input)));
    int cases = 0;
    for (Path output : spellings) {
      for (Path inputSpelling :
          List.of(input, dir.resolve("a/../q.npy"), dir.resolve("link.npy"))) {
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--k", dir.resolve("other.npy"));
        inputs.put("--mask", null);
        inputs.put("--q", inputSpelling);
        IllegalArgumentException e =
            assertThrows(
                IllegalArgumentException.class,
                () -> AtomicWrite.requireNotAnInput("--out", output, inputs),
                output + " vs " + inputSpelling);
        assertEquals(
            "--out "
                + output
                + " is the input --q "
                + inputSpelling
                + "; writing it would replace that input",
            e.getMessage());
        cases++;
      }
    }
    assertEquals(33, cases);
    // A different file, a new name and a copy are fine.
    Files.write(dir.resolve("copy.npy"), VICTIM);
    for (Path output :
        List.of(dir.resolve("copy.npy"), dir.resolve("new.npz"), dir.resolve("a/q.npy"))) {
      AtomicWrite.requireNotAnInput("--out", output, Map.of("--q", input));
    }
    assertEquals(new String(VICTIM, StandardCharsets.UTF_8), Files.readString(input));
  }
}
