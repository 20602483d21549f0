package io.github.djlattention.ops;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static io.github.djlattention.testing.TestTensors.matrix;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import io.github.djlattention.testing.TestTensors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The seed document's printed tensors, reproduced step by step. */
class SeedStepsTest {

  private static final JsonNode SEED = TestTensors.json("/seed/seed-golden.json");

  /** PyTorch printed 4 decimals: anything within half a unit of the last place agrees. */
  private static final double PRINTED = 0.5e-4 + 1e-7;

  private NDManager manager;
  private NDArray q;
  private NDArray k;

  @BeforeEach
  void setUp() {
    manager = TestTensors.manager();
    q = manager.create(toFloats(matrix(SEED.get("q"))), new Shape(3, 4));
    k = manager.create(toFloats(matrix(SEED.get("k"))), new Shape(3, 4));
  }

  @AfterEach
  void tearDown() {
    manager.close();
  }

  @Test
  void dotProductOfTwoTasteVectorsIs47() {
    JsonNode dot = SEED.get("dot");
    NDArray me = manager.create(toFloats(matrix(wrap(dot.get("me")))), new Shape(1, 4));
    NDArray cheolsu = manager.create(toFloats(matrix(wrap(dot.get("cheolsu")))), new Shape(1, 4));
    NDArray score = Attention.dotProductScores(me, cheolsu);
    assertEquals(new Shape(1, 1), score.getShape());
    assertEquals(dot.get("score").asDouble(), score.getFloat(0, 0), 0.0);
  }

  @Test
  void scoresMatchTheSeed() {
    NDArray scores = Attention.dotProductScores(q, k); // torch.matmul(Q, K.T)
    assertEquals(new Shape(3, 3), scores.getShape());
    assertClose("scores", matrix(SEED.get("scores")), doubles(scores), PRINTED, 0);
  }

  @Test
  void softmaxOverTheLastAxisMatchesTheSeed() {
    NDArray scores = Attention.dotProductScores(q, k);
    NDArray weights = Attention.softmax(scores, -1); // F.softmax(scores, dim=-1)
    assertClose("weights", matrix(SEED.get("weights")), doubles(weights), PRINTED, 0);
    assertClose(
        "dim=1 is dim=-1 for a matrix",
        doubles(weights),
        doubles(Attention.softmax(scores, 1)),
        0,
        0);
  }

  @Test
  void softmaxOverAxisZeroNormalizesColumns() {
    NDArray weights = Attention.softmax(Attention.dotProductScores(q, k), 0);
    double[] columnSums = doubles(weights.sum(new int[] {0}));
    assertClose("column sums", new double[] {1, 1, 1}, columnSums, 1e-6, 0);
    double[] rowSums = doubles(weights.sum(new int[] {1}));
    assertTrue(Math.abs(rowSums[0] - 1) > 1e-3, "dim=0 must not normalize rows");
  }

  @Test
  void wholeAttentionWithScaleOneAndIdentityValuesReturnsTheSeedWeights() {
    NDArray identity = manager.eye(3);
    AttentionResult result =
        Attention.attention(q, k, identity, AttentionOptions.builder().optScale(1).build());
    assertClose("weights", matrix(SEED.get("weights")), doubles(result.weights()), PRINTED, 0);
    assertClose(
        "output = weights · I", doubles(result.weights()), doubles(result.output()), 1e-7, 0);
  }

  @Test
  void defaultScaleIsOneOverSqrtDk() {
    NDArray scaled = Attention.scaledDotProductScores(q, k);
    double[] expected = matrix(SEED.get("scores"));
    for (int n = 0; n < expected.length; n++) {
      expected[n] /= 2; // √4
    }
    assertClose("scores / √d_k", expected, doubles(scaled), PRINTED / 2, 0);
    AttentionResult result = Attention.attention(q, k, manager.eye(3));
    assertClose(
        "attention uses 1/√4 by default",
        doubles(Attention.softmax(scaled, -1)),
        doubles(result.weights()),
        1e-7,
        0);
  }

  @Test
  void scalingByRootDkFlattensTheWeights() {
    JsonNode example = SEED.get("scaling_example");
    double dk = example.get("d_k").asDouble();
    NDArray unscaled = manager.create(matrix(example.get("scores_unscaled")), new Shape(3, 3));
    NDArray scaled = unscaled.div(Math.sqrt(dk));
    assertClose("scores / √64", matrix(example.get("scores_scaled")), doubles(scaled), PRINTED, 0);
    NDArray flat = Attention.softmax(scaled, -1);
    NDArray sharp = Attention.softmax(unscaled, -1);
    assertClose(
        "weights (no scaling)", matrix(example.get("weights_unscaled")), doubles(sharp), 2e-4, 0);
    assertClose("weights (scaled)", matrix(example.get("weights_scaled")), doubles(flat), 2e-4, 0);
    double[] flatMax = doubles(flat.max(new int[] {-1}));
    double[] sharpMax = doubles(sharp.max(new int[] {-1}));
    for (int row = 0; row < 3; row++) {
      assertTrue(
          flatMax[row] < sharpMax[row],
          "row " + row + ": scaled max weight " + flatMax[row] + " vs unscaled " + sharpMax[row]);
    }
  }

  private static float[] toFloats(double[] values) {
    float[] floats = new float[values.length];
    for (int n = 0; n < values.length; n++) {
      floats[n] = (float) values[n];
    }
    return floats;
  }

  private static JsonNode wrap(JsonNode row) {
    return new com.fasterxml.jackson.databind.ObjectMapper().createArrayNode().add(row);
  }
}
