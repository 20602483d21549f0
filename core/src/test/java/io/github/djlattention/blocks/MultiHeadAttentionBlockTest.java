package io.github.djlattention.blocks;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoopTranslator;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class MultiHeadAttentionBlockTest {

  /** One random block configuration; the seed is in the name. */
  record Config(
      long seed,
      int e,
      int h,
      int g,
      boolean bias,
      boolean causal,
      int b,
      int s,
      int t,
      boolean mask) {
    static Config random(long seed) {
      Random r = new Random(seed);
      int g = 1 + r.nextInt(2);
      int h = g * (1 + r.nextInt(3));
      int e = h * (1 + r.nextInt(4));
      int s = 1 + r.nextInt(7);
      boolean causal = r.nextBoolean();
      return new Config(
          seed,
          e,
          h,
          g,
          r.nextBoolean(),
          causal,
          1 + r.nextInt(3),
          s,
          1 + r.nextInt(7),
          r.nextBoolean());
    }
  }

  static Stream<Config> configs() {
    return IntStream.range(0, 40).mapToObj(Config::random);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("configs")
  void predictorMatchesTheFloat64Reference(Config c) throws Exception {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(c.e())
            .setHeads(c.h())
            .optKvHeads(c.g())
            .optBias(c.bias())
            .optCausal(c.causal())
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .build();
    try (Model model = Model.newInstance("mha", "PyTorch")) {
      model.setBlock(block);
      NDManager m = model.getNDManager();
      Shape qShape = new Shape(c.b(), c.s(), c.e());
      Shape kvShape = new Shape(c.b(), c.t(), c.e());
      block.initialize(m, DataType.FLOAT32, qShape, kvShape, kvShape);
      randomizeBiases(block, c.seed());
      Random r = new Random(c.seed() + 7);
      double[] q = TestTensors.uniform(r, (int) qShape.size());
      double[] k = TestTensors.uniform(r, (int) kvShape.size());
      double[] v = TestTensors.uniform(r, (int) kvShape.size());
      boolean[] keep = new boolean[c.s() * c.t()];
      for (int n = 0; n < keep.length; n++) {
        keep[n] = r.nextInt(3) != 0;
      }
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator());
          NDManager data = NDManager.newBaseManager("PyTorch")) {
        NDList inputs =
            new NDList(
                TestTensors.create(data, q, DataType.FLOAT32, qShape.getShape()),
                TestTensors.create(data, k, DataType.FLOAT32, kvShape.getShape()),
                TestTensors.create(data, v, DataType.FLOAT32, kvShape.getShape()));
        if (c.mask()) {
          inputs.add(data.create(keep, new Shape(c.s(), c.t())));
        }
        NDList out = predictor.predict(inputs);
        assertEquals(new Shape(c.b(), c.s(), c.e()), out.get(0).getShape());
        assertEquals(new Shape(c.b(), c.s(), c.t()), out.get(1).getShape());
        ReferenceAttention.Options options =
            new ReferenceAttention.Options(
                c.mask()
                    ? ReferenceAttention.Options.additive(keep, new int[] {1, 1, c.s(), c.t()})
                    : null,
                c.causal(),
                null,
                null);
        double[][] expected =
            BlockReference.multiHead(
                block,
                doubles(inputs.get(0)),
                doubles(inputs.get(1)),
                doubles(inputs.get(2)),
                c.b(),
                c.s(),
                c.t(),
                options);
        assertClose(c + " output", expected[0], doubles(out.get(0)), 1e-5, 1e-5);
        assertClose(c + " weights", expected[1], doubles(out.get(1)), 1e-5, 1e-5);
      }
    }
  }

  @Test
  void selfAttentionWithOneInputEqualsThreeCopies() throws Exception {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder().setEmbeddingSize(8).setHeads(2).build();
    try (Model model = Model.newInstance("mha", "PyTorch");
        NDManager data = NDManager.newBaseManager("PyTorch")) {
      model.setBlock(block);
      Shape shape = new Shape(2, 5, 8);
      block.initialize(model.getNDManager(), DataType.FLOAT32, shape);
      NDArray x = data.randomUniform(-1, 1, shape);
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        NDArray one = predictor.predict(new NDList(x)).singletonOrThrow();
        NDArray three = predictor.predict(new NDList(x, x, x)).singletonOrThrow();
        assertClose("x vs (x, x, x)", doubles(three), doubles(one), 0, 0);
      }
    }
  }

  @Test
  void savedParametersLoadIntoAFreshBlock(@TempDir Path dir) throws Exception {
    Shape shape = new Shape(1, 4, 12);
    double[] first;
    try (Model model = Model.newInstance("mha", "PyTorch");
        NDManager data = NDManager.newBaseManager("PyTorch")) {
      MultiHeadAttentionBlock block = gqaBlock();
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, shape);
      randomizeBiases(block, 3);
      NDArray x = data.arange(48f).reshape(shape).div(48);
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        first = doubles(predictor.predict(new NDList(x)).get(0));
      }
      model.save(dir, "mha");
    }
    assertTrue(Files.exists(dir.resolve("mha-0000.params")));
    try (Model model = Model.newInstance("mha", "PyTorch");
        NDManager data = NDManager.newBaseManager("PyTorch")) {
      model.setBlock(gqaBlock());
      model.load(dir, "mha");
      NDArray x = data.arange(48f).reshape(shape).div(48);
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        assertClose("reloaded", first, doubles(predictor.predict(new NDList(x)).get(0)), 0, 0);
      }
    }
  }

  @Test
  void builderRejectsBadSettingsWithTheirValues() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> MultiHeadAttentionBlock.builder().setEmbeddingSize(10).setHeads(4).build());
    assertTrue(e.getMessage().contains("10") && e.getMessage().contains("4"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                MultiHeadAttentionBlock.builder()
                    .setEmbeddingSize(12)
                    .setHeads(6)
                    .optKvHeads(4)
                    .build());
    assertTrue(e.getMessage().contains("kv heads 4"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class,
            () -> MultiHeadAttentionBlock.builder().setHeads(2).build());
    assertTrue(e.getMessage().contains("embedding size"), e.getMessage());
  }

  @Test
  void wrongFeatureSizeIsNamed() {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder().setEmbeddingSize(8).setHeads(2).build();
    try (Model model = Model.newInstance("mha", "PyTorch");
        NDManager data = NDManager.newBaseManager("PyTorch")) {
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 3, 8));
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        Exception e =
            assertThrows(
                Exception.class,
                () -> predictor.predict(new NDList(data.ones(new Shape(1, 3, 6)))));
        Throwable cause = e;
        while (cause.getCause() != null && !(cause instanceof IllegalArgumentException)) {
          cause = cause.getCause();
        }
        assertTrue(cause.getMessage().contains("(1, 3, 6)"), cause.getMessage());
      }
    }
  }

  private static MultiHeadAttentionBlock gqaBlock() {
    return MultiHeadAttentionBlock.builder()
        .setEmbeddingSize(12)
        .setHeads(6)
        .optKvHeads(2)
        .optCausal(true)
        .build();
  }

  /** DJL initializes biases to zero; give them values so that a wrong bias path shows. */
  static void randomizeBiases(ai.djl.nn.Block block, long seed) {
    Random r = new Random(seed);
    block.getParameters().values().stream()
        .filter(p -> p.getName().endsWith(".bias"))
        .forEach(
            p -> {
              NDArray old = p.getArray();
              double[] values = TestTensors.uniform(r, (int) old.size());
              BlockParameters.set(
                  block,
                  p.getName(),
                  TestTensors.create(
                      old.getManager(), values, DataType.FLOAT32, old.getShape().getShape()));
            });
  }
}
