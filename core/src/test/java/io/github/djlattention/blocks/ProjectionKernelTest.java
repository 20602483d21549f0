package io.github.djlattention.blocks;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.djlattention.ops.FewRowLinear;
import io.github.djlattention.ops.KvCache;
import io.github.djlattention.testing.TestTensors;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A block large enough that its projections take the few-row linear kernel (E = 2048: 2²² query
 * weights) generates, token by token with a KV cache, what the same block computes with the kernel
 * off ({@code -Ddjl.attention.linear=false}, libtorch's product) and what one causal forward over
 * the whole sequence computes.
 */
class ProjectionKernelTest {

  @Test
  void generationWithTheKernelEqualsLibtorchsProducts() {
    int embedding = 2048;
    int heads = 16;
    int kvHeads = 4;
    int length = 6;
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(embedding)
            .setHeads(heads)
            .optKvHeads(kvHeads)
            .optCausal(true)
            .build();
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      block.initialize(manager, DataType.FLOAT32, new Shape(1, length, embedding));
      NDArray x =
          TestTensors.create(
              manager,
              TestTensors.uniform(new Random(23), length * embedding),
              DataType.FLOAT32,
              1,
              length,
              embedding);
      NDArray queryWeight = block.getParameters().get("q_proj.weight").getArray();
      NDArray token = x.get(new NDIndex(":, 0:1"));
      ParameterStore store = new ParameterStore(manager, false);
      double[] whole = doubles(block.forward(store, new NDList(x), false).singletonOrThrow());
      double[] withKernel;
      double[] withLibtorch;
      String before = System.getProperty("djl.attention.linear");
      try {
        // the kernel pinned: where it is not preferred (one row on an Intel CPU) it still runs
        System.setProperty("djl.attention.linear", "true");
        assumeTrue(
            FewRowLinear.serves(token, queryWeight, null),
            "the few-row kernel does not run here (no native library, or grad mode on)");
        withKernel = generate(block, store, manager, x, embedding / heads, kvHeads);
        System.setProperty("djl.attention.linear", "false");
        withLibtorch = generate(block, store, manager, x, embedding / heads, kvHeads);
      } finally {
        if (before == null) {
          System.clearProperty("djl.attention.linear");
        } else {
          System.setProperty("djl.attention.linear", before);
        }
      }
      assertEquals(whole.length, withKernel.length);
      assertClose("kernel against libtorch", withLibtorch, withKernel, 1e-5, 1e-5);
      assertClose("kernel against one forward", whole, withKernel, 1e-5, 1e-5);
    }
  }

  /** The block's outputs, one position per call through a KV cache, concatenated. */
  private static double[] generate(
      MultiHeadAttentionBlock block,
      ParameterStore store,
      NDManager manager,
      NDArray x,
      long headSize,
      long kvHeads) {
    long length = x.getShape().get(1);
    long embedding = x.getShape().get(2);
    double[] out = new double[(int) (length * embedding)];
    try (KvCache cache =
        KvCache.builder()
            .setManager(manager)
            .setLayers(1)
            .setBatchSize(1)
            .setKvHeads(kvHeads)
            .setHeadSize(headSize)
            .setCapacity(length)
            .build()) {
      PairList<String, Object> params =
          new PairList<>(List.of(MultiHeadAttentionBlock.KV_CACHE), List.of(cache.layer(0)));
      for (int i = 0; i < length; i++) {
        try (NDManager step = manager.newSubManager()) {
          NDArray token = x.get(new NDIndex(":, {}:{}", i, i + 1));
          token.attach(step);
          double[] y =
              doubles(block.forward(store, new NDList(token), false, params).singletonOrThrow());
          System.arraycopy(y, 0, out, (int) (i * embedding), y.length);
        }
      }
    }
    return out;
  }
}
