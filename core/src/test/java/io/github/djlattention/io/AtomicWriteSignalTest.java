package io.github.djlattention.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
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
 */
class AtomicWriteSignalTest {
  @TempDir Path dir;

  @Test
  void aSignalDuringTheWriteLeavesNoTemporaryFileAndTheOldOutput() throws Exception {
    Random random = new Random(20261201);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
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
}
