package io.github.djlattention.onnx.inspect;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Exposes intermediate tensors of a model as graph outputs, on a copy of its {@code ModelProto}, so
 * that one run of ONNX Runtime returns them. The original model is not changed.
 *
 * <p>Only computed tensors are added: graph inputs, initializers and {@code Constant} values are
 * known without a run (read them from the inputs or with {@link ModelGraph#constant}), and tensors
 * that already are outputs stay as they are. An added output carries the element type the graph
 * declares for it (value info), or no type, which ONNX Runtime infers.
 */
public final class ModelTaps {

  private ModelTaps() {}

  /**
   * Which of the tensors a run must return as extra outputs.
   *
   * @param graph the model's graph
   * @param tensors tensor names
   * @return the computed ones that are not yet graph outputs, in the given order, without repeats
   */
  public static List<String> computed(ModelGraph graph, Collection<String> tensors) {
    Set<String> result = new LinkedHashSet<>();
    for (String tensor : tensors) {
      if (tensor == null || tensor.isEmpty()) {
        continue;
      }
      if (graph.isInput(tensor) || graph.constant(tensor).isPresent()) {
        continue;
      }
      if (graph.producer(tensor).isEmpty()) {
        throw new IllegalArgumentException("the model has no tensor named '" + tensor + "'");
      }
      if (!graph.outputs().contains(tensor)) {
        result.add(tensor);
      }
    }
    return new ArrayList<>(result);
  }

  /**
   * A copy of the model with extra graph outputs.
   *
   * @param graph the model's graph
   * @param tensors the tensors to expose (see {@link #computed})
   * @return the tapped model: the original outputs first, then the new ones in order
   * @throws IllegalArgumentException when a tensor is not in the model
   */
  public static ModelProto tap(ModelGraph graph, Collection<String> tensors) {
    List<String> extra = computed(graph, tensors);
    GraphProto.Builder builder = graph.model().getGraph().toBuilder();
    for (String tensor : extra) {
      ValueInfoProto declared =
          builder.getValueInfoList().stream()
              .filter(v -> v.getName().equals(tensor))
              .findFirst()
              .orElse(null);
      builder.addOutput(
          declared != null ? declared : ValueInfoProto.newBuilder().setName(tensor).build());
    }
    return graph.model().toBuilder().setGraph(builder).build();
  }
}
