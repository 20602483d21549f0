package io.github.djlattention.blocks;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import io.github.djlattention.ops.KvCache;
import io.github.djlattention.testing.TestTensors;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A forward call puts nothing in the manager of the block's parameters. That manager is the model's
 * and lives as long as the model, so an array left there is never freed: the all-MiniLM example's
 * embedding lookup did this (a gather from the table lands in the table's manager) and every later
 * array of its forward followed, 685 MiB a call at batch 32. Each shape class runs: the chain
 * (tiny), the native prefill kernel's shapes (S = 64, E = 512), a padding mask, the weights
 * returned, a single query with a KV cache, and a recorded training step.
 */
class BlockManagerScopeTest {

  record Case(String name, AbstractBlock block, int batch, int length, long embedding) {
    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Case> cases() {
    return Stream.of(
        new Case("tiny, chain", mha(16, 4, 4, false, AttentionWeights.NONE), 2, 3, 16),
        new Case("prefill shape, bias", mha(512, 8, 8, false, AttentionWeights.NONE), 1, 64, 512),
        new Case("grouped, causal", mha(64, 8, 2, true, AttentionWeights.NONE), 2, 33, 64),
        new Case("weights returned", mha(32, 4, 4, false, AttentionWeights.AVERAGED), 2, 9, 32),
        new Case(
            "self-attention block",
            SelfAttentionBlock.builder().setEmbeddingSize(24).optBias(true).build(),
            2,
            7,
            24));
  }

  private static MultiHeadAttentionBlock mha(
      int embedding, int heads, int kvHeads, boolean causal, AttentionWeights weights) {
    return MultiHeadAttentionBlock.builder()
        .setEmbeddingSize(embedding)
        .setHeads(heads)
        .optKvHeads(kvHeads)
        .optBias(true)
        .optCausal(causal)
        .optAttentionWeights(weights)
        .build();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void inferenceLeavesNothingInTheParametersManager(Case c) {
    inModel(
        c,
        (parameters, data, x, before) -> {
          NDList out = c.block().forward(new ParameterStore(data, false), new NDList(x), false);
          assertEquals(before, parameters.getManagedArrays().size(), "arrays left in the model's");
          out.close();
          if (c.block() instanceof MultiHeadAttentionBlock) {
            NDArray padding = data.ones(new Shape(c.batch(), 1, 1, c.length()), DataType.BOOLEAN);
            c.block().forward(new ParameterStore(data, false), new NDList(x, padding), false);
            assertEquals(before, parameters.getManagedArrays().size(), "with a padding mask");
          }
        });
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void trainingLeavesNothingInTheParametersManager(Case c) {
    inModel(
        c,
        (parameters, data, x, before) -> {
          try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
            NDArray out =
                c.block().forward(new ParameterStore(data, false), new NDList(x), true).get(0);
            collector.backward(out.sum());
          }
          // a gradient is the parameter's own, allocated once, not an array of the forward
          int gradients = parameters.getManagedArrays().size() - before;
          NDArray again =
              c.block().forward(new ParameterStore(data, false), new NDList(x), true).get(0);
          again.close();
          assertEquals(
              before + gradients,
              parameters.getManagedArrays().size(),
              "arrays left in the model's");
        });
  }

  @Test
  void decodingWithACacheLeavesNothingInTheParametersManager() {
    Case step = new Case("decode", mha(64, 8, 2, true, AttentionWeights.NONE), 2, 1, 64);
    inModel(
        step,
        (parameters, data, x, before) -> {
          try (KvCache cache =
              KvCache.builder()
                  .setManager(data)
                  .setLayers(1)
                  .setBatchSize(2)
                  .setKvHeads(2)
                  .setHeadSize(8)
                  .setCapacity(32)
                  .build()) {
            PairList<String, Object> params =
                new PairList<>(List.of(MultiHeadAttentionBlock.KV_CACHE), List.of(cache.layer(0)));
            for (int token = 0; token < 5; token++) {
              step.block()
                  .forward(
                      new ParameterStore(data, false),
                      new NDList(input(data, step)),
                      false,
                      params);
            }
          }
          assertEquals(before, parameters.getManagedArrays().size(), "arrays left in the model's");
        });
  }

  /** A check on a block in a fresh model, its input x and the model's array count before it. */
  private interface Check {
    void run(NDManager parameters, NDManager data, NDArray x, int before);
  }

  /** Runs the check with the case's block initialized in a fresh model's manager. */
  private static void inModel(Case c, Check check) {
    try (Model model = Model.newInstance("scope", "PyTorch");
        NDManager data = NDManager.newBaseManager("PyTorch")) {
      NDManager parameters = initialize(model, c);
      check.run(parameters, data, input(data, c), parameters.getManagedArrays().size());
    }
  }

  /** Initializes the case's block in the model's manager, and returns that manager. */
  private static NDManager initialize(Model model, Case c) {
    NDManager parameters = model.getNDManager();
    c.block()
        .initialize(parameters, DataType.FLOAT32, new Shape(c.batch(), c.length(), c.embedding()));
    return parameters;
  }

  private static NDArray input(NDManager data, Case c) {
    int size = Math.toIntExact(c.batch() * c.length() * c.embedding());
    return TestTensors.create(
        data,
        TestTensors.uniform(new Random(7), size),
        DataType.FLOAT32,
        c.batch(),
        c.length(),
        (int) c.embedding());
  }
}
