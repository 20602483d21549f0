package io.github.djlattention.blocks;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.djlattention.ops.KvCache;
import io.github.djlattention.testing.TestTensors;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A causal {@link MultiHeadAttentionBlock} generating with a {@link KvCache} (passed under {@link
 * MultiHeadAttentionBlock#KV_CACHE}) gives, position by position, the rows of one causal forward
 * over the whole sequence.
 */
class MultiHeadAttentionBlockCacheTest {

  @Test
  void generatingWithTheCacheEqualsOneCausalForward() throws Exception {
    int batch = 2;
    int length = 11;
    int embedding = 32;
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(embedding)
            .setHeads(8)
            .optKvHeads(2)
            .optCausal(true)
            .build();
    try (Model model = Model.newInstance("mha-cache", "PyTorch");
        NDManager data = NDManager.newBaseManager("PyTorch")) {
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(batch, length, embedding));
      Random random = new Random(17);
      NDArray x =
          TestTensors.create(
              data,
              TestTensors.uniform(random, batch * length * embedding),
              DataType.FLOAT32,
              batch,
              length,
              embedding);
      ParameterStore store = new ParameterStore(data, false);
      double[] whole = doubles(block.forward(store, new NDList(x), false).singletonOrThrow());
      try (KvCache cache =
          KvCache.builder()
              .setManager(data)
              .setLayers(1)
              .setBatchSize(batch)
              .setKvHeads(2)
              .setHeadSize(embedding / 8)
              .setCapacity(16)
              .build()) {
        PairList<String, Object> params =
            new PairList<>(List.of(MultiHeadAttentionBlock.KV_CACHE), List.of(cache.layer(0)));
        // a prefill of 4 positions, then one position per call
        int[] steps = {4, 1, 1, 1, 1, 1, 1, 1};
        int position = 0;
        for (int s : steps) {
          NDArray chunk = x.get(new NDIndex(":, {}:{}", position, position + s)); // (B, s, E)
          NDArray out = block.forward(store, new NDList(chunk), false, params).singletonOrThrow();
          assertEquals(new Shape(batch, s, embedding), out.getShape());
          double[] expected = rows(whole, batch, length, embedding, position, s);
          assertClose("positions " + position + "+" + s, expected, doubles(out), 1e-5, 1e-5);
          position += s;
          assertArrayEquals(new long[] {position, position}, cache.layer(0).lengths());
        }
      }
      PairList<String, Object> wrong =
          new PairList<>(List.of(MultiHeadAttentionBlock.KV_CACHE), List.of("x"));
      assertThrows(
          IllegalArgumentException.class, () -> block.forward(store, new NDList(x), false, wrong));
    }
  }

  /** Rows [from, from + s) of a (B, L, E) array, as (B, s, E). */
  private static double[] rows(
      double[] all, int batch, int length, int embedding, int from, int s) {
    double[] out = new double[batch * s * embedding];
    for (int b = 0; b < batch; b++) {
      System.arraycopy(all, (b * length + from) * embedding, out, b * s * embedding, s * embedding);
    }
    return out;
  }
}
