package io.github.djlattention.blocks;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
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
import ai.djl.translate.TranslateException;
import io.github.djlattention.reference.ReferenceAttention;
import io.github.djlattention.reference.ReferenceAttention.Tensor;
import io.github.djlattention.testing.TestTensors;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The blocks' public contract beyond plain attention: weights only when asked (none, averaged, per
 * head) and a key-padding mask as in {@code torch.nn.MultiheadAttention}, alone and combined with
 * an attention mask, each checked against the float64 reference with the masks added by hand.
 *
 * <p>Legend: B batch, H heads, G kv heads, S query length, T key length, E embedding.
 */
class BlockMasksAndWeightsTest {

  /** The kind of a mask in a case. */
  enum MaskKind {
    NONE,
    BOOL,
    FLOAT
  }

  /** One random multi-head case; the seed is in the name. */
  record Case(
      long seed,
      int e,
      int h,
      int g,
      int b,
      int s,
      int t,
      boolean cross,
      boolean causal,
      MaskKind mask,
      int maskRank,
      MaskKind padding) {
    static Case random(long seed) {
      Random r = new Random(seed);
      int g = 1 + r.nextInt(2);
      int h = g * (1 + r.nextInt(2));
      int e = h * (1 + r.nextInt(3));
      boolean cross = r.nextBoolean();
      int s = 1 + r.nextInt(6);
      int t = cross ? 1 + r.nextInt(6) : s;
      MaskKind mask = MaskKind.values()[r.nextInt(3)];
      MaskKind padding = r.nextBoolean() ? MaskKind.BOOL : MaskKind.FLOAT;
      return new Case(
          seed,
          e,
          h,
          g,
          1 + r.nextInt(3),
          s,
          t,
          cross,
          r.nextBoolean(),
          mask,
          2 + r.nextInt(2),
          padding);
    }
  }

  static Stream<Case> cases() {
    return IntStream.range(0, 48).mapToObj(Case::random);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void keyPaddingMaskCombinesWithTheAttentionMaskAsTheReferenceSays(Case c) throws Exception {
    Random r = new Random(c.seed() * 31 + 5);
    double[] q = TestTensors.uniform(r, c.b() * c.s() * c.e());
    double[] k = c.cross() ? TestTensors.uniform(r, c.b() * c.t() * c.e()) : q;
    double[] v = c.cross() ? TestTensors.uniform(r, c.b() * c.t() * c.e()) : q;
    int maskBatch = c.maskRank() == 3 ? c.b() : 1;
    boolean[] keep = new boolean[maskBatch * c.s() * c.t()];
    double[] added = new double[keep.length];
    for (int n = 0; n < keep.length; n++) {
      keep[n] = r.nextInt(4) != 0;
      added[n] = r.nextDouble() * 4 - 2;
    }
    boolean[] padded = new boolean[c.b() * c.t()];
    double[] paddingAdded = new double[padded.length];
    for (int n = 0; n < padded.length; n++) {
      padded[n] = r.nextInt(3) == 0;
      paddingAdded[n] = r.nextInt(5) == 0 ? Double.NEGATIVE_INFINITY : r.nextDouble() * 4 - 2;
    }
    // The reference's additive mask (B, 1, S, T): what each mask adds, summed by hand.
    double[] reference = new double[c.b() * c.s() * c.t()];
    for (int bb = 0; bb < c.b(); bb++) {
      for (int i = 0; i < c.s(); i++) {
        for (int j = 0; j < c.t(); j++) {
          int m = ((maskBatch == 1 ? 0 : bb) * c.s() + i) * c.t() + j;
          double sum =
              switch (c.mask()) {
                case NONE -> 0;
                case BOOL -> keep[m] ? 0 : Double.NEGATIVE_INFINITY;
                case FLOAT -> (float) added[m];
              };
          int p = bb * c.t() + j;
          sum +=
              c.padding() == MaskKind.BOOL
                  ? (padded[p] ? Double.NEGATIVE_INFINITY : 0)
                  : (float) paddingAdded[p];
          reference[(bb * c.s() + i) * c.t() + j] = sum;
        }
      }
    }
    ReferenceAttention.Options options =
        new ReferenceAttention.Options(
            new Tensor(reference, new int[] {c.b(), 1, c.s(), c.t()}), c.causal(), null, null);

    for (AttentionWeights weights : AttentionWeights.values()) {
      MultiHeadAttentionBlock block =
          MultiHeadAttentionBlock.builder()
              .setEmbeddingSize(c.e())
              .setHeads(c.h())
              .optKvHeads(c.g())
              .optCausal(c.causal())
              .optAttentionWeights(weights)
              .optKeyPaddingMask(true)
              .build();
      try (Model model = Model.newInstance("padding", "PyTorch");
          NDManager data = TestTensors.manager()) {
        model.setBlock(block);
        block.initialize(
            model.getNDManager(),
            DataType.FLOAT32,
            new Shape(c.b(), c.s(), c.e()),
            new Shape(c.b(), c.t(), c.e()),
            new Shape(c.b(), c.t(), c.e()));
        MultiHeadAttentionBlockTest.randomizeBiases(block, c.seed());
        NDList inputs = new NDList();
        inputs.add(TestTensors.create(data, q, DataType.FLOAT32, c.b(), c.s(), c.e()));
        if (c.cross()) {
          inputs.add(TestTensors.create(data, k, DataType.FLOAT32, c.b(), c.t(), c.e()));
          inputs.add(TestTensors.create(data, v, DataType.FLOAT32, c.b(), c.t(), c.e()));
        }
        long[] maskShape =
            c.maskRank() == 3 ? new long[] {c.b(), c.s(), c.t()} : new long[] {c.s(), c.t()};
        if (c.mask() == MaskKind.BOOL) {
          inputs.add(data.create(keep, new Shape(maskShape)));
        } else if (c.mask() == MaskKind.FLOAT) {
          inputs.add(TestTensors.create(data, added, DataType.FLOAT32, maskShape));
        }
        NDArray padding =
            c.padding() == MaskKind.BOOL
                ? data.create(padded, new Shape(c.b(), c.t()))
                : TestTensors.create(data, paddingAdded, DataType.FLOAT32, c.b(), c.t());
        inputs.add(padding);
        NDList out;
        try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
          out = predictor.predict(inputs);
        }
        double[][] expected =
            BlockReference.multiHead(block, q, k, v, c.b(), c.s(), c.t(), options);
        String what = c + " " + weights;
        assertClose(what + " output", expected[0], doubles(out.get(0)), 1e-5, 1e-5);
        Shape[] declared =
            block.getOutputShapes(inputs.stream().map(NDArray::getShape).toArray(Shape[]::new));
        assertEquals(declared.length, out.size(), what + " output count");
        for (int n = 0; n < declared.length; n++) {
          assertEquals(declared[n], out.get(n).getShape(), what + " output " + n);
        }
        switch (weights) {
          case NONE -> assertEquals(1, out.size(), what);
          case AVERAGED ->
              assertClose(what + " weights", expected[1], doubles(out.get(1)), 1e-5, 1e-5);
          case PER_HEAD -> {
            assertEquals(new Shape(c.b(), c.h(), c.s(), c.t()), out.get(1).getShape());
            assertClose(what + " head weights", expected[2], doubles(out.get(1)), 1e-5, 1e-5);
          }
        }
      }
    }
  }

  @Test
  void aPaddingKeyHasNoWeightAndItsValueDoesNotReachTheOutput() throws TranslateException {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(8)
            .setHeads(2)
            .optAttentionWeights(AttentionWeights.PER_HEAD)
            .optKeyPaddingMask(true)
            .build();
    try (Model model = Model.newInstance("padding", "PyTorch");
        NDManager data = TestTensors.manager()) {
      model.setBlock(block);
      Shape q = new Shape(2, 3, 8);
      Shape kv = new Shape(2, 4, 8);
      block.initialize(model.getNDManager(), DataType.FLOAT32, q, kv, kv);
      NDArray query = data.randomUniform(-1, 1, q);
      NDArray key = data.randomUniform(-1, 1, kv);
      NDArray value = data.randomUniform(-1, 1, kv);
      // torch's convention: true = padding. Batch 0 pads key 3, batch 1 keys 2 and 3.
      NDArray padding =
          data.create(
              new boolean[] {false, false, false, true, false, false, true, true}, new Shape(2, 4));
      boolean[] paddingBefore = padding.toBooleanArray();
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        NDList out = predictor.predict(new NDList(query, key, value, padding));
        NDArray weights = out.get(1); // (B, H, S, T)
        assertEquals(0f, weights.get(":, :, :, 3").abs().max().getFloat());
        assertEquals(0f, weights.get("1, :, :, 2:").abs().max().getFloat());
        assertTrue(weights.get("0, :, :, 2").min().getFloat() > 0, "key 2 of batch 0 is visible");
        // Another value for the padding keys changes nothing.
        NDArray otherValue = value.duplicate();
        otherValue.set(new ai.djl.ndarray.index.NDIndex("0, 3, :"), 100f);
        otherValue.set(new ai.djl.ndarray.index.NDIndex("1, 2:, :"), -100f);
        NDList again = predictor.predict(new NDList(query, key, otherValue, padding));
        assertClose("padding values", doubles(out.get(0)), doubles(again.get(0)), 0, 0);
      }
      assertArrayEquals(paddingBefore, padding.toBooleanArray(), "the caller's mask is untouched");
      assertSame(data, padding.getManager(), "the caller's mask stays in the caller's manager");
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = AttentionWeights.class,
      names = {"NONE", "AVERAGED"})
  void paddingKeysGetNoGradientInATrainingStep(AttentionWeights weights) {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(8)
            .setHeads(2)
            .optAttentionWeights(weights)
            .optKeyPaddingMask(true)
            .build();
    try (NDManager manager = TestTensors.manager()) {
      Shape kv = new Shape(2, 4, 8);
      block.initialize(manager, DataType.FLOAT32, new Shape(2, 3, 8), kv, kv);
      NDArray query = manager.randomUniform(-1, 1, new Shape(2, 3, 8));
      NDArray key = manager.randomUniform(-1, 1, kv);
      NDArray value = manager.randomUniform(-1, 1, kv);
      key.setRequiresGradient(true);
      value.setRequiresGradient(true);
      NDArray padding =
          manager.create(
              new boolean[] {false, false, true, true, false, false, false, true}, new Shape(2, 4));
      try (ai.djl.training.GradientCollector collector =
          ai.djl.engine.Engine.getInstance().newGradientCollector()) {
        NDList out =
            block.forward(
                new ai.djl.training.ParameterStore(manager, false),
                new NDList(query, key, value, padding),
                true);
        collector.backward(out.get(0).square().sum());
      }
      for (NDArray input : new NDArray[] {key, value}) {
        NDArray gradient = input.getGradient(); // (B, T, E)
        String what = weights + (input == key ? " key" : " value");
        assertEquals(0f, gradient.get("0, 2:, :").abs().max().getFloat(), what + " padded");
        assertEquals(0f, gradient.get("1, 3, :").abs().max().getFloat(), what + " padded");
        assertTrue(gradient.get("0, :2, :").abs().max().getFloat() > 0, what + " visible");
        assertTrue(gradient.get("1, :3, :").abs().max().getFloat() > 0, what + " visible");
      }
      NDArray qGradient = block.getParameters().get("q_proj.weight").getArray().getGradient();
      assertTrue(qGradient.abs().max().getFloat() > 0, "q_proj.weight learns");
    }
  }

  @Test
  void aRowWithEveryKeyPaddedGivesZeros() throws TranslateException {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(4)
            .setHeads(2)
            .optBias(false)
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .optKeyPaddingMask(true)
            .build();
    try (Model model = Model.newInstance("padding", "PyTorch");
        NDManager data = TestTensors.manager()) {
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 3, 4));
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        NDList out =
            predictor.predict(
                new NDList(
                    data.randomUniform(-1, 1, new Shape(1, 3, 4)),
                    data.ones(new Shape(1, 3), DataType.BOOLEAN)));
        assertEquals(0f, out.get(0).abs().max().getFloat(), "output");
        assertEquals(0f, out.get(1).abs().max().getFloat(), "weights");
      }
    }
  }

  @ParameterizedTest
  @EnumSource(AttentionWeights.class)
  void selfAttentionBlockTakesAKeyPaddingMask(AttentionWeights weights) throws Exception {
    int e = 6;
    int d = 4;
    int batch = 2;
    int length = 5;
    SelfAttentionBlock block =
        SelfAttentionBlock.builder()
            .setEmbeddingSize(e)
            .optHeadSize(d)
            .optBias(true)
            .optCausal(true)
            .optAttentionWeights(weights)
            .optKeyPaddingMask(true)
            .build();
    Random r = new Random(3);
    double[] x = TestTensors.uniform(r, batch * length * e);
    boolean[] keep = new boolean[length * length];
    for (int n = 0; n < keep.length; n++) {
      keep[n] = r.nextInt(4) != 0;
    }
    double[] padding = {0, 0, 0, -1.5, Double.NEGATIVE_INFINITY, 0.5, 0, 0, 0, 0};
    double[] reference = new double[batch * length * length];
    for (int b = 0; b < batch; b++) {
      for (int i = 0; i < length; i++) {
        for (int j = 0; j < length; j++) {
          reference[(b * length + i) * length + j] =
              (keep[i * length + j] ? 0 : Double.NEGATIVE_INFINITY) + padding[b * length + j];
        }
      }
    }
    try (Model model = Model.newInstance("seed", "PyTorch");
        NDManager data = TestTensors.manager()) {
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(batch, length, e));
      MultiHeadAttentionBlockTest.randomizeBiases(block, 9);
      NDList out;
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        out =
            predictor.predict(
                new NDList(
                    TestTensors.create(data, x, DataType.FLOAT32, batch, length, e),
                    data.create(keep, new Shape(length, length)),
                    TestTensors.create(data, padding, DataType.FLOAT32, batch, length)));
      }
      int rows = batch * length;
      double[][] projected = new double[3][];
      String[] names = {"W_q", "W_k", "W_v"};
      for (int n = 0; n < 3; n++) {
        projected[n] =
            BlockReference.linear(
                x,
                rows,
                BlockReference.param(block, names[n] + ".weight"),
                BlockReference.param(block, names[n] + ".bias"),
                e,
                d);
      }
      ReferenceAttention.Result expected =
          ReferenceAttention.attention(
              BlockReference.splitHeads(projected[0], batch, length, 1, d),
              BlockReference.splitHeads(projected[1], batch, length, 1, d),
              BlockReference.splitHeads(projected[2], batch, length, 1, d),
              new ReferenceAttention.Options(
                  new Tensor(reference, new int[] {batch, 1, length, length}), true, null, null));
      assertClose(weights + " output", expected.output().data(), doubles(out.get(0)), 1e-5, 1e-5);
      switch (weights) {
        case NONE -> assertEquals(1, out.size());
        case AVERAGED -> {
          assertEquals(new Shape(batch, length, length), out.get(1).getShape());
          assertClose("weights", expected.weights().data(), doubles(out.get(1)), 1e-5, 1e-5);
        }
        case PER_HEAD -> {
          assertEquals(new Shape(batch, 1, length, length), out.get(1).getShape());
          assertClose("weights", expected.weights().data(), doubles(out.get(1)), 1e-5, 1e-5);
        }
      }
    }
  }

  @Test
  void bothBlocksReturnTheOutputAloneUnlessAsked() throws TranslateException {
    for (AttentionBlock block :
        new AttentionBlock[] {
          SelfAttentionBlock.builder().setEmbeddingSize(8).build(),
          MultiHeadAttentionBlock.builder().setEmbeddingSize(8).setHeads(2).build()
        }) {
      assertEquals(AttentionWeights.NONE, block.getAttentionWeights(), block.toString());
      assertTrue(!block.isIncludeKeyPaddingMask(), block.toString());
      try (Model model = Model.newInstance("defaults", "PyTorch");
          NDManager data = TestTensors.manager()) {
        model.setBlock(block);
        block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(1, 3, 8));
        try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
          NDList out = predictor.predict(new NDList(data.ones(new Shape(1, 3, 8))));
          assertEquals(1, out.size(), block + " outputs");
          assertEquals(1, block.getOutputShapes(new Shape[] {new Shape(1, 3, 8)}).length);
        }
      }
    }
  }

  @Test
  void keyPaddingMasksOfTheWrongShapeOrTypeAreNamed() {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(8)
            .setHeads(2)
            .optKeyPaddingMask(true)
            .build();
    try (Model model = Model.newInstance("padding", "PyTorch");
        NDManager data = TestTensors.manager()) {
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(2, 3, 8));
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        NDArray x = data.ones(new Shape(2, 3, 8));
        NDArray kv = data.ones(new Shape(2, 5, 8));
        refused(
            predictor,
            new NDList(x, kv, kv, data.zeros(new Shape(2, 3), DataType.BOOLEAN)),
            "key-padding mask must be (B, T) = (2, 5)",
            "(2, 3)");
        refused(
            predictor,
            new NDList(x, data.zeros(new Shape(2, 3), DataType.INT32)),
            "key-padding mask",
            "int32");
        refused(predictor, new NDList(x), "then the key-padding mask");
      }
    }
  }

  private static void refused(Predictor<NDList, NDList> predictor, NDList inputs, String... parts) {
    Exception e = assertThrows(Exception.class, () -> predictor.predict(inputs));
    Throwable cause = e;
    while (cause.getCause() != null && !(cause instanceof IllegalArgumentException)) {
      cause = cause.getCause();
    }
    String message = String.valueOf(cause.getMessage());
    for (String part : parts) {
      assertTrue(message.contains(part), Arrays.toString(parts) + " in: " + message);
    }
  }

  @Test
  void builderRefusesNullWeights() {
    assertTrue(
        assertThrows(
                IllegalArgumentException.class,
                () ->
                    MultiHeadAttentionBlock.builder()
                        .setEmbeddingSize(8)
                        .setHeads(2)
                        .optAttentionWeights(null)
                        .build())
            .getMessage()
            .contains("NONE, AVERAGED or PER_HEAD"));
    assertTrue(
        assertThrows(
                IllegalArgumentException.class,
                () ->
                    SelfAttentionBlock.builder()
                        .setEmbeddingSize(8)
                        .optAttentionWeights(null)
                        .build())
            .getMessage()
            .contains("NONE, AVERAGED or PER_HEAD"));
  }
}
