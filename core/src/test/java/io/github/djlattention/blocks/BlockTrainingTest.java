package io.github.djlattention.blocks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The blocks train (issue 10): with DJL's {@link Trainer} and a {@link GradientCollector}, a
 * LayerNorm → {@link MultiHeadAttentionBlock} model gets gradients in every projection and in the
 * LayerNorm before the attention, equal to those of the same model computed by the step-by-step
 * chain (the block with {@code optAttentionWeights(AVERAGED)}); the loss curve over a few hundred
 * Adam steps is the chain's; and a gradient agrees with finite differences of the inference forward
 * (which runs the fast path) in float64.
 */
class BlockTrainingTest {

  private static final long BATCH = 2;
  private static final long LENGTH = 6;
  private static final long EMBEDDING = 16;

  private static SequentialBlock model(boolean chain, boolean causal) {
    MultiHeadAttentionBlock attention =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(EMBEDDING)
            .setHeads(4)
            .optKvHeads(2)
            .optCausal(causal)
            .optAttentionWeights(
                chain
                    ? AttentionWeights.AVERAGED
                    : AttentionWeights.NONE) // the weights make the block take the chain
            .build();
    return new SequentialBlock()
        .add(LayerNorm.builder().build())
        .add(attention)
        .add(new LambdaBlock(list -> new NDList(list.get(0)), "output"));
  }

  /** Trains for {@code steps} steps; returns the losses and the first step's gradients. */
  private static Pair<List<Float>, Map<String, float[]>> train(
      boolean chain, boolean causal, int steps) {
    Block block = model(chain, causal);
    try (Model model = Model.newInstance("train", "PyTorch")) {
      model.setBlock(block);
      DefaultTrainingConfig config =
          new DefaultTrainingConfig(Loss.l2Loss())
              .optOptimizer(Optimizer.adam().build())
              .addTrainingListeners();
      try (Trainer trainer = model.newTrainer(config)) {
        Engine.getInstance().setRandomSeed(1234);
        trainer.initialize(new Shape(BATCH, LENGTH, EMBEDDING));
        NDManager m = trainer.getManager();
        NDArray x = m.randomNormal(new Shape(BATCH, LENGTH, EMBEDDING));
        NDArray y = m.randomNormal(new Shape(BATCH, LENGTH, EMBEDDING));
        List<Float> losses = new ArrayList<>();
        Map<String, float[]> firstGradients = new LinkedHashMap<>();
        for (int step = 0; step < steps; step++) {
          try (GradientCollector collector = trainer.newGradientCollector()) {
            NDList predictions = trainer.forward(new NDList(x));
            NDArray loss = trainer.getLoss().evaluate(new NDList(y), predictions);
            losses.add(loss.getFloat());
            collector.backward(loss);
          }
          if (step == 0) {
            for (Pair<String, Parameter> p : block.getParameters()) {
              firstGradients.put(p.getKey(), p.getValue().getArray().getGradient().toFloatArray());
            }
          }
          trainer.step();
        }
        return new Pair<>(losses, firstGradients);
      }
    }
  }

  @ParameterizedTest(name = "causal {0}")
  @ValueSource(booleans = {false, true})
  void everyParameterGetsTheChainsGradient(boolean causal) {
    Map<String, float[]> fast = train(false, causal, 1).getValue();
    Map<String, float[]> chain = train(true, causal, 1).getValue();
    assertEquals(chain.keySet(), fast.keySet());
    for (String name : chain.keySet()) {
      float[] expected = chain.get(name);
      float[] actual = fast.get(name);
      double norm = 0;
      for (int i = 0; i < expected.length; i++) {
        norm += Math.abs(actual[i]);
        assertEquals(expected[i], actual[i], 1e-6 + 1e-5 * Math.abs(expected[i]), name + "[" + i);
      }
      // The key bias adds q·b to a whole row of scores, which the softmax ignores: its gradient
      // is 0 in exact arithmetic, whatever the kernel.
      if (!name.endsWith("k_proj.bias")) {
        assertTrue(norm > 1e-7, name + " got no gradient");
      }
    }
  }

  @Test
  void theLossCurveIsTheChains() {
    List<Float> fast = train(false, true, 200).getKey();
    List<Float> chain = train(true, true, 200).getKey();
    for (int step = 0; step < fast.size(); step++) {
      assertEquals(chain.get(step), fast.get(step), 1e-5 + 1e-4 * chain.get(step), "step " + step);
    }
    assertTrue(
        fast.get(fast.size() - 1) < 0.9 * fast.get(0),
        "the loss did not go down: " + fast.get(0) + " -> " + fast.get(fast.size() - 1));
  }

  @Test
  void float64GradientMatchesFiniteDifferencesOfTheInferenceForward() {
    Block block = model(false, false);
    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
      Engine.getInstance().setRandomSeed(99);
      block.initialize(m, DataType.FLOAT64, new Shape(BATCH, LENGTH, EMBEDDING));
      NDArray x =
          m.randomNormal(new Shape(BATCH, LENGTH, EMBEDDING)).toType(DataType.FLOAT64, false);
      NDArray w =
          m.randomNormal(new Shape(BATCH, LENGTH, EMBEDDING)).toType(DataType.FLOAT64, false);
      ParameterStore store = new ParameterStore(m, false);
      List<NDArray> params = new ArrayList<>();
      for (Pair<String, Parameter> p : block.getParameters()) {
        params.add(p.getValue().getArray());
      }
      double[][] grads = new double[params.size()][];
      try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
        NDArray out = block.forward(store, new NDList(x), true).singletonOrThrow();
        collector.backward(out.mul(w).sum());
      }
      for (int i = 0; i < params.size(); i++) {
        grads[i] = params.get(i).getGradient().toDoubleArray();
      }
      double step = 1e-6;
      for (int i = 0; i < params.size(); i++) {
        NDArray param = params.get(i);
        double[] values = param.toDoubleArray();
        for (int e = 0; e < Math.min(values.length, 6); e++) {
          double saved = values[e];
          values[e] = saved + step;
          param.set(values);
          double plus = inferenceLoss(block, store, x, w);
          values[e] = saved - step;
          param.set(values);
          double minus = inferenceLoss(block, store, x, w);
          values[e] = saved;
          param.set(values);
          double expected = (plus - minus) / (2 * step);
          assertEquals(
              expected, grads[i][e], 1e-7 + 1e-6 * Math.abs(expected), "parameter " + i + "[" + e);
        }
      }
    }
  }

  private static double inferenceLoss(Block block, ParameterStore store, NDArray x, NDArray w) {
    try (NDManager scope = x.getManager().newSubManager()) {
      NDArray out = block.forward(store, new NDList(x), false).singletonOrThrow();
      NDArray loss = out.mul(w).sum();
      double value = loss.getDouble();
      out.attach(scope);
      loss.attach(scope);
      return value;
    }
  }
}
