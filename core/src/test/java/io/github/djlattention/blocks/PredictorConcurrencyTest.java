package io.github.djlattention.blocks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.translate.NoopTranslator;
import ai.djl.translate.TranslateException;
import io.github.djlattention.testing.TestTensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One DJL {@link Model} used from several threads, each through its own {@link Predictor}, gives
 * for every input exactly the bytes that one predictor gives serially.
 */
class PredictorConcurrencyTest {

  private static final int THREADS = 4;
  private static final int INPUTS = 60;

  @Test
  void separatePredictorsOnOneModelGiveTheSerialResults() throws Exception {
    MultiHeadAttentionBlock block =
        MultiHeadAttentionBlock.builder()
            .setEmbeddingSize(16)
            .setHeads(4)
            .optKvHeads(2)
            .optCausal(true)
            .optAttentionWeights(AttentionWeights.AVERAGED)
            .build();
    List<float[]> inputs = new ArrayList<>();
    Random random = new Random(23);
    for (int n = 0; n < INPUTS; n++) {
      float[] x = new float[2 * 7 * 16];
      for (int i = 0; i < x.length; i++) {
        x[i] = random.nextFloat() * 2 - 1;
      }
      inputs.add(x);
    }
    try (Model model = Model.newInstance("concurrency", "PyTorch");
        NDManager data = TestTensors.manager()) {
      model.setBlock(block);
      block.initialize(model.getNDManager(), DataType.FLOAT32, new Shape(2, 7, 16));
      MultiHeadAttentionBlockTest.randomizeBiases(block, 29);
      float[][] serial = new float[INPUTS][];
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        for (int n = 0; n < INPUTS; n++) {
          serial[n] = predict(predictor, data, inputs.get(n));
        }
      }
      ExecutorService pool = Executors.newFixedThreadPool(THREADS);
      try {
        List<Future<float[][]>> results = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
          int thread = t;
          Callable<float[][]> work =
              () -> {
                float[][] out = new float[INPUTS][];
                try (Predictor<NDList, NDList> predictor =
                    model.newPredictor(new NoopTranslator())) {
                  // each thread walks the inputs from its own starting point
                  for (int n = 0; n < INPUTS; n++) {
                    int index = (n + thread * 17) % INPUTS;
                    out[index] = predict(predictor, data, inputs.get(index));
                  }
                }
                return out;
              };
          results.add(pool.submit(work));
        }
        for (int t = 0; t < THREADS; t++) {
          float[][] parallel = results.get(t).get(120, TimeUnit.SECONDS);
          for (int n = 0; n < INPUTS; n++) {
            assertArrayEquals(serial[n], parallel[n], "input " + n + " on thread " + t);
          }
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }

  /**
   * Predictors of one model share one mask array, as DJL applications share a padding mask (issue
   * 10): thousands of calls on 8 threads, no exception, the mask untouched and still the caller's,
   * every result bit-identical to the serial one. The block runs the fast path (no weights).
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"MultiHeadAttentionBlock", "SelfAttentionBlock"})
  void predictorsSharingOneMaskLeaveItTheCallersAndGiveTheSerialResults(String kind)
      throws Exception {
    AbstractBlock block =
        kind.equals("SelfAttentionBlock")
            ? SelfAttentionBlock.builder().setEmbeddingSize(64).build()
            : MultiHeadAttentionBlock.builder().setEmbeddingSize(64).setHeads(4).build();
    try (Model model = Model.newInstance("shared-mask", "PyTorch");
        NDManager shared = TestTensors.manager()) {
      model.setBlock(block);
      Shape shape = new Shape(1, 48, 64);
      block.initialize(model.getNDManager(), DataType.FLOAT32, shape);
      NDArray x = shared.randomNormal(shape);
      NDArray mask = shared.randomUniform(0, 1, new Shape(48, 48)).gt(0.3); // (S, T)
      boolean[] maskBefore = mask.toBooleanArray();
      float[] serial;
      try (Predictor<NDList, NDList> predictor = model.newPredictor(new NoopTranslator())) {
        serial = predictShared(predictor, x, mask);
      }
      ExecutorService pool = Executors.newFixedThreadPool(8);
      try {
        List<Future<Integer>> results = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
          results.add(
              pool.submit(
                  () -> {
                    int mismatches = 0;
                    try (Predictor<NDList, NDList> predictor =
                        model.newPredictor(new NoopTranslator())) {
                      for (int n = 0; n < 200; n++) {
                        float[] out = predictShared(predictor, x, mask);
                        mismatches += Arrays.equals(serial, out) ? 0 : 1;
                      }
                    }
                    return mismatches;
                  }));
        }
        int mismatches = 0;
        for (Future<Integer> result : results) {
          mismatches += result.get(300, TimeUnit.SECONDS);
        }
        assertEquals(0, mismatches, "calls unlike the serial one");
      } finally {
        pool.shutdownNow();
      }
      assertSame(shared, mask.getManager());
      assertSame(shared, x.getManager());
      assertArrayEquals(maskBefore, mask.toBooleanArray());
    }
  }

  private static float[] predictShared(Predictor<NDList, NDList> predictor, NDArray x, NDArray mask)
      throws TranslateException {
    NDList out = predictor.predict(new NDList(x, mask));
    try {
      return out.get(0).toFloatArray();
    } finally {
      out.close();
    }
  }

  private static float[] predict(Predictor<NDList, NDList> predictor, NDManager data, float[] x)
      throws TranslateException {
    try (NDManager scope = data.newSubManager()) {
      NDList out = predictor.predict(new NDList(scope.create(x, new Shape(2, 7, 16))));
      float[] output = out.get(0).toFloatArray();
      float[] weights = out.get(1).toFloatArray();
      float[] both = new float[output.length + weights.length];
      System.arraycopy(output, 0, both, 0, output.length);
      System.arraycopy(weights, 0, both, output.length, weights.length);
      out.close();
      return both;
    }
  }
}
