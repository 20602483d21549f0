package io.github.djlattention.cli;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.io.Npy;
import io.github.djlattention.io.Npz;
import io.github.djlattention.testing.TestTensors;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code compute} on a Fortran-order query, as {@code np.save} writes a transposed array (issue
 * 10): the same outputs as the C-order file of the same query, while the garbage collector runs.
 */
class ComputeFortranOrderTest {
  private static final int S = 16;
  private static final int T = 4096;
  private static final int D = 1024;

  @TempDir Path dir;

  private NDManager manager;

  @BeforeEach
  void setUp() {
    manager = TestTensors.manager();
  }

  @AfterEach
  void tearDown() {
    manager.close();
  }

  @Test
  void fortranOrderQueryGivesTheSameOutputsAsTheCOrderQuery() throws Exception {
    Random random = new Random(10);
    float[] q = gaussian(random, S * D);
    Path cQuery = dir.resolve("q_c.npy");
    Npy.write(cQuery, manager.create(q, new Shape(S, D))); // (S, D)
    Path fQuery = dir.resolve("q_f.npy");
    Files.write(fQuery, fortranNpy(q, S, D)); // (S, D), column-major
    Path key = dir.resolve("k.npy");
    Npy.write(key, manager.create(gaussian(random, T * D), new Shape(T, D))); // (T, D)
    Path value = dir.resolve("v.npy");
    Npy.write(value, manager.create(gaussian(random, T * D), new Shape(T, D))); // (T, D)

    Path cOut = dir.resolve("c.npz");
    Path fOut = dir.resolve("f.npz");
    // The collector may run at any time between reading q and using it; make it run often.
    AtomicBoolean done = new AtomicBoolean();
    Thread collector =
        new Thread(
            () -> {
              while (!done.get()) {
                System.gc();
                try {
                  Thread.sleep(10);
                } catch (InterruptedException e) {
                  return;
                }
              }
            },
            "gc-pressure");
    collector.setDaemon(true);
    collector.start();
    try {
      compute(cQuery, key, value, cOut);
      compute(fQuery, key, value, fOut);
    } finally {
      done.set(true);
      collector.join();
    }

    Map<String, NDArray> expected = Npz.read(manager, cOut);
    Map<String, NDArray> actual = Npz.read(manager, fOut);
    assertEquals(new Shape(S, D), actual.get("output").getShape());
    assertEquals(new Shape(S, T), actual.get("weights").getShape());
    assertClose(
        "output", doubles(expected.get("output")), doubles(actual.get("output")), 1e-6, 1e-6);
    assertClose(
        "weights", doubles(expected.get("weights")), doubles(actual.get("weights")), 1e-9, 1e-6);
  }

  private static void compute(Path q, Path k, Path v, Path out) {
    CliRun run =
        CliRun.of(
            "compute",
            "--q",
            q.toString(),
            "--k",
            k.toString(),
            "--v",
            v.toString(),
            "--out",
            out.toString());
    assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
  }

  private static float[] gaussian(Random random, int count) {
    float[] values = new float[count];
    for (int i = 0; i < count; i++) {
      values[i] = (float) random.nextGaussian();
    }
    return values;
  }

  /** A float32 {@code .npy} file of a (rows, columns) array stored column-major. */
  private static byte[] fortranNpy(float[] cOrder, int rows, int columns) throws IOException {
    ByteBuffer data = ByteBuffer.allocate(cOrder.length * Float.BYTES);
    data.order(ByteOrder.LITTLE_ENDIAN);
    for (int j = 0; j < columns; j++) {
      for (int i = 0; i < rows; i++) {
        data.putFloat(cOrder[i * columns + j]);
      }
    }
    String dict =
        "{'descr': '<f4', 'fortran_order': True, 'shape': (" + rows + ", " + columns + "), }";
    StringBuilder header = new StringBuilder(dict);
    while ((10 + header.length() + 1) % 64 != 0) {
      header.append(' ');
    }
    header.append('\n');
    byte[] text = header.toString().getBytes(StandardCharsets.ISO_8859_1);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
    out.write(text.length & 0xff);
    out.write(text.length >> 8);
    out.write(text);
    out.write(data.array());
    return out.toByteArray();
  }
}
