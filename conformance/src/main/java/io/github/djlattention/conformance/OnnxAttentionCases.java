package io.github.djlattention.conformance;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import io.github.djlattention.io.InputLimits;
import io.github.djlattention.onnx.OnnxTensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Loads ONNX backend node tests of the {@code Attention} operator from a directory laid out as
 * {@code test_x/model.onnx} and {@code test_x/test_data_set_0/{input,output}_N.pb}.
 */
public final class OnnxAttentionCases {

  /** Where the project keeps the operator's cases, relative to the repository root. */
  public static final Path DEFAULT_DIRECTORY = Path.of("conformance", "onnx-attention");

  private OnnxAttentionCases() {}

  /**
   * Loads every case under a directory, sorted by name.
   *
   * @param directory the directory holding one sub-directory per case
   * @return the cases
   * @throws IllegalArgumentException if the directory is missing or a case is malformed
   * @throws UncheckedIOException if a file cannot be read
   */
  public static List<OnnxAttentionCase> load(Path directory) {
    if (!Files.isDirectory(directory)) {
      throw new IllegalArgumentException(
          "no ONNX Attention cases at " + directory.toAbsolutePath());
    }
    List<OnnxAttentionCase> cases = new ArrayList<>();
    try (Stream<Path> entries = Files.list(directory)) {
      for (Path dir : entries.sorted().toList()) {
        if (Files.isRegularFile(dir.resolve("model.onnx"))) {
          cases.add(loadCase(dir));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + directory, e);
    }
    if (cases.isEmpty()) {
      throw new IllegalArgumentException("no case directories under " + directory);
    }
    return cases;
  }

  /**
   * Loads one case directory.
   *
   * @param dir a directory holding {@code model.onnx} and {@code test_data_set_0}
   * @return the case
   * @throws IllegalArgumentException if the case is malformed
   * @throws UncheckedIOException if a file cannot be read
   */
  public static OnnxAttentionCase loadCase(Path dir) {
    String name = dir.getFileName().toString();
    ModelProto model;
    try {
      model =
          ModelProto.parseFrom(
              InputLimits.readFile(dir.resolve("model.onnx"), InputLimits.Limit.MODEL_BYTES));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + dir.resolve("model.onnx"), e);
    }
    if (model.getGraph().getNodeCount() != 1
        || !model.getGraph().getNode(0).getOpType().equals("Attention")) {
      throw new IllegalArgumentException(name + ": expected one Attention node");
    }
    NodeProto node = model.getGraph().getNode(0);
    long opset =
        model.getOpsetImportList().stream()
            .filter(o -> o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx"))
            .mapToLong(OperatorSetIdProto::getVersion)
            .findFirst()
            .orElseThrow(() -> new IllegalArgumentException(name + ": no default opset"));
    Path data = dir.resolve("test_data_set_0");
    Map<String, TensorProto> inputs =
        readTensors(
            name, data, "input", node.getInputList().stream().filter(s -> !s.isEmpty()).toList());
    Map<String, TensorProto> outputs =
        readTensors(
            name, data, "output", node.getOutputList().stream().filter(s -> !s.isEmpty()).toList());
    return new OnnxAttentionCase(
        name,
        opset,
        AttentionAttributes.of(node),
        node.getInputList(),
        node.getOutputList(),
        model,
        inputs,
        outputs);
  }

  private static Map<String, TensorProto> readTensors(
      String name, Path data, String prefix, List<String> names) {
    Map<String, TensorProto> tensors = new LinkedHashMap<>();
    for (int i = 0; i < names.size(); i++) {
      Path file = data.resolve(prefix + "_" + i + ".pb");
      if (!Files.isRegularFile(file)) {
        throw new IllegalArgumentException(name + ": missing " + file.getFileName());
      }
      TensorProto tensor = OnnxTensors.read(file);
      if (!tensor.getName().isEmpty() && !tensor.getName().equals(names.get(i))) {
        throw new IllegalArgumentException(
            name
                + ": "
                + file.getFileName()
                + " holds '"
                + tensor.getName()
                + "', expected '"
                + names.get(i)
                + "'");
      }
      tensors.put(names.get(i), tensor);
    }
    return tensors;
  }
}
