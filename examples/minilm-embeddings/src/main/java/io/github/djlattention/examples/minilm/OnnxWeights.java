package io.github.djlattention.examples.minilm;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.CodedInputStream;
import io.github.djlattention.onnx.OnnxTensors;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The parameters of a Hugging Face model exported by {@code torch.onnx}, under their PyTorch names,
 * read from the ONNX file's initializers.
 *
 * <p>The exporter keeps the names of biases and norms ({@code
 * encoder.layer.0.attention.self.query.bias}) but gives a {@code Linear}'s weight, which it stores
 * transposed as the second input of a {@code MatMul}, an anonymous name ({@code onnx::MatMul_787}).
 * The {@code MatMul}'s output names the module ({@code
 * /encoder/layer.0/attention/self/query/MatMul_output_0}), so such a weight is returned as {@code
 * encoder.layer.0.attention.self.query.weight}, transposed back to PyTorch's (out, in).
 */
final class OnnxWeights {

  private OnnxWeights() {}

  /**
   * Reads the named parameters.
   *
   * @param model the ONNX file
   * @param manager where the arrays go
   * @return PyTorch name to array, in the graph's order
   * @throws IOException when the file cannot be read
   */
  static Map<String, NDArray> read(Path model, NDManager manager) throws IOException {
    GraphProto graph;
    try (InputStream in = Files.newInputStream(model)) {
      CodedInputStream coded = CodedInputStream.newInstance(in);
      coded.setSizeLimit(Integer.MAX_VALUE);
      graph = ModelProto.parseFrom(coded).getGraph();
    }
    Map<String, TensorProto> initializers = new LinkedHashMap<>();
    for (TensorProto tensor : graph.getInitializerList()) {
      initializers.put(tensor.getName(), tensor);
    }
    Map<String, NDArray> weights = new LinkedHashMap<>();
    for (NodeProto node : graph.getNodeList()) {
      if (!"MatMul".equals(node.getOpType()) || node.getInputCount() != 2) {
        continue;
      }
      TensorProto weight = initializers.remove(node.getInput(1));
      if (weight == null) {
        continue; // a MatMul of two activations (the attention scores)
      }
      String module = moduleOf(node.getOutput(0));
      weights.put(module + ".weight", OnnxTensors.toNDArray(weight, manager).transpose());
    }
    for (TensorProto tensor : initializers.values()) {
      if (!tensor.getName().startsWith("onnx::")) {
        weights.put(tensor.getName(), OnnxTensors.toNDArray(tensor, manager));
      }
    }
    return weights;
  }

  /**
   * "/encoder/layer.0/attention/self/query/MatMul_output_0" →
   * "encoder.layer.0.attention.self.query".
   */
  private static String moduleOf(String output) {
    String path = output.startsWith("/") ? output.substring(1) : output;
    int last = path.lastIndexOf('/');
    if (last < 0) {
      throw new IllegalArgumentException(
          "a MatMul with a weight has an output without a module path: " + output);
    }
    return path.substring(0, last).replace('/', '.');
  }
}
