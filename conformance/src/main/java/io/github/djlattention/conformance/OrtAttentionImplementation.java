package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.github.djlattention.ort.OrtDevice;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Runs a case's own {@code model.onnx} on ONNX Runtime.
 *
 * <p>For the heatmaps it also runs a variant of the model whose node returns the softmax
 * probabilities ({@code qk_matmul_output_mode = 3}) as an extra output; if ONNX Runtime rejects
 * that variant, the case simply has no ONNX Runtime heatmap.
 */
public final class OrtAttentionImplementation implements Implementation<OnnxAttentionCase> {

  /** This implementation's name in reports. */
  public static final String NAME = "onnxruntime";

  private static final String WEIGHTS_OUTPUT = "attention_weights__probe";

  private final OrtSettings ort;

  /**
   * Creates the implementation.
   *
   * @param device where ONNX Runtime runs
   * @param threads intra-op threads per session
   */
  public OrtAttentionImplementation(OrtDevice device, int threads) {
    this.ort = new OrtSettings(device, threads);
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public CaseOutputs run(OnnxAttentionCase testCase, NDManager manager) {
    Map<String, NDArray> inputs = testCase.inputArrays(manager);
    Set<String> requested = new LinkedHashSet<>(testCase.expectedOutputs().keySet());
    Map<String, NDArray> outputs =
        ort.runOnce(testCase.model().toByteArray(), inputs, requested, manager);
    return new CaseOutputs(outputs, weights(testCase, inputs, manager));
  }

  private Optional<NDArray> weights(
      OnnxAttentionCase testCase, Map<String, NDArray> inputs, NDManager manager) {
    try {
      byte[] model = withWeightsOutput(testCase.model()).toByteArray();
      return Optional.of(
          ort.runOnce(model, inputs, Set.of(WEIGHTS_OUTPUT), manager).get(WEIGHTS_OUTPUT));
    } catch (IllegalArgumentException | IllegalStateException e) {
      return Optional.empty();
    }
  }

  /** The same model with {@code qk_matmul_output_mode = 3} and the 4th output exposed. */
  static ModelProto withWeightsOutput(ModelProto model) {
    GraphProto graph = model.getGraph();
    NodeProto.Builder node = graph.getNode(0).toBuilder();
    node.clearAttribute();
    for (AttributeProto attribute : graph.getNode(0).getAttributeList()) {
      if (!attribute.getName().equals("qk_matmul_output_mode")) {
        node.addAttribute(attribute);
      }
    }
    node.addAttribute(
        AttributeProto.newBuilder()
            .setName("qk_matmul_output_mode")
            .setType(AttributeProto.AttributeType.INT)
            .setI(3));
    while (node.getOutputCount() < 4) {
      node.addOutput("");
    }
    String replaced = node.getOutput(3);
    node.setOutput(3, WEIGHTS_OUTPUT);
    int elementType = graph.getInput(0).getType().getTensorType().getElemType();
    GraphProto.Builder newGraph = graph.toBuilder().clearNode().addNode(node).clearOutput();
    for (ValueInfoProto output : graph.getOutputList()) {
      if (!output.getName().equals(replaced)) {
        newGraph.addOutput(output);
      }
    }
    return model.toBuilder()
        .setGraph(
            newGraph.addOutput(
                ValueInfoProto.newBuilder()
                    .setName(WEIGHTS_OUTPUT)
                    .setType(
                        TypeProto.newBuilder()
                            .setTensorType(
                                TypeProto.Tensor.newBuilder().setElemType(elementType)))))
        .build();
  }
}
