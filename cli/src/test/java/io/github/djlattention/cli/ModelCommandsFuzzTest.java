package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Seeded malformed input for {@code inspect} and {@code verify-model}: truncated, bit-flipped and
 * random model files for {@code inspect} (which never starts ONNX Runtime), and for {@code
 * verify-model} random tokenizer files and input archives with wrong names, types or empty axes
 * (refused before ONNX Runtime runs the model). Bad input exits 2 with one stderr line and writes
 * no report; a mutated model that still parses is listed (exit 0). Nothing exits 3.
 */
class ModelCommandsFuzzTest {

  private static final List<Path> MODELS =
      List.of(
          Path.of("models/seed_self_attention/model.onnx"),
          Path.of("models/mha_causal/model.onnx"),
          Path.of("models/mha_cross/model.onnx"));

  static Stream<Long> seeds() {
    return LongStream.range(0, 60).boxed();
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void inspectOfAMutatedModelIsListedOrRefusedInOneLine(long seed, @TempDir Path dir)
      throws Exception {
    Random random = new Random(seed);
    byte[] bytes = Files.readAllBytes(MODELS.get(random.nextInt(MODELS.size())));
    byte[] mutated;
    switch (random.nextInt(3)) {
      case 0:
        mutated = Arrays.copyOf(bytes, random.nextInt(bytes.length));
        break;
      case 1:
        mutated = bytes.clone();
        for (int flips = 1 + random.nextInt(8); flips > 0; flips--) {
          int bit = random.nextInt(mutated.length * 8);
          mutated[bit / 8] ^= (byte) (1 << (bit % 8));
        }
        break;
      default:
        mutated = new byte[random.nextInt(4096)];
        random.nextBytes(mutated);
    }
    Path model = dir.resolve("model.onnx");
    Files.write(model, mutated);
    Path json = dir.resolve("sites.json");
    CliRun run = CliRun.of("inspect", model.toString(), "--json", json.toString());
    assertTrue(run.exitCode() == 0 || run.exitCode() == 2, run.toString());
    if (run.exitCode() == 2) {
      assertEquals(1, run.errLines().size(), run.toString());
      assertTrue(run.err().startsWith("djl-attention inspect: "), run.toString());
      assertFalse(Files.exists(json), "no report on bad input");
    } else {
      assertTrue(Files.isRegularFile(json), run.toString());
    }
  }

  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void verifyModelRefusesBadInputsBeforeRunningTheModel(long seed, @TempDir Path dir)
      throws Exception {
    Random random = new Random(seed);
    Path model = InspectCommandTest.QUANTIZED;
    Path json = dir.resolve("report.json");
    List<String> args;
    String expected;
    switch (random.nextInt(4)) {
      case 0:
        byte[] garbage = new byte[random.nextInt(2048)];
        random.nextBytes(garbage);
        Path tokenizer = Files.write(dir.resolve("tokenizer.json"), garbage);
        args = List.of("--text", "hello", "--tokenizer", tokenizer.toString());
        expected = "tokenizer";
        break;
      case 1:
        Path npz = Files.write(dir.resolve("inputs.npz"), randomArchive(random));
        args = List.of("--inputs", npz.toString());
        expected = "";
        break;
      case 2:
        args = List.of("--inputs", names(dir, random).toString());
        expected = "the inputs do not fit the model";
        break;
      default:
        args = List.of("--inputs", emptyAxis(dir, random).toString());
        expected = "empty axis";
    }
    List<String> all = new java.util.ArrayList<>(List.of("verify-model", model.toString()));
    all.addAll(args);
    all.addAll(List.of("--json", json.toString(), "--quiet"));
    CliRun run = CliRun.of(all.toArray(new String[0]));
    assertEquals(2, run.exitCode(), run.toString());
    assertEquals(1, run.errLines().size(), run.toString());
    assertTrue(run.err().startsWith("djl-attention verify-model: "), run.toString());
    assertTrue(run.err().contains(expected), run.toString());
    assertFalse(Files.exists(json), "no report on bad input");
  }

  private static byte[] randomArchive(Random random) {
    byte[] bytes = new byte[random.nextInt(600)];
    random.nextBytes(bytes);
    if (bytes.length > 4 && random.nextBoolean()) {
      bytes[0] = 'P';
      bytes[1] = 'K';
      bytes[2] = 3;
      bytes[3] = 4;
    }
    return bytes;
  }

  /** A valid archive whose names or count do not match the model's inputs. */
  private static Path names(Path dir, Random random) throws Exception {
    Path file = dir.resolve("names.npz");
    try (ai.djl.ndarray.NDManager manager = ai.djl.ndarray.NDManager.newBaseManager("PyTorch")) {
      java.util.Map<String, ai.djl.ndarray.NDArray> arrays = new java.util.LinkedHashMap<>();
      arrays.put(
          random.nextBoolean() ? "input_ids" : "ids", manager.create(new long[][] {{101, 102}}));
      if (random.nextBoolean()) {
        arrays.put("pixel_values", manager.ones(new ai.djl.ndarray.types.Shape(1, 3)));
      }
      io.github.djlattention.io.Npz.write(file, arrays);
    }
    return file;
  }

  /** The model's three inputs, one of them with an empty axis. */
  private static Path emptyAxis(Path dir, Random random) throws Exception {
    Path file = dir.resolve("empty.npz");
    long length = random.nextBoolean() ? 0 : 3;
    long batch = length == 0 ? 1 + random.nextInt(2) : 0;
    try (ai.djl.ndarray.NDManager manager = ai.djl.ndarray.NDManager.newBaseManager("PyTorch")) {
      java.util.Map<String, ai.djl.ndarray.NDArray> arrays = new java.util.LinkedHashMap<>();
      for (String name : List.of("input_ids", "attention_mask", "token_type_ids")) {
        arrays.put(
            name,
            manager.zeros(
                new ai.djl.ndarray.types.Shape(batch, length),
                ai.djl.ndarray.types.DataType.INT64));
      }
      io.github.djlattention.io.Npz.write(file, arrays);
    }
    return file;
  }
}
