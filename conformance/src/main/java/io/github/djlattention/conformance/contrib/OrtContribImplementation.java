package io.github.djlattention.conformance.contrib;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OrtLoggingLevel;
import io.github.djlattention.conformance.CaseOutputs;
import io.github.djlattention.conformance.Implementation;
import io.github.djlattention.onnx.OnnxConstants;
import io.github.djlattention.onnx.OnnxGraphBuilder;
import io.github.djlattention.ort.OrtDevice;
import io.github.djlattention.ort.OrtRunner;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Runs a {@link ContribCase} on ONNX Runtime as a model of one {@code com.microsoft} node: the
 * case's inputs are the graph's inputs, under their ONNX names, and the node's compared outputs its
 * outputs. Nothing works around the operator, so this shows ONNX Runtime's own reading of it.
 */
public final class OrtContribImplementation implements Implementation<ContribCase> {

  /** This implementation's name in reports. */
  public static final String NAME = "onnxruntime";

  /** The {@code com.microsoft} opset the models import. */
  public static final int CONTRIB_OPSET = 1;

  private final OrtDevice device;
  private final int threads;

  /**
   * Creates the implementation.
   *
   * @param device where ONNX Runtime runs
   * @param threads intra-op threads per session
   */
  public OrtContribImplementation(OrtDevice device, int threads) {
    this.device = device;
    this.threads = threads;
  }

  @Override
  public String name() {
    return NAME;
  }

  /**
   * Declines the cases that take the process down: ONNX Runtime 1.26 (CPU) dies with SIGSEGV on a
   * {@code com.microsoft.Attention} node without {@code bias} (see {@code OrtContribCrashTest},
   * which checks it in a child process).
   */
  @Override
  public Optional<String> notApplicable(ContribCase testCase) {
    if (crashes(testCase)) {
      return Optional.of(CRASH_REASON);
    }
    return Optional.empty();
  }

  /** The reason given for the cases {@link #crashes} names. */
  public static final String CRASH_REASON =
      "ONNX Runtime 1.26 (CPU) crashes the process (SIGSEGV) on Attention without bias: not run"
          + " in-process";

  /**
   * Whether the case is one that crashes ONNX Runtime's process.
   *
   * @param testCase the case
   * @return true for a {@code com.microsoft.Attention} node without bias
   */
  public static boolean crashes(ContribCase testCase) {
    return testCase.node() instanceof ContribNode.Packed && !testCase.inputs().containsKey("bias");
  }

  @Override
  public CaseOutputs run(ContribCase testCase, NDManager manager) {
    try (NDManager work = manager.newSubManager()) {
      Map<String, NDArray> inputs = testCase.arrays(work);
      List<String> outputs = testCase.node().outputNames(testCase.inputs());
      Map<String, NDArray> produced;
      try (OrtRunner runner =
          OrtRunner.builder()
              .optDevice(device)
              .optIntraOpThreads(threads)
              .optInterOpThreads(1)
              .optLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL)
              .build(model(testCase).toByteArray())) {
        produced = runner.run(inputs, new LinkedHashSet<>(outputs), work);
      }
      return CaseOutputs.of(testCase.comparable(produced, manager));
    }
  }

  /**
   * The case as a one-node model: graph inputs under the node's input names (absent optional inputs
   * as "", trailing ones left off), the compared outputs as graph outputs of symbolic shape.
   *
   * @param testCase the case
   * @return the model
   */
  public static ModelProto model(ContribCase testCase) {
    ContribNode node = testCase.node();
    OnnxGraphBuilder graph = new OnnxGraphBuilder(testCase.name(), OnnxConstants.DECOMPOSED_OPSET);
    List<String> nodeInputs = new ArrayList<>();
    for (String name : node.inputNames()) {
      Tensor t = testCase.inputs().get(name);
      if (t == null) {
        nodeInputs.add("");
        continue;
      }
      int type =
          node.integerInputs().contains(name)
              ? TensorProto.DataType.INT32_VALUE
              : TensorProto.DataType.FLOAT_VALUE;
      Object[] dims = Arrays.stream(t.shape()).mapToObj(d -> (Object) (long) d).toArray();
      nodeInputs.add(graph.input(name, type, dims));
    }
    while (!nodeInputs.isEmpty() && nodeInputs.get(nodeInputs.size() - 1).isEmpty()) {
      nodeInputs.remove(nodeInputs.size() - 1);
    }
    Map<String, Tensor> shapes = node.reference(testCase.inputs()).outputs();
    List<String> outputs = node.outputNames(testCase.inputs());
    for (String output : outputs) {
      graph.reserve(output);
      int rank = shapes.get(output).shape().length;
      Object[] dims = new Object[rank];
      for (int d = 0; d < rank; d++) {
        dims[d] = output + "_" + d;
      }
      graph.output(output, TensorProto.DataType.FLOAT_VALUE, dims);
    }
    ModelProto.Builder model = graph.build(Map.of()).toBuilder();
    model.addOpsetImport(
        OperatorSetIdProto.newBuilder().setDomain(ContribNode.DOMAIN).setVersion(CONTRIB_OPSET));
    model
        .getGraphBuilder()
        .addNode(
            NodeProto.newBuilder()
                .setName(node.opType() + "_1")
                .setOpType(node.opType())
                .setDomain(ContribNode.DOMAIN)
                .addAllInput(nodeInputs)
                .addAllOutput(outputs)
                .addAllAttribute(node.attributes()));
    return model.build();
  }
}
