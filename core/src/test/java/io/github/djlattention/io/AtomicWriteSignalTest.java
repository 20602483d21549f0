package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, class 3: SIGTERM or SIGINT (Ctrl-C) in the middle of writing a large output leaves no
 * temporary file and the old output as it was. Each case is a child JVM signalled at a random point
 * of its write.
 *
 * <p>Where this JVM ignores SIGINT, the child inherits that and must ignore it too: a job that a
 * non-interactive shell starts in the background (`mvn test &` in a script) runs so, and so would
 * the command line. Then a SIGINT case checks that the write finished, whole and in place.
 */
class AtomicWriteSignalTest {
  @TempDir Path dir;

  @Test
  void aSignalDuringTheWriteLeavesNoTemporaryFileAndTheOldOutput() throws Exception {
    Random random = new Random(20261201);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    boolean sigintIgnored = ignoresSigint();
    int cases = 0;
    for (String signal : List.of("TERM", "INT", "TERM", "INT", "TERM", "INT")) {
      Path sub = Files.createDirectory(dir.resolve("case" + cases));
      Path target = sub.resolve("out.npz");
      Files.writeString(target, "old");
      Process child =
          new ProcessBuilder(
                  java,
                  "-cp",
                  System.getProperty("java.class.path"),
                  AtomicWriteChild.class.getName(),
                  target.toString(),
                  "4000")
              .redirectError(ProcessBuilder.Redirect.DISCARD)
              .start();
      BufferedReader out =
          new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
      assertEquals("writing", out.readLine(), "the child did not start writing");
      Thread.sleep(random.nextInt(400));
      assertEquals(1, AtomicWriteHostileTest.snapshot(sub).size() - 1 - 1, "no temp file?");
      Process kill =
          new ProcessBuilder("kill", "-" + signal, Long.toString(child.pid())).inheritIO().start();
      assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
      if (signal.equals("INT") && sigintIgnored) {
        assertTrue(child.waitFor(120, TimeUnit.SECONDS), "the child did not finish its write");
        assertEquals(0, child.exitValue(), "SIGINT is ignored here: the write should finish");
        Map<String, String> after = AtomicWriteHostileTest.snapshot(sub);
        assertEquals(2, after.size(), "no temporary file left: " + after);
        assertTrue(after.get("out.npz").startsWith("file of "), "the new output: " + after);
        cases++;
        continue;
      }
      assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child did not exit on SIG" + signal);
      assertEquals(
          Map.of("", "dir", "out.npz", "file old"),
          AtomicWriteHostileTest.snapshot(sub),
          "after SIG" + signal + ", exit " + child.exitValue());
      assertTrue(
          child.exitValue() == 128 + 15 || child.exitValue() == 128 + 2, "" + child.exitValue());
      cases++;
    }
    assertEquals(6, cases);
  }

  /** Whether this process ignores SIGINT (signal 2: bit 1 of SigIgn in /proc/self/status). */
  private static boolean ignoresSigint() throws IOException {
    Path status = Path.of("/proc/self/status");
    if (!Files.isReadable(status)) {
      return false;
    }
    for (String line : Files.readAllLines(status)) {
      if (line.startsWith("SigIgn:")) {
        return (Long.parseUnsignedLong(line.substring(7).trim(), 16) & (1L << 1)) != 0;
      }
    }
    return false;
  }
}
