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
 * Checks a model before ONNX Runtime sees it.
 *
 * <ul>
 *   <li>External data stays in the model's directory: ONNX Runtime reads a tensor stored outside
 *       the {@code .onnx} file from the {@code location} its {@code external_data} names, relative
 *       to the model's directory. A location that is absolute, has a {@code ..} component, or
 *       resolves (through symbolic links) outside that directory is refused, so a model cannot make
 *       a command read a file the user did not name.
 *   <li>At most {@link #MAX_SUBGRAPHS} subgraphs ({@code If} branches, {@code Loop} and {@code
 *       Scan} bodies) in all, nested at most {@link #MAX_DEPTH} deep: ONNX Runtime 1.26's load time
 *       grows exponentially with the nesting (a chain of 10 nested {@code If}s loads in about a
 *       second, 30 take over ten minutes), and a load cannot be interrupted. The attention models
 *       have none.
 * </ul>
 */
final class ModelGuards {

  /** The most subgraphs a model may have, at any depth. */
  static final int MAX_SUBGRAPHS = 256;

  /** The deepest subgraph nesting allowed. */
  static final int MAX_DEPTH = 6;

  private ModelGuards() {}

  /**
   * Checks a serialized model's subgraph count (it has no directory, so no external data).
   *
   * @param model the bytes
   * @throws IllegalArgumentException if it has too many subgraphs
   */
  static void check(byte[] model) {
    ModelProto proto;
    try {
      CodedInputStream coded = CodedInputStream.newInstance(model);
      coded.setSizeLimit(Integer.MAX_VALUE);
      proto = ModelProto.parseFrom(coded);
    } catch (IOException e) {
      return; // not a model: ONNX Runtime says so with its own message
    }
    check("the model", null, proto.getGraph(), new int[1], 0);
  }

  /**
   * Checks every external tensor of the model (initializers, {@code Constant} values, sparse
   * initializers and those of every subgraph), and the number of subgraphs.
   *
   * @param model the {@code .onnx} file
   * @throws IllegalArgumentException naming the tensor and its location if one escapes, or if the
   *     model has too many subgraphs
   * @throws UncheckedIOException if the model cannot be read
   */
  static void check(Path model) {
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
    check(model.toString(), directory, proto.getGraph(), new int[1], 0);
  }

  /** Walks a graph; {@code directory} null skips the external data check. */
  private static void check(
      String model, Path directory, GraphProto graph, int[] subgraphs, int depth) {
    if (directory == null) {
      for (NodeProto node : graph.getNodeList()) {
        for (AttributeProto attribute : node.getAttributeList()) {
          if (attribute.hasG()) {
            countSubgraph(model, subgraphs, depth + 1);
            check(model, null, attribute.getG(), subgraphs, depth + 1);
          }
          for (GraphProto subgraph : attribute.getGraphsList()) {
            countSubgraph(model, subgraphs, depth + 1);
            check(model, null, subgraph, subgraphs, depth + 1);
          }
        }
      }
      return;
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
          countSubgraph(model, subgraphs, depth + 1);
          check(model, directory, attribute.getG(), subgraphs, depth + 1);
        }
        for (GraphProto subgraph : attribute.getGraphsList()) {
          countSubgraph(model, subgraphs, depth + 1);
          check(model, directory, subgraph, subgraphs, depth + 1);
        }
      }
    }
  }

  private static void countSubgraph(String model, int[] subgraphs, int depth) {
    if (depth > MAX_DEPTH) {
      throw new IllegalArgumentException(
          model
              + " nests subgraphs (If, Loop, Scan bodies) deeper than "
              + MAX_DEPTH
              + " levels; refused, since ONNX Runtime's load time grows exponentially with the"
              + " nesting and cannot be interrupted");
    }
    if (++subgraphs[0] > MAX_SUBGRAPHS) {
      throw new IllegalArgumentException(
          model
              + " has more than "
              + MAX_SUBGRAPHS
              + " subgraphs (If, Loop, Scan bodies); refused, since ONNX Runtime can take minutes"
              + " to load such a model and cannot be interrupted");
    }
  }

  private static void check(String model, Path directory, TensorProto tensor) {
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
  static void requireInside(String model, Path directory, String tensor, String location) {
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
