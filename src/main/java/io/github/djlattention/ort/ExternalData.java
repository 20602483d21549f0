package io.github.djlattention.ort;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.CodedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Confines a model's external data to the model's directory: ONNX Runtime reads a tensor stored
 * outside the {@code .onnx} file from the {@code location} its {@code external_data} names,
 * relative to the model's directory. A location that is absolute, has a {@code ..} component, or
 * resolves (through symbolic links) outside that directory is refused before ONNX Runtime sees the
 * model, so a model cannot make a command read a file the user did not name.
 */
final class ExternalData {

  private ExternalData() {}

  /**
   * Checks every external tensor of the model (initializers, {@code Constant} values, sparse
   * initializers and those of every subgraph).
   *
   * @param model the {@code .onnx} file
   * @throws IllegalArgumentException naming the tensor and its location if one escapes
   * @throws UncheckedIOException if the model cannot be read
   */
  static void requireBeside(Path model) {
    ModelProto proto;
    try (InputStream in = Files.newInputStream(model)) {
      CodedInputStream coded = CodedInputStream.newInstance(in);
      coded.setSizeLimit(Integer.MAX_VALUE);
      proto = ModelProto.parseFrom(coded);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      return; // not a model: ONNX Runtime says so with its own message
    } catch (IOException e) {
      throw new UncheckedIOException(model + ": cannot read: " + e.getMessage(), e);
    }
    Path directory = model.toAbsolutePath().getParent();
    check(model, directory, proto.getGraph(), 0);
  }

  private static void check(Path model, Path directory, GraphProto graph, int depth) {
    if (depth > 64) {
      throw new IllegalArgumentException(model + ": subgraphs nested deeper than 64 levels");
    }
    for (TensorProto tensor : graph.getInitializerList()) {
      check(model, directory, tensor);
    }
    graph
        .getSparseInitializerList()
        .forEach(
            sparse -> {
              check(model, directory, sparse.getValues());
              check(model, directory, sparse.getIndices());
            });
    for (NodeProto node : graph.getNodeList()) {
      for (AttributeProto attribute : node.getAttributeList()) {
        if (attribute.hasT()) {
          check(model, directory, attribute.getT());
        }
        attribute.getTensorsList().forEach(t -> check(model, directory, t));
        if (attribute.hasG()) {
          check(model, directory, attribute.getG(), depth + 1);
        }
        for (GraphProto subgraph : attribute.getGraphsList()) {
          check(model, directory, subgraph, depth + 1);
        }
      }
    }
  }

  private static void check(Path model, Path directory, TensorProto tensor) {
    if (tensor.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
      return;
    }
    for (StringStringEntryProto entry : tensor.getExternalDataList()) {
      if (entry.getKey().equals("location")) {
        requireInside(model, directory, tensor.getName(), entry.getValue());
      }
    }
  }

  private static boolean hasParentStep(Path path) {
    for (Path part : path) {
      if (part.toString().equals("..")) {
        return true;
      }
    }
    return false;
  }

  /**
   * Refuses a location that is absolute, climbs with {@code ..} or leaves the directory through a
   * symbolic link.
   */
  static void requireInside(Path model, Path directory, String tensor, String location) {
    String why = null;
    Path relative = null;
    try {
      relative = Path.of(location);
    } catch (java.nio.file.InvalidPathException e) {
      why = "is not a valid path";
    }
    if (why == null) {
      if (location.isEmpty()) {
        why = "is empty";
      } else if (relative.isAbsolute() || location.startsWith("/") || location.startsWith("\\")) {
        why = "is absolute";
      } else if (hasParentStep(relative)) {
        why = "contains '..'";
      } else {
        Path resolved = directory.resolve(relative);
        try {
          if (Files.exists(resolved) && !resolved.toRealPath().startsWith(directory.toRealPath())) {
            why = "leaves the model's directory through a symbolic link";
          }
        } catch (IOException e) {
          why = null; // unreadable: ONNX Runtime reports it
        }
      }
    }
    if (why != null) {
      throw new IllegalArgumentException(
          model
              + ": tensor '"
              + tensor
              + "' has its data in '"
              + location
              + "', which "
              + why
              + "; external data must lie in the model's directory "
              + directory);
    }
  }
}
