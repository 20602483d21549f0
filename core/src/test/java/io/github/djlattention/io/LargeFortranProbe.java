package io.github.djlattention.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.github.djlattention.testing.NativeLifetime;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads large Fortran-order arrays from {@code .npy} and {@code .npz}, lets the garbage collector
 * free and the JVM reuse every unreachable buffer, closes the C-order reads of the same data, and
 * checks the Fortran-order arrays byte for byte; run in its own JVM by {@link NpyLifetimeTest}
 * because reading freed memory of this size can crash the process.
 *
 * <p>Usage: {@code LargeFortranProbe DIR} (a scratch directory for the files). Prints one line per
 * check and {@code all arrays intact} at the end; exits 1 on a mismatch.
 */
public final class LargeFortranProbe {
  private LargeFortranProbe() {}

  /** One array as the files hold it. */
  private record Sample(String name, ElementType dtype, ByteOrder byteOrder, long[] dims) {}

  /**
   * Runs the probe.
   *
   * @param args the scratch directory
   * @throws IOException if the files cannot be written
   */
  public static void main(String[] args) throws IOException {
    Path dir = Path.of(args[0]);
    List<Sample> samples =
        List.of(
            new Sample(
                "q2d", ElementType.FLOAT32, ByteOrder.LITTLE_ENDIAN, new long[] {2048, 2048}),
            new Sample(
                "w3d", ElementType.FLOAT64, ByteOrder.BIG_ENDIAN, new long[] {32, 128, 256}));
    int failures = 0;
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      List<String> names = new ArrayList<>();
      List<NDArray> fortran = new ArrayList<>();
      List<byte[]> expected = new ArrayList<>();
      long[] sizes = new long[samples.size()];
      for (int s = 0; s < samples.size(); s++) {
        Sample sample = samples.get(s);
        int count = Math.toIntExact(new Shape(sample.dims()).size());
        byte[] elements = LayoutFiles.sample(sample.dtype(), count, 1000 + s);
        byte[] wanted = LayoutFiles.nativeOrder(elements, sample.dtype().itemSize());
        sizes[s] = wanted.length;
        byte[] f =
            LayoutFiles.npy(sample.dtype(), sample.byteOrder(), true, sample.dims(), elements);
        byte[] c =
            LayoutFiles.npy(sample.dtype(), sample.byteOrder(), false, sample.dims(), elements);
        Path fFile = dir.resolve(sample.name() + "_f.npy");
        Path cFile = dir.resolve(sample.name() + "_c.npy");
        Path npzFile = dir.resolve(sample.name() + ".npz");
        Files.write(fFile, f);
        Files.write(cFile, c);
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("f", f);
        entries.put("c", c);
        Files.write(npzFile, LayoutFiles.npz(entries));

        Map<String, NDArray> archive = Npz.read(manager, npzFile);
        List<NDArray> cOrder = List.of(Npy.read(manager, cFile), archive.get("c"));
        for (NDArray array : cOrder) {
          failures += check(sample.name() + " C order", array, wanted);
          array.close(); // other arrays closed before the Fortran-order ones are used
        }
        names.add(fFile.toString());
        fortran.add(Npy.read(manager, fFile));
        names.add(npzFile + " entry f");
        fortran.add(archive.get("f"));
        for (int i = 0; i < 2; i++) {
          expected.add(wanted);
        }
        try (NDManager other = manager.newSubManager()) {
          Npy.read(other, fFile);
          Npz.read(other, npzFile);
        }
      }
      NativeLifetime.collectAndReuse(sizes);
      for (int i = 0; i < fortran.size(); i++) {
        failures += check(names.get(i), fortran.get(i), expected.get(i));
        if (!NativeLifetime.isCContiguous(fortran.get(i))) {
          System.out.println(names.get(i) + ": not C-contiguous");
          failures++;
        }
      }
      List<NDArray> views = new ArrayList<>();
      for (NDArray array : fortran) {
        views.add(array.reshape(-1));
        array.close();
      }
      NativeLifetime.collectAndReuse(sizes);
      for (int i = 0; i < views.size(); i++) {
        failures += check(names.get(i) + " (a view)", views.get(i), expected.get(i));
      }
    }
    if (failures > 0) {
      System.out.println(failures + " checks failed");
      System.exit(1);
    }
    System.out.println("all arrays intact");
  }

  private static int check(String name, NDArray array, byte[] expected) {
    byte[] actual = array.toByteArray();
    int first = Arrays.mismatch(expected, actual);
    if (first < 0) {
      System.out.println(name + ": ok");
      return 0;
    }
    int differing = 0;
    for (int i = 0; i < Math.min(expected.length, actual.length); i++) {
      differing += expected[i] != actual[i] ? 1 : 0;
    }
    System.out.println(
        name
            + ": "
            + differing
            + " of "
            + expected.length
            + " bytes differ, the first at byte "
            + first);
    return 1;
  }
}
