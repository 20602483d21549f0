package io.github.djlattention.blocks;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.testing.TestTensors;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Hugging Face checkpoints (BERT, GPT-2, Llama names) loaded layer by layer into the blocks. Each
 * synthetic checkpoint holds several layers and tensors that are not attention; the block's output
 * is compared with a float64 computation made directly from the checkpoint's tensors in their own
 * layout (GPT-2's Conv1D as x·W + b on the packed columns, not transposed), through the float64
 * reference attention.
 *
 * <p>Legend: B batch, S length, E embedding, H heads, G kv heads, D head size.
 */
class HuggingFaceCheckpointsTest {

  private static final int B = 2;
  private static final int S = 5;

  private final Random random = new Random(41);

  private NDArray tensor(NDManager manager, long... shape) {
    long size = new Shape(shape).size();
    return TestTensors.create(
        manager, TestTensors.uniform(random, (int) size), DataType.FLOAT32, shape);
  }

  private static Map<String, Shape> shapes(Map<String, NDArray> checkpoint) {
    Map<String, Shape> shapes = new LinkedHashMap<>();
    checkpoint.forEach((name, array) -> shapes.put(name, array.getShape()));
    return shapes;
  }

  /** y = x·Wᵀ + b for W (out, in) as nn.Linear stores it; b may be null. */
  private static double[] linear(double[] x, int rows, NDArray w, NDArray b) {
    int out = (int) w.getShape().get(0);
    int in = (int) w.getShape().get(1);
    return BlockReference.linear(x, rows, doubles(w), b == null ? null : doubles(b), in, out);
  }

  /** Columns [from, from + out) of y = x·W + b for W (in, total) as GPT-2's Conv1D stores it. */
  private static double[] conv1d(double[] x, int rows, NDArray w, NDArray b, int from, int out) {
    int in = (int) w.getShape().get(0);
    int total = (int) w.getShape().get(1);
    double[] weight = doubles(w);
    double[] bias = doubles(b);
    double[] y = new double[rows * out];
    for (int r = 0; r < rows; r++) {
      for (int o = 0; o < out; o++) {
        double acc = bias[from + o];
        for (int i = 0; i < in; i++) {
          acc += x[r * in + i] * weight[i * total + from + o];
        }
        y[r * out + o] = acc;
      }
    }
    return y;
  }

  /** softmax(Q·Kᵀ/√D)·V over (B, S, H·D) projections, heads merged back: (B, S, H·D). */
  private static double[] attention(
      double[] q, double[] k, double[] v, int h, int g, int d, boolean causal) {
    ReferenceAttention.Result result =
        ReferenceAttention.attention(
            BlockReference.splitHeads(q, B, S, h, d),
            BlockReference.splitHeads(k, B, S, g, d),
            BlockReference.splitHeads(v, B, S, g, d),
            new ReferenceAttention.Options(null, causal, null, null));
    return BlockReference.mergeHeads(result.output());
  }

  private static double[] forward(MultiHeadAttentionBlock block, NDArray x) {
    NDList out = block.forward(new ParameterStore(x.getManager(), false), new NDList(x), false);
    return doubles(out.get(0));
  }

  private static MultiHeadAttentionBlock block(
      NDManager manager, DataType type, int e, int h, int g, boolean bias, boolean causal) {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(e)
            .setHeads(h)
            .optKvHeads(g)
            .optBias(bias)
            .optCausal(causal)
            .build();
    block.initialize(manager, type, new Shape(B, S, e));
    return block;
  }

  /** A BERT-style encoder of two layers, E = 8, H = 2, with tensors beside the attention. */
  private Map<String, NDArray> bert(NDManager manager) {
    Map<String, NDArray> checkpoint = new LinkedHashMap<>();
    checkpoint.put("bert.embeddings.word_embeddings.weight", tensor(manager, 30, 8));
    for (int layer = 0; layer < 2; layer++) {
      String p = "bert.encoder.layer." + layer + ".";
      for (String name : List.of("self.query", "self.key", "self.value", "output.dense")) {
        checkpoint.put(p + "attention." + name + ".weight", tensor(manager, 8, 8));
        checkpoint.put(p + "attention." + name + ".bias", tensor(manager, 8));
      }
      checkpoint.put(p + "attention.output.LayerNorm.weight", tensor(manager, 8));
      checkpoint.put(p + "attention.output.LayerNorm.bias", tensor(manager, 8));
      checkpoint.put(p + "intermediate.dense.weight", tensor(manager, 32, 8));
    }
    return checkpoint;
  }

  private static double[] bertReference(Map<String, NDArray> c, int layer, double[] x) {
    String p = "bert.encoder.layer." + layer + ".attention.";
    int rows = B * S;
    double[] q = linear(x, rows, c.get(p + "self.query.weight"), c.get(p + "self.query.bias"));
    double[] k = linear(x, rows, c.get(p + "self.key.weight"), c.get(p + "self.key.bias"));
    double[] v = linear(x, rows, c.get(p + "self.value.weight"), c.get(p + "self.value.bias"));
    double[] merged = attention(q, k, v, 2, 2, 4, false);
    return linear(merged, rows, c.get(p + "output.dense.weight"), c.get(p + "output.dense.bias"));
  }

  @Test
  void bertLayersLoadByIndexAndMatchTheReference() {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> checkpoint = bert(manager);
      assertEquals(StateDicts.Scheme.BERT, StateDicts.scheme(checkpoint.keySet()));
      assertEquals(List.of(0, 1), StateDicts.layers(checkpoint.keySet()));
      assertEquals(
          new BlockLayout(false, 8, 8, 8, 2, 2, 4, true, true),
          StateDicts.inspect(shapes(checkpoint), 2, 1));
      NDArray x = tensor(manager, B, S, 8);
      double[] xs = doubles(x);
      double[][] outputs = new double[2][];
      for (int layer = 0; layer < 2; layer++) {
        MultiHeadAttentionBlock block = block(manager, DataType.FLOAT32, 8, 2, 2, true, false);
        StateDicts.load(block, checkpoint, layer);
        outputs[layer] = forward(block, x);
        assertClose(
            "BERT layer " + layer,
            bertReference(checkpoint, layer, xs),
            outputs[layer],
            1e-5,
            1e-5);
      }
      assertTrue(
          TestTensors.maxAbsError(outputs[0], outputs[1]) > 1e-2,
          "layers 0 and 1 have other weights: the index must choose");
    }
  }

  @Test
  void gpt2PackedConv1dColumnsAreSplitAndTransposed() {
    try (NDManager manager = TestTensors.manager()) {
      int e = 12;
      Map<String, NDArray> checkpoint = new LinkedHashMap<>();
      checkpoint.put("transformer.wte.weight", tensor(manager, 50, e));
      for (int layer = 0; layer < 2; layer++) {
        String p = "transformer.h." + layer + ".";
        checkpoint.put(p + "ln_1.weight", tensor(manager, e));
        checkpoint.put(p + "attn.c_attn.weight", tensor(manager, e, 3 * e)); // (in, out)
        checkpoint.put(p + "attn.c_attn.bias", tensor(manager, 3 * e));
        checkpoint.put(p + "attn.c_proj.weight", tensor(manager, e, e)); // (in, out)
        checkpoint.put(p + "attn.c_proj.bias", tensor(manager, e));
        // the causal-mask buffers older GPT-2 checkpoints carry
        checkpoint.put(p + "attn.bias", manager.ones(new Shape(1, 1, 8, 8), DataType.BOOLEAN));
        checkpoint.put(p + "attn.masked_bias", manager.create(-1e4f));
      }
      assertEquals(StateDicts.Scheme.GPT2, StateDicts.scheme(checkpoint.keySet()));
      assertEquals(
          new BlockLayout(false, e, e, e, 3, 3, 4, true, true),
          StateDicts.inspect(shapes(checkpoint), 3, 0));
      NDArray x = tensor(manager, B, S, e);
      double[] xs = doubles(x);
      String p = "transformer.h.1.attn.";
      NDArray cAttn = checkpoint.get(p + "c_attn.weight");
      NDArray cAttnBias = checkpoint.get(p + "c_attn.bias");
      int rows = B * S;
      double[] q = conv1d(xs, rows, cAttn, cAttnBias, 0, e);
      double[] k = conv1d(xs, rows, cAttn, cAttnBias, e, e);
      double[] v = conv1d(xs, rows, cAttn, cAttnBias, 2 * e, e);
      double[] merged = attention(q, k, v, 3, 3, 4, true);
      double[] expected =
          conv1d(
              merged,
              rows,
              checkpoint.get(p + "c_proj.weight"),
              checkpoint.get(p + "c_proj.bias"),
              0,
              e);

      MultiHeadAttentionBlock block = block(manager, DataType.FLOAT32, e, 3, 3, true, true);
      StateDicts.load(block, checkpoint, 1);
      assertClose("GPT-2 layer 1", expected, forward(block, x), 1e-5, 1e-5);
      assertEquals(
          checkpoint.get(p + "c_attn.weight").get(":, 12:24").transpose(),
          BlockParameters.get(block, "k_proj.weight"),
          "W_k is columns E:2E of c_attn, transposed into (out, in)");
    }
  }

  /** A Llama-style decoder of three layers, E = 16, H = 4, G = 2, no biases. */
  private Map<String, NDArray> llama(NDManager manager) {
    Map<String, NDArray> checkpoint = new LinkedHashMap<>();
    checkpoint.put("model.embed_tokens.weight", tensor(manager, 40, 16));
    for (int layer = 0; layer < 3; layer++) {
      String p = "model.layers." + layer + ".";
      checkpoint.put(p + "self_attn.q_proj.weight", tensor(manager, 16, 16));
      checkpoint.put(p + "self_attn.k_proj.weight", tensor(manager, 8, 16));
      checkpoint.put(p + "self_attn.v_proj.weight", tensor(manager, 8, 16));
      checkpoint.put(p + "self_attn.o_proj.weight", tensor(manager, 16, 16));
      checkpoint.put(p + "self_attn.rotary_emb.inv_freq", tensor(manager, 2));
      checkpoint.put(p + "mlp.gate_proj.weight", tensor(manager, 32, 16));
      checkpoint.put(p + "input_layernorm.weight", tensor(manager, 16));
    }
    checkpoint.put("model.norm.weight", tensor(manager, 16));
    return checkpoint;
  }

  @ParameterizedTest(name = "{0}")
  @EnumSource(
      value = DataType.class,
      names = {"FLOAT32", "FLOAT64"})
  void llamaGroupedQueryLayerMatchesTheReference(DataType dtype) {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> checkpoint = llama(manager);
      assertEquals(StateDicts.Scheme.LLAMA, StateDicts.scheme(checkpoint.keySet()));
      BlockLayout layout = StateDicts.inspect(shapes(checkpoint), 4, 2);
      assertEquals(new BlockLayout(false, 16, 16, 16, 4, 2, 4, false, true), layout);
      NDArray x = tensor(manager, B, S, 16);
      double[] xs = doubles(x);
      String p = "model.layers.2.self_attn.";
      int rows = B * S;
      double[] q = linear(xs, rows, checkpoint.get(p + "q_proj.weight"), null);
      double[] k = linear(xs, rows, checkpoint.get(p + "k_proj.weight"), null);
      double[] v = linear(xs, rows, checkpoint.get(p + "v_proj.weight"), null);
      double[] expected =
          linear(
              attention(q, k, v, 4, 2, 4, true), rows, checkpoint.get(p + "o_proj.weight"), null);

      MultiHeadAttentionBlock block = block(manager, dtype, 16, 4, 2, false, true);
      StateDicts.load(block, checkpoint, 2);
      assertEquals(dtype, BlockParameters.get(block, "q_proj.weight").getDataType());
      double tolerance = dtype == DataType.FLOAT64 ? 1e-12 : 1e-5;
      assertClose(
          "Llama layer 2 " + dtype,
          expected,
          forward(block, x.toType(dtype, false)),
          tolerance,
          tolerance);
    }
  }

  @Test
  void aLlamaLayerOfOtherKvHeadsIsRefusedNamingTheTensor() {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> checkpoint = llama(manager);
      MultiHeadAttentionBlock block = block(manager, DataType.FLOAT32, 16, 4, 4, false, true);
      String message =
          assertThrows(IllegalArgumentException.class, () -> StateDicts.load(block, checkpoint, 1))
              .getMessage();
      assertTrue(
          message.contains("k_proj.weight (model.layers.1.self_attn.k_proj.weight) is (8, 16)")
              && message.contains("the block's is (16, 16)")
              && message.contains("kv heads 2 where the block has 4"),
          message);
    }
  }

  @Test
  void layerErrorsNameTheLayersAndTheNames() {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> checkpoint = bert(manager);
      MultiHeadAttentionBlock block = block(manager, DataType.FLOAT32, 8, 2, 2, true, false);
      String missing =
          assertThrows(IllegalArgumentException.class, () -> StateDicts.load(block, checkpoint, 5))
              .getMessage();
      assertTrue(missing.contains("no layer 5") && missing.contains("[0, 1]"), missing);
      String noLayer =
          assertThrows(IllegalArgumentException.class, () -> StateDicts.load(block, checkpoint))
              .getMessage();
      assertTrue(
          noLayer.contains("Hugging Face BERT") && noLayer.contains("give the layer"), noLayer);

      // Relative position embeddings change what the layer computes: not silently dropped.
      checkpoint.put(
          "bert.encoder.layer.0.attention.self.distance_embedding.weight", tensor(manager, 9, 4));
      String unknown =
          assertThrows(IllegalArgumentException.class, () -> StateDicts.load(block, checkpoint, 0))
              .getMessage();
      assertTrue(
          unknown.contains("unknown names")
              && unknown.contains("bert.encoder.layer.0.attention.self.distance_embedding.weight"),
          unknown);
      // What is wrong in layer 0 does not concern layer 1.
      StateDicts.load(block, checkpoint, 1);

      Map<String, NDArray> torch = new LinkedHashMap<>();
      torch.put("in_proj_weight", tensor(manager, 24, 8));
      torch.put("out_proj.weight", tensor(manager, 8, 8));
      String single =
          assertThrows(IllegalArgumentException.class, () -> StateDicts.load(block, torch, 0))
              .getMessage();
      assertTrue(single.contains("without layers"), single);
    }
  }

  @Test
  void missingBiasesInsideTheLayerAreNamed() {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> checkpoint = bert(manager);
      checkpoint.remove("bert.encoder.layer.1.attention.self.key.bias");
      MultiHeadAttentionBlock block = block(manager, DataType.FLOAT32, 8, 2, 2, true, false);
      String message =
          assertThrows(IllegalArgumentException.class, () -> StateDicts.load(block, checkpoint, 1))
              .getMessage();
      assertTrue(
          message.contains("missing names")
              && message.contains("bert.encoder.layer.1.attention.self.key.bias")
              && message.contains("all present or all absent"),
          message);
    }
  }

  @Test
  void gpt2TensorsOfTheWrongRankOrWidthAreNamed() {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> checkpoint = new LinkedHashMap<>();
      checkpoint.put("h.0.attn.c_attn.weight", tensor(manager, 8, 20));
      checkpoint.put("h.0.attn.c_proj.weight", tensor(manager, 8, 8));
      String packed =
          assertThrows(
                  IllegalArgumentException.class,
                  () -> StateDicts.inspect(shapes(checkpoint), 2, 0))
              .getMessage();
      assertTrue(
          packed.contains("h.0.attn.c_attn.weight has shape (8, 20), expected (8, 24)"), packed);
      checkpoint.put("h.0.attn.c_attn.weight", tensor(manager, 8, 24));
      checkpoint.put("h.0.attn.c_proj.weight", tensor(manager, 64));
      String rank =
          assertThrows(
                  IllegalArgumentException.class,
                  () -> StateDicts.inspect(shapes(checkpoint), 2, 0))
              .getMessage();
      assertTrue(rank.contains("h.0.attn.c_proj.weight has shape (64), expected a matrix"), rank);
    }
  }
}
