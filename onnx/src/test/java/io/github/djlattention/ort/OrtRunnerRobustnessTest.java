package io.github.djlattention.ort;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.github.djlattention.onnx.OnnxConstants;
import io.github.djlattention.testing.TestTensors;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link OrtRunner} on files that are not models and on inputs the model does not take: each is an
 * {@link IllegalArgumentException} naming the problem, never a JVM crash. Empty axes and NaN go
 * through as ONNX Runtime computes them.
 *
 * <p>The model is the seed's single head exported from PyTorch, {@code
 * models/seed_self_attention/model.onnx}: x (B, S, 8) → output (B, S, 4), weights (B, S, S).
 */
class OrtRunnerRobustnessTest {

  static final Path SEED_MODEL = Paths.get("models/seed_self_attention/model.onnx");

  private static OrtRunner runner;
  private static NDManager manager;

  @BeforeAll
  static void open() {
    runner = OrtRunner.builder().optIntraOpThreads(1).build(SEED_MODEL);
    manager = TestTensors.manager();
  }

  @AfterAll
  static void close() {
    runner.close();
    manager.close();
  }

  private static String refused(Executable call, String... parts) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should name " + part);
    }
    return e.getMessage();
  }

  private static OrtRunner load(Path model) {
    return OrtRunner.builder().optIntraOpThreads(1).build(model);
  }

  @Test
  void aMissingModelFileIsNamed(@TempDir Path dir) {
    Path missing = dir.resolve("missing.onnx");
    refused(() -> load(missing), missing.toString(), "does not exist");
  }

  @Test
  void aDirectoryIsNotAModel(@TempDir Path dir) {
    refused(() -> load(dir), dir.toString(), "not a regular file");
  }

  @Test
  void filesThatAreNotOnnxAreRefused(@TempDir Path dir) throws IOException {
    byte[] model = Files.readAllBytes(SEED_MODEL);
    Random random = new Random(5);
    byte[] noise = new byte[4096];
    random.nextBytes(noise);
    byte[][] contents = {
      new byte[0],
      noise,
      Arrays.copyOf(model, model.length / 2),
      Arrays.copyOf(model, 17),
      "{\"not\": \"onnx\"}".getBytes(StandardCharsets.UTF_8),
      Files.readAllBytes(Paths.get("core/src/test/resources/io/f4_2x3.npy")),
    };
    for (int n = 0; n < contents.length; n++) {
      Path file = dir.resolve("bad" + n + ".onnx");
      Files.write(file, contents[n]);
      refused(() -> load(file), "cannot load the model", file.toString());
    }
  }

  @Test
  void aTensorProtoIsNotAModel(@TempDir Path dir) throws IOException {
    // A valid protobuf of the wrong message type parses as an empty or odd ModelProto.
    Path file = dir.resolve("tensor.onnx");
    Files.write(
        file,
        TensorProto.newBuilder()
            .setName("x")
            .setDataType(1)
            .addDims(2)
            .addFloatData(1)
            .addFloatData(2)
            .build()
            .toByteArray());
    refused(() -> load(file), "cannot load the model");
  }

  @Test
  void aGraphWithAnUnknownOperatorIsRefused() {
    ModelProto model = singleNodeModel("NoSuchAttentionOp", OnnxConstants.ATTENTION_OPSET);
    refused(() -> OrtRunner.builder().build(model.toByteArray()), "cannot load the model");
  }

  @Test
  void aGraphWithAnOpsetFromTheFutureIsRefused() {
    ModelProto model = singleNodeModel("Identity", 999);
    refused(() -> OrtRunner.builder().build(model.toByteArray()), "cannot load the model");
  }

  /** A model with one node of type {@code op} from x (float, (N)) to y. */
  static ModelProto singleNodeModel(String op, int opset) {
    TypeProto floats =
        TypeProto.newBuilder()
            .setTensorType(
                TypeProto.Tensor.newBuilder()
                    .setElemType(TensorProto.DataType.FLOAT_VALUE)
                    .setShape(
                        TensorShapeProto.newBuilder()
                            .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("N"))))
            .build();
    GraphProto graph =
        GraphProto.newBuilder()
            .setName("robustness")
            .addNode(NodeProto.newBuilder().setOpType(op).addInput("x").addOutput("y"))
            .addInput(ValueInfoProto.newBuilder().setName("x").setType(floats))
            .addOutput(ValueInfoProto.newBuilder().setName("y").setType(floats))
            .build();
    return ModelProto.newBuilder()
        .setIrVersion(OnnxConstants.ATTENTION_IR_VERSION)
        .addOpsetImport(
            OperatorSetIdProto.newBuilder()
                .setDomain(OnnxConstants.DEFAULT_DOMAIN)
                .setVersion(opset))
        .setGraph(graph)
        .build();
  }

  @ParameterizedTest
  @EnumSource(
      value = DataType.class,
      names = {"FLOAT64", "FLOAT16", "INT32", "INT64", "INT8", "UINT8", "BOOLEAN"})
  void inputsOfTheWrongElementTypeAreNamed(DataType type) {
    try (NDManager m = manager.newSubManager()) {
      refused(
          () -> runner.run(Map.of("x", m.zeros(new Shape(1, 3, 8), type)), m),
          "refused the inputs",
          "expected: (tensor(float))");
    }
  }

  @Test
  void inputsOfTheWrongShapeAreNamed() {
    try (NDManager m = manager.newSubManager()) {
      refused(() -> runner.run(Map.of("x", m.zeros(new Shape(3, 8))), m), "Invalid rank");
      refused(() -> runner.run(Map.of("x", m.zeros(new Shape(1, 3, 7))), m), "Got: 7");
    }
  }

  @Test
  void unknownMissingAndUnconvertibleInputsAreNamed() {
    try (NDManager m = manager.newSubManager()) {
      refused(() -> runner.run(Map.of("y", m.zeros(new Shape(1, 3, 8))), m), "'y'", "[x]");
      refused(() -> runner.run(Map.of(), m), "no inputs", "[x]");
      NDArray text = m.create(new String[] {"a", "b"});
      refused(() -> runner.run(Map.of("x", text), m), "'x'", "string");
      refused(
          () ->
              runner.run(
                  Map.of("x", m.zeros(new Shape(1, 3, 8))), java.util.Set.of("attention"), m),
          "'attention'");
    }
  }

  @Test
  void emptyAxesGiveEmptyOutputs() {
    try (NDManager m = manager.newSubManager()) {
      Map<String, NDArray> noTokens = runner.run(Map.of("x", m.zeros(new Shape(2, 0, 8))), m);
      assertEquals(new Shape(2, 0, 4), noTokens.get("output").getShape());
      assertEquals(new Shape(2, 0, 0), noTokens.get("weights").getShape());
      Map<String, NDArray> noBatch = runner.run(Map.of("x", m.zeros(new Shape(0, 3, 8))), m);
      assertEquals(new Shape(0, 3, 4), noBatch.get("output").getShape());
      assertEquals(new Shape(0, 3, 3), noBatch.get("weights").getShape());
    }
  }

  @Test
  void nanInOneTokenPoisonsItsSequenceOnly() {
    try (NDManager m = manager.newSubManager()) {
      float[] x = new float[2 * 5 * 8];
      Random random = new Random(3);
      for (int n = 0; n < x.length; n++) {
        x[n] = random.nextFloat() - 0.5f;
      }
      x[2 * 8 + 1] = Float.NaN;
      NDArray output = runner.run(Map.of("x", m.create(x, new Shape(2, 5, 8))), m).get("output");
      assertEquals(5 * 4L, output.get("0").isNaN().sum().getLong(), "sequence 0 is all NaN");
      assertEquals(0L, output.get("1").isNaN().sum().getLong(), "sequence 1 is finite");
    }
  }

  /**
   * Inputs are passed to ONNX Runtime without a copy where the engine allows it; views that are not
   * contiguous (transposed, sliced, broadcast) must still arrive in logical element order.
   */
  @Test
  void nonContiguousViewsGiveTheResultsOfTheirCopies() {
    try (NDManager m = manager.newSubManager()) {
      NDArray transposed = m.randomUniform(-1, 1, new Shape(2, 8, 5)).transpose(0, 2, 1);
      NDArray sliced = m.randomUniform(-1, 1, new Shape(2, 5, 16)).get(":, :, 0:8");
      NDArray broadcast = m.randomUniform(-1, 1, new Shape(1, 5, 8)).broadcast(new Shape(2, 5, 8));
      for (NDArray view : new NDArray[] {transposed, sliced, broadcast}) {
        NDArray copy = m.create(view.toFloatArray(), new Shape(2, 5, 8));
        assertArrayEquals(
            runner.run(Map.of("x", copy), m).get("output").toFloatArray(),
            runner.run(Map.of("x", view), m).get("output").toFloatArray());
      }
    }
  }

  /**
   * The contiguous copy a strided input needs lives only for the run: repeated runs on views from a
   * long-lived manager must not pile copies up in it (one per run before the fix).
   */
  @Test
  void stridedInputsLeaveNoCopiesInTheirManager() {
    try (NDManager m = manager.newSubManager()) {
      NDArray transposed = m.randomUniform(-1, 1, new Shape(2, 8, 5)).transpose(0, 2, 1);
      NDArray sliced = m.randomUniform(-1, 1, new Shape(2, 5, 16)).get(":, :, 0:8");
      NDArray broadcast = m.randomUniform(-1, 1, new Shape(1, 5, 8)).broadcast(new Shape(2, 5, 8));
      for (NDArray view : new NDArray[] {transposed, sliced, broadcast}) {
        float[] expected;
        try (NDManager out = manager.newSubManager()) {
          expected = runner.run(Map.of("x", view), out).get("output").toFloatArray();
        }
        int before = m.getManagedArrays().size();
        for (int i = 0; i < 10; i++) {
          try (NDManager out = manager.newSubManager()) {
            assertArrayEquals(
                expected, runner.run(Map.of("x", view), out).get("output").toFloatArray());
          }
        }
        assertEquals(before, m.getManagedArrays().size(), "arrays left in the inputs' manager");
      }
    }
  }

  @Test
  void aClosedRunnerSaysSo() {
    OrtRunner closed = load(SEED_MODEL);
    closed.close();
    closed.close(); // idempotent
    try (NDManager m = manager.newSubManager()) {
      IllegalStateException e =
          assertThrows(
              IllegalStateException.class,
              () -> closed.run(Map.of("x", m.zeros(new Shape(1, 3, 8))), m));
      assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
  }
}
