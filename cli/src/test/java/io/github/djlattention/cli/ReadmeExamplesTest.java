package io.github.djlattention.cli;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.TrainingConfig;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import io.github.djlattention.blocks.AttentionWeights;
import io.github.djlattention.blocks.MultiHeadAttentionBlock;
import io.github.djlattention.blocks.StateDicts;
import io.github.djlattention.io.Npy;
import io.github.djlattention.io.Npz;
import io.github.djlattention.ops.Attention;
import io.github.djlattention.ops.AttentionOptions;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java examples of the top-level README.md, line for line, so that they keep compiling and keep
 * computing what the README says. Change both together.
 */
class ReadmeExamplesTest {

  private static final Path SEED = Path.of("models", "seed");

  @Test
  void functionalExampleReadsLikeTheSeed() {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      // README: "The functional API, beside the seed's PyTorch"
      NDArray q = Npy.read(manager, Path.of("models/seed/q.npy"));
      NDArray k = Npy.read(manager, Path.of("models/seed/k.npy"));
      NDArray v = manager.eye(3);
      NDArray scores = Attention.dotProductScores(q, k);
      NDArray weights = Attention.softmax(scores, -1);
      NDArray scaled = Attention.scaledDotProductScores(q, k);
      NDArray output = Attention.weightedSum(Attention.softmax(scaled, -1), v);
      NDArray causal =
          Attention.attention(q, k, v, AttentionOptions.builder().optCausal(true).build()).output();
      // end of the README example

      Map<String, NDArray> expected = Npz.read(manager, SEED.resolve("expected.npz"));
      assertClose("scores", doubles(expected.get("scores")), doubles(scores), 1e-6, 0);
      assertClose("weights", doubles(expected.get("weights_unscaled")), doubles(weights), 1e-6, 0);
      assertClose(
          "scaled output", doubles(expected.get("weights_scaled")), doubles(output), 1e-6, 0);
      assertEquals(0f, causal.getFloat(0, 1), "causal: query 0 sees only key 0");
      assertEquals(1f, causal.getFloat(0, 0), 1e-6);
    }
  }

  @Test
  void blockExampleRunsThroughAPredictor() throws TranslateException {
    // README: "The DJL block"
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(16)
            .setHeads(4)
            .optKvHeads(2)
            .optBias(true)
            .optCausal(true)
            .build();
    try (Model model = Model.newInstance("attention", "PyTorch")) {
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(2, 5, 16)); // (B, S, E)
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        NDArray x = model.getNDManager().randomNormal(new Shape(2, 5, 16)); // (B, S, E)
        NDArray y = predictor.predict(new NDList(x)).singletonOrThrow(); // (B, S, E)
        // end of the README example
        assertEquals(new Shape(2, 5, 16), y.getShape());
      }
    }
  }

  @Test
  void paddedBlockReturnsPerHeadWeights() throws TranslateException {
    // README: "The DJL block", the key-padding mask
    MultiHeadAttentionBlock padded =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(16)
            .setHeads(4)
            .optAttentionWeights(AttentionWeights.PER_HEAD)
            .optKeyPaddingMask(true)
            .build();
    try (Model model = Model.newInstance("padded", "PyTorch")) {
      model.setBlock(padded);
      padded.initialize(
          model.getNDManager(), DataType.FLOAT32, new Shape(2, 5, 16), new Shape(2, 5));
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        NDArray x = model.getNDManager().randomNormal(new Shape(2, 5, 16)); // (B, S, E)
        NDArray padding =
            model
                .getNDManager()
                .create( // (B, T): true = padding
                    new boolean[] {
                      false, false, false, true, true, false, false, false, false, false
                    },
                    new Shape(2, 5));
        NDList out = predictor.predict(new NDList(x, padding));
        NDArray y = out.get(0); // (B, S, E)
        NDArray weights = out.get(1); // (B, H, S, T), zero on keys 3 and 4 of sequence 0
        // end of the README example
        assertEquals(new Shape(2, 5, 16), y.getShape());
        assertEquals(new Shape(2, 4, 5, 5), weights.getShape());
        assertEquals(0f, weights.get("0, :, :, 3:").abs().max().getFloat());
        assertTrue(weights.get("1, :, :, 3:").min().getFloat() > 0, "sequence 1 has no padding");
      }
    }
  }

  @Test
  void stateDictsLoadIntoTheCallersBlocks(@TempDir Path dir) {
    Path bertFile = dir.resolve("bert.npz");
    try (NDManager synthetic = NDManager.newBaseManager("PyTorch")) {
      Map<String, NDArray> layers = new LinkedHashMap<>();
      for (int layer = 0; layer < 2; layer++) {
        String p = "bert.encoder.layer." + layer + ".attention.";
        for (String name : List.of("self.query", "self.key", "self.value", "output.dense")) {
          layers.put(p + name + ".weight", synthetic.randomUniform(-1, 1, new Shape(16, 16)));
          layers.put(p + name + ".bias", synthetic.randomUniform(-1, 1, new Shape(16)));
        }
      }
      Npz.write(bertFile, layers);
    }
    // README: "Loading weights into the blocks"
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      // torch.nn.MultiheadAttention(16, 4, batch_first=True).state_dict(), saved with numpy.savez
      Map<String, NDArray> stateDict =
          Npz.read(manager, Path.of("models/mha_self_bias/state_dict.npz"));
      MultiHeadAttentionBlock block =
          MultiHeadAttentionBlock.builder().setEmbeddingSize(16).setHeads(4).build();
      block.initialize(manager, DataType.FLOAT32, new Shape(1, 5, 16)); // (B, S, E)
      StateDicts.load(block, stateDict);

      // layer 1 of a BERT-style checkpoint: bert.encoder.layer.1.attention.self.query.weight, ...
      Map<String, NDArray> bert = Npz.read(manager, bertFile);
      MultiHeadAttentionBlock layer1 =
          MultiHeadAttentionBlock.builder().setEmbeddingSize(16).setHeads(4).build();
      layer1.initialize(manager, DataType.FLOAT32, new Shape(1, 5, 16));
      StateDicts.load(layer1, bert, 1);
      // end of the README example

      Map<String, NDArray> inputs = Npz.read(manager, Path.of("models/mha_self_bias/inputs.npz"));
      Map<String, NDArray> expected =
          Npz.read(manager, Path.of("models/mha_self_bias/outputs.npz"));
      NDArray output =
          block
              .forward(new ParameterStore(manager, false), new NDList(inputs.values()), false)
              .get(0);
      assertClose("PyTorch's output", doubles(expected.get("output")), doubles(output), 1e-5, 0);
      assertEquals(
          bert.get("bert.encoder.layer.1.attention.self.key.weight"),
          layer1.getParameters().get("k_proj.weight").getArray());
    }
  }

  @Test
  void trainingExampleGivesTheLayerNormAGradient() {
    // README: "Training: what is differentiable"
    SequentialBlock net =
        new SequentialBlock()
            .add(LayerNorm.builder().build())
            .add(MultiHeadAttentionBlock.builder().setEmbeddingSize(16).setHeads(4).build());
    try (Model model = Model.newInstance("train", "PyTorch")) {
      model.setBlock(net);
      TrainingConfig config =
          new DefaultTrainingConfig(Loss.l2Loss()).optOptimizer(Optimizer.adam().build());
      try (Trainer trainer = model.newTrainer(config)) {
        trainer.initialize(new Shape(2, 6, 16)); // (B, S, E)
        NDArray x = trainer.getManager().randomNormal(new Shape(2, 6, 16));
        NDArray y = trainer.getManager().randomNormal(new Shape(2, 6, 16));
        try (GradientCollector collector = trainer.newGradientCollector()) {
          NDArray loss = trainer.getLoss().evaluate(new NDList(y), trainer.forward(new NDList(x)));
          collector.backward(loss);
        }
        // end of the README example, before trainer.step()
        NDArray gamma = net.getChildren().get(0).getValue().getParameters().get("gamma").getArray();
        assertTrue(gamma.getGradient().abs().sum().getFloat() > 0, "the LayerNorm learns nothing");
        trainer.step();
      }
    }
  }
}
