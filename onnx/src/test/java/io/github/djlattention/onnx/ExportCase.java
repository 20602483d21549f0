package io.github.djlattention.onnx;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.BlockParameters;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.blocks.SelfAttentionBlock;
import io.github.djlattention.testing.TestTensors;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * One seeded random export problem: a self-attention or (grouped-query) multi-head block with
 * random parameters, random inputs of batch 1–4 and lengths 1–64, and maybe a mask input. The seed
 * is in the name.
 *
 * <p>Legend: B batch, S query length, T key/value length, E embedding, H heads, G kv heads, D head
 * size.
 */
record ExportCase(
    long seed,
    boolean selfAttention,
    int embedding,
    int keySize,
    int valueSize,
    int heads,
    int kvHeads,
    int headSize,
    boolean bias,
    boolean causal,
    ExportOptions.MaskType maskType,
    int maskRank,
    int batch,
    int queryLength,
    int keyLength) {

  static ExportCase random(long seed) {
    Random r = new Random(seed);
    boolean self = r.nextInt(4) == 0;
    int kvHeads = self ? 1 : 1 + r.nextInt(3);
    int heads = self ? 1 : kvHeads * (1 + r.nextInt(3));
    int headSize = 1 + r.nextInt(8);
    int embedding = self ? 1 + r.nextInt(16) : heads * headSize;
    boolean crossSizes = !self && r.nextInt(4) == 0;
    int keySize = crossSizes ? 1 + r.nextInt(12) : embedding;
    int valueSize = crossSizes ? 1 + r.nextInt(12) : embedding;
    ExportOptions.MaskType maskType = ExportOptions.MaskType.values()[r.nextInt(3)];
    int maskRank = 2 + r.nextInt(3);
    int batch = 1 + r.nextInt(4);
    int queryLength = length(r);
    int keyLength = self ? queryLength : length(r);
    return new ExportCase(
        seed,
        self,
        embedding,
        keySize,
        valueSize,
        heads,
        kvHeads,
        headSize,
        r.nextBoolean(),
        r.nextInt(3) == 0,
        maskType,
        maskRank,
        batch,
        queryLength,
        keyLength);
  }

  /** Mostly short sequences, sometimes up to 64. */
  private static int length(Random r) {
    return r.nextInt(4) == 0 ? 1 + r.nextInt(64) : 1 + r.nextInt(9);
  }

  /** The block, initialized with random weights and biases in {@code manager}. */
  Block block(NDManager manager) {
    AbstractBlock block;
    if (selfAttention) {
      block =
          SelfAttentionBlock.builder()
              .setEmbeddingSize(embedding)
              .optHeadSize(headSize)
              .optBias(bias)
              .optCausal(causal)
              .optAttentionWeights(AttentionWeights.AVERAGED)
              .build();
      block.initialize(manager, DataType.FLOAT32, new Shape(batch, queryLength, embedding));
    } else {
      block =
          MultiHeadAttentionBlock.builder()
              .setEmbeddingSize(embedding)
              .setHeads(heads)
              .optKvHeads(kvHeads)
              .optKeySize(keySize)
              .optValueSize(valueSize)
              .optBias(bias)
              .optCausal(causal)
              .optAttentionWeights(AttentionWeights.AVERAGED)
              .build();
      block.initialize(
          manager,
          DataType.FLOAT32,
          new Shape(batch, queryLength, embedding),
          new Shape(batch, keyLength, keySize),
          new Shape(batch, keyLength, valueSize));
    }
    Random r = new Random(seed * 17 + 5);
    for (String name : block.getParameters().keys()) {
      NDArray target = BlockParameters.get(block, name);
      double[] values = TestTensors.uniform(r, (int) target.size());
      BlockParameters.set(
          block,
          name,
          TestTensors.create(manager, values, DataType.FLOAT32, target.getShape().getShape()));
    }
    return block;
  }

  /** The export options for {@code opset}. */
  ExportOptions options(int opset) {
    return ExportOptions.builder()
        .optOpset(opset)
        .optMask(maskType, maskRank)
        .optHeadWeights(true)
        .build();
  }

  /** The graph inputs by name, in graph order. */
  Map<String, NDArray> inputs(NDManager manager) {
    Random r = new Random(seed * 31 + 1);
    Map<String, NDArray> inputs = new LinkedHashMap<>();
    if (selfAttention) {
      inputs.put("x", random(manager, r, batch, queryLength, embedding));
    } else {
      inputs.put("query", random(manager, r, batch, queryLength, embedding));
      inputs.put("key", random(manager, r, batch, keyLength, keySize));
      inputs.put("value", random(manager, r, batch, keyLength, valueSize));
    }
    if (maskType != ExportOptions.MaskType.NONE) {
      inputs.put("attn_mask", mask(manager, r));
    }
    return inputs;
  }

  /** The same inputs as the block takes them. */
  static NDList blockInputs(Map<String, NDArray> inputs) {
    return new NDList(inputs.values().toArray(new NDArray[0]));
  }

  private NDArray mask(NDManager manager, Random r) {
    long[] shape;
    switch (maskRank) {
      case 2:
        shape = new long[] {queryLength, keyLength};
        break;
      case 3:
        shape = new long[] {batch, queryLength, keyLength};
        break;
      default:
        shape = new long[] {batch, heads, queryLength, keyLength};
    }
    int size = (int) new Shape(shape).size();
    // Some rows may be fully masked, most often when T is small: both forms must give zeros.
    if (maskType == ExportOptions.MaskType.BOOL) {
      boolean[] keep = new boolean[size];
      for (int n = 0; n < size; n++) {
        keep[n] = r.nextInt(3) != 0;
      }
      return manager.create(keep, new Shape(shape));
    }
    double[] add = new double[size];
    for (int n = 0; n < size; n++) {
      boolean blocked = r.nextInt(4) == 0;
      add[n] = blocked ? Double.NEGATIVE_INFINITY : 4 * r.nextDouble() - 2;
    }
    return TestTensors.create(manager, add, DataType.FLOAT32, shape);
  }

  private static NDArray random(NDManager manager, Random r, long... shape) {
    return TestTensors.create(
        manager, TestTensors.uniform(r, (int) new Shape(shape).size()), DataType.FLOAT32, shape);
  }
}
