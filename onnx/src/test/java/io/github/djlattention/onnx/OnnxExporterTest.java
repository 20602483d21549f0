package io.github.djlattention.onnx;

import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.blocks.SelfAttentionBlock;
import io.github.djlattention.ort.OrtRunner;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The structure of the exported graphs, fully masked rows, and the exporter's errors. */
class OnnxExporterTest {

  private static MultiHeadAttentionBlock block(NDManager manager, boolean causal) {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(8)
            .setHeads(4)
            .optKvHeads(2)
            .optCausal(causal)
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .build();
    Shape shape = new Shape(1, 3, 8);
    block.initialize(manager, DataType.FLOAT32, shape, shape, shape);
    return block;
  }

  private static List<String> ops(ModelProto model) {
    return model.getGraph().getNodeList().stream()
        .map(NodeProto::getOpType)
        .collect(Collectors.toList());
  }

  private static List<String> names(List<ValueInfoProto> values) {
    return values.stream().map(ValueInfoProto::getName).collect(Collectors.toList());
  }

  @Test
  void decomposedGraphUsesPlainOperatorsAndTheBlocksParameterNames() {
    try (NDManager manager = TestTensors.manager()) {
      ModelProto model =
          OnnxExporter.toModel(
              block(manager, true),
              ExportOptions.builder().optMask(ExportOptions.MaskType.BOOL, 3).build());
      assertEquals(OnnxConstants.DECOMPOSED_IR_VERSION, model.getIrVersion());
      assertEquals(OnnxConstants.DECOMPOSED_OPSET, model.getOpsetImport(0).getVersion());
      assertEquals(OnnxConstants.PRODUCER_NAME, model.getProducerName());
      List<String> ops = ops(model);
      assertFalse(ops.contains("Attention"), ops.toString());
      assertTrue(
          ops.containsAll(
              List.of(
                  "MatMul",
                  "Transpose",
                  "Reshape",
                  "Mul",
                  "Where",
                  "Softmax",
                  "ReduceMax",
                  "ReduceMean",
                  "Range",
                  "LessOrEqual",
                  "Unsqueeze")),
          ops.toString());
      Set<String> initializers =
          model.getGraph().getInitializerList().stream()
              .map(TensorProto::getName)
              .collect(Collectors.toSet());
      assertTrue(
          initializers.containsAll(
              Set.of(
                  "q_proj.weight",
                  "k_proj.weight",
                  "v_proj.weight",
                  "out_proj.weight",
                  "q_proj.bias",
                  "out_proj.bias")),
          initializers.toString());
      assertEquals(
          List.of("query", "key", "value", "attn_mask"), names(model.getGraph().getInputList()));
      assertEquals(List.of("output", "weights"), names(model.getGraph().getOutputList()));
      ValueInfoProto query = model.getGraph().getInput(0);
      assertEquals("batch", query.getType().getTensorType().getShape().getDim(0).getDimParam());
      assertEquals("seq_q", query.getType().getTensorType().getShape().getDim(1).getDimParam());
      assertEquals(8, query.getType().getTensorType().getShape().getDim(2).getDimValue());
    }
  }

  @Test
  void attentionFormHasOneAttentionNodeWithHeadsAndSoftmaxOutput() {
    try (NDManager manager = TestTensors.manager()) {
      ModelProto model =
          OnnxExporter.toModel(block(manager, false), ExportOptions.builder().optOpset(23).build());
      assertEquals(OnnxConstants.ATTENTION_IR_VERSION, model.getIrVersion());
      List<NodeProto> attention =
          model.getGraph().getNodeList().stream()
              .filter(node -> node.getOpType().equals("Attention"))
              .collect(Collectors.toList());
      assertEquals(1, attention.size());
      Map<String, Long> attributes = new LinkedHashMap<>();
      attention.get(0).getAttributeList().forEach(a -> attributes.put(a.getName(), a.getI()));
      assertEquals(4L, attributes.get("q_num_heads"));
      assertEquals(2L, attributes.get("kv_num_heads"));
      assertEquals(3L, attributes.get("qk_matmul_output_mode"));
      assertEquals(4, attention.get(0).getOutputCount());
      assertFalse(ops(model).contains("Softmax"));
    }
  }

  @ParameterizedTest(name = "opset {0}, {1} mask")
  @CsvSource({"17, BOOL", "17, FLOAT", "23, BOOL", "23, FLOAT"})
  void fullyMaskedRowsGiveZeroWeightsAndOutputLikeTheLibrary(
      int opset, ExportOptions.MaskType type) {
    try (NDManager manager = TestTensors.manager()) {
      MultiHeadAttentionBlock block = block(manager, true);
      NDArray x = manager.randomUniform(-1, 1, new Shape(2, 3, 8));
      // Query 1 may see no key at all (query 0 sees key 0 only, through the causal mask).
      boolean[] keep = {true, true, false, false, false, false, true, false, true};
      NDArray mask = manager.create(keep, new Shape(3, 3));
      if (type == ExportOptions.MaskType.FLOAT) {
        mask =
            manager.create(
                new float[] {
                  0,
                  0,
                  Float.NEGATIVE_INFINITY,
                  Float.NEGATIVE_INFINITY,
                  Float.NEGATIVE_INFINITY,
                  Float.NEGATIVE_INFINITY,
                  0,
                  Float.NEGATIVE_INFINITY,
                  0
                },
                new Shape(3, 3));
      }
      NDList expected =
          block.forward(new ParameterStore(manager, false), new NDList(x, x, x, mask), false);
      byte[] model =
          OnnxExporter.export(
              block,
              ExportOptions.builder()
                  .optOpset(opset)
                  .optMask(type, 2)
                  .optHeadWeights(true)
                  .build());
      try (OrtRunner runner = OrtRunner.builder().optIntraOpThreads(1).build(model)) {
        Map<String, NDArray> actual =
            runner.run(Map.of("query", x, "key", x, "value", x, "attn_mask", mask), manager);
        double[] weights = doubles(actual.get("weights"));
        assertArrayEquals(
            new double[] {0, 0, 0}, new double[] {weights[3], weights[4], weights[5]});
        double[] output = doubles(actual.get("output"));
        for (int n = 8; n < 16; n++) {
          assertEquals(0, output[n], "output of the fully masked row, element " + n);
        }
        TestTensors.assertClose("output", doubles(expected.get(0)), output, 1e-5, 0);
        TestTensors.assertClose("weights", doubles(expected.get(1)), weights, 1e-5, 0);
      }
    }
  }

  @ParameterizedTest(name = "{0} opset {1}, {2} mask")
  @CsvSource({
    "MultiHeadAttentionBlock, 17, NONE",
    "MultiHeadAttentionBlock, 17, BOOL",
    "MultiHeadAttentionBlock, 23, NONE",
    "MultiHeadAttentionBlock, 23, FLOAT",
    "SelfAttentionBlock, 17, BOOL",
    "SelfAttentionBlock, 23, NONE"
  })
  void perHeadWeightsAreExportedAsTheBlockReturnsThem(
      String kind, int opset, ExportOptions.MaskType type) {
    try (NDManager manager = TestTensors.manager()) {
      Block block;
      Shape shape = new Shape(1, 3, 8);
      if (kind.equals("SelfAttentionBlock")) {
        block =
            SelfAttentionBlock.builder()
                .setEmbeddingSize(8)
                .optHeadSize(4)
                .optCausal(true)
                .optAttentionWeights(AttentionWeights.PER_HEAD)
                .build();
        block.initialize(manager, DataType.FLOAT32, shape);
      } else {
        block =
            MultiHeadAttentionBlock.builder()
                .setEmbeddingSize(8)
                .setHeads(4)
                .optKvHeads(2)
                .optCausal(true)
                .optAttentionWeights(AttentionWeights.PER_HEAD)
                .build();
        block.initialize(manager, DataType.FLOAT32, shape, shape, shape);
      }
      long heads = kind.equals("SelfAttentionBlock") ? 1 : 4;
      NDArray x = manager.randomUniform(-1, 1, new Shape(2, 3, 8));
      NDList inputs = new NDList(x);
      Map<String, NDArray> feeds = new LinkedHashMap<>();
      feeds.put(kind.equals("SelfAttentionBlock") ? "x" : "query", x);
      if (!kind.equals("SelfAttentionBlock")) {
        inputs = new NDList(x, x, x);
        feeds.put("key", x);
        feeds.put("value", x);
      }
      if (type != ExportOptions.MaskType.NONE) {
        NDArray mask = manager.randomUniform(0, 1, new Shape(3, 3)).gt(0.3);
        if (type == ExportOptions.MaskType.FLOAT) {
          mask = manager.randomUniform(-2, 2, new Shape(3, 3));
        }
        inputs.add(mask);
        feeds.put("attn_mask", mask);
      }
      NDList expected = block.forward(new ParameterStore(manager, false), inputs, false);
      assertEquals(new Shape(2, heads, 3, 3), expected.get(1).getShape());
      ModelProto model =
          OnnxExporter.toModel(
              block, ExportOptions.builder().optOpset(opset).optMask(type, 2).build());
      assertEquals(List.of("output", "weights"), names(model.getGraph().getOutputList()));
      assertFalse(ops(model).contains("ReduceMean"), ops(model).toString());
      try (OrtRunner runner = OrtRunner.builder().optIntraOpThreads(1).build(model.toByteArray())) {
        Map<String, NDArray> actual = runner.run(feeds, manager);
        assertEquals(expected.get(1).getShape(), actual.get("weights").getShape());
        TestTensors.assertClose(
            "output", doubles(expected.get(0)), doubles(actual.get("output")), 1e-5, 0);
        TestTensors.assertClose(
            "weights", doubles(expected.get(1)), doubles(actual.get("weights")), 1e-5, 0);
      }
    }
  }

  @Test
  void refusesKeyPaddingMaskBlocksAndHeadWeightsOfPerHeadBlocks() {
    try (NDManager manager = TestTensors.manager()) {
      Shape shape = new Shape(1, 3, 8);
      MultiHeadAttentionBlock padded =
          MultiHeadAttentionBlock.builder()
              .setEmbeddingSize(8)
              .setHeads(2)
              .optKeyPaddingMask(true)
              .build();
      padded.initialize(manager, DataType.FLOAT32, shape, new Shape(1, 3));
      String message =
          assertThrows(
                  IllegalArgumentException.class,
                  () -> OnnxExporter.export(padded, ExportOptions.defaults()))
              .getMessage();
      assertTrue(message.contains("key-padding mask"), message);
      MultiHeadAttentionBlock perHead =
          MultiHeadAttentionBlock.builder()
              .setEmbeddingSize(8)
              .setHeads(2)
              .optAttentionWeights(AttentionWeights.PER_HEAD)
              .build();
      perHead.initialize(manager, DataType.FLOAT32, shape);
      message =
          assertThrows(
                  IllegalArgumentException.class,
                  () ->
                      OnnxExporter.export(
                          perHead, ExportOptions.builder().optHeadWeights(true).build()))
              .getMessage();
      assertTrue(message.contains("per head already"), message);
    }
  }

  @Test
  void writeToReplacesTheFileAtomically(@TempDir Path dir) throws Exception {
    try (NDManager manager = TestTensors.manager()) {
      Path file = dir.resolve("model.onnx");
      Files.writeString(file, "old");
      MultiHeadAttentionBlock block = block(manager, false);
      OnnxExporter.writeTo(block, ExportOptions.defaults(), file);
      assertArrayEquals(
          OnnxExporter.export(block, ExportOptions.defaults()), Files.readAllBytes(file));
      try (var files = Files.list(dir)) {
        assertEquals(1, files.count());
      }
    }
  }

  @Test
  void rejectsOtherBlocksUninitializedBlocksAndOtherOpsets() {
    Block linear = Linear.builder().setUnits(3).build();
    IllegalArgumentException other =
        assertThrows(
            IllegalArgumentException.class,
            () -> OnnxExporter.export(linear, ExportOptions.defaults()));
    assertTrue(other.getMessage().contains("Linear"), other.getMessage());
    MultiHeadAttentionBlock fresh =
        MultiHeadAttentionBlock.builder().setEmbeddingSize(4).setHeads(2).build();
    assertThrows(
        IllegalStateException.class, () -> OnnxExporter.export(fresh, ExportOptions.defaults()));
    IllegalArgumentException opset =
        assertThrows(
            IllegalArgumentException.class, () -> ExportOptions.builder().optOpset(18).build());
    assertTrue(opset.getMessage().contains("18"), opset.getMessage());
    assertThrows(
        IllegalArgumentException.class,
        () -> ExportOptions.builder().optMask(ExportOptions.MaskType.FLOAT, 5).build());
  }
}
