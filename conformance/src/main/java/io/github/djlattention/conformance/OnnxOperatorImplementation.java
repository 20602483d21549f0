package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.onnx.proto.OnnxMl.AttributeProto;
import io.github.djlattention.onnx.OnnxConstants;
import io.github.djlattention.onnx.OnnxGraphBuilder;
import io.github.djlattention.onnx.OnnxTensors;
import io.github.djlattention.ort.OrtDevice;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Runs a {@link FunctionalCase} of the generated suite as one bare ONNX {@code Attention} node
 * (opset 23) on ONNX Runtime: Q (B, H, S, D), K (B, G, T, D), V (B, G, T, Dv), the mask on four
 * axes, and the attributes {@code is_causal}, {@code scale} and {@code softcap}; {@code
 * qk_matmul_output} in mode 3 gives the weights. Unlike the exported graphs, nothing works around
 * the operator, so this shows ONNX Runtime's own reading of the operator on the generated cases.
 *
 * <p>Legend: B batch, H query heads, G key/value heads, S query length, T key length, D head size,
 * Dv value head size.
 */
public final class OnnxOperatorImplementation implements Implementation<GeneratedCase> {

  /** This implementation's name in reports. */
  public static final String NAME = "ort-attention-op";

  private final OrtSettings ort;

  /**
   * Creates the implementation.
   *
   * @param device where ONNX Runtime runs
   * @param threads intra-op threads per session
   */
  public OnnxOperatorImplementation(OrtDevice device, int threads) {
    this.ort = new OrtSettings(device, threads);
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Optional<String> notApplicable(GeneratedCase testCase) {
    if (!(testCase instanceof FunctionalCase)) {
      return Optional.of("a block case: see the exported graphs");
    }
    if (testCase.type() == DataType.FLOAT64) {
      return Optional.of("ONNX Runtime's Attention kernel has no float64");
    }
    return Optional.empty();
  }

  @Override
  public CaseOutputs run(GeneratedCase generated, NDManager manager) {
    FunctionalCase testCase = (FunctionalCase) generated; // notApplicable declined the others
    try (NDManager work = manager.newSubManager()) {
      Map<String, NDArray> inputs = new LinkedHashMap<>();
      inputs.put("Q", operand(work, testCase, "query")); // (B, H, S, D)
      inputs.put("K", operand(work, testCase, "key")); // (B, G, T, D)
      inputs.put("V", operand(work, testCase, "value")); // (B, G, T, Dv)
      testCase
          .optMask()
          .ifPresent(
              m -> {
                int[] fourD = testCase.mask4d();
                GeneratedMask aligned = new GeneratedMask(m.bool(), fourD, m.keep(), m.additive());
                inputs.put("attn_mask", aligned.toNDArray(work, testCase.type())); // (…, S, T)
              });
      byte[] model = model(testCase, inputs);
      // Outputs go straight to the caller's manager: views of them must not outlive them.
      Map<String, NDArray> outputs = ort.runOnce(model, inputs, Set.of("Y", "weights"), manager);
      return GeneratedCase.CaseData.outputs(
          outputs.get("Y").reshape(DoubleTensors.toShape(testCase.outputShape())), // case's shape
          outputs.get("weights").reshape(DoubleTensors.toShape(testCase.weightsShape())));
    }
  }

  /** A query, key or value on four axes, in the case's element type. */
  private static NDArray operand(NDManager manager, FunctionalCase testCase, String role) {
    return testCase.data().create(manager, FunctionalCase.as4d(testCase.tensor(role)));
  }

  private static byte[] model(FunctionalCase testCase, Map<String, NDArray> inputs) {
    OnnxGraphBuilder graph = new OnnxGraphBuilder("attention_op", OnnxConstants.ATTENTION_OPSET);
    List<String> nodeInputs = new ArrayList<>();
    for (Map.Entry<String, NDArray> input : inputs.entrySet()) {
      Object[] dims =
          Arrays.stream(input.getValue().getShape().getShape()).boxed().toArray(Object[]::new);
      nodeInputs.add(
          graph.input(input.getKey(), OnnxTensors.onnxType(input.getValue().getDataType()), dims));
    }
    List<AttributeProto> attributes = new ArrayList<>();
    attributes.add(OnnxGraphBuilder.attribute("qk_matmul_output_mode", 3));
    if (testCase.causal()) {
      attributes.add(OnnxGraphBuilder.attribute("is_causal", 1));
    }
    if (testCase.scale() != null) {
      attributes.add(OnnxGraphBuilder.attribute("scale", testCase.scale().floatValue()));
    }
    if (testCase.softcap() != null) {
      attributes.add(OnnxGraphBuilder.attribute("softcap", testCase.softcap().floatValue()));
    }
    String y = graph.reserve("Y");
    String weights = graph.reserve("weights");
    graph.node(
        "Attention",
        nodeInputs,
        List.of(y, "", "", weights),
        attributes.toArray(AttributeProto[]::new));
    int type = OnnxTensors.onnxType(testCase.type());
    long[] q = inputs.get("Q").getShape().getShape(); // (B, H, S, D)
    long[] v = inputs.get("V").getShape().getShape(); // (B, G, T, Dv)
    graph.output(y, type, q[0], q[1], q[2], v[3]); // (B, H, S, Dv)
    graph.output(weights, type, q[0], q[1], q[2], v[2]); // (B, H, S, T)
    return graph.build(Map.of()).toByteArray();
  }
}
