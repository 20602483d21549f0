package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import io.github.djlattention.io.Npz;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code seed} prints the document's numbers, each step beside its PyTorch line. */
class SeedCommandTest {

  private static final JsonNode SEED = TestTensors.json("/seed/seed-golden.json");

  private static CliRun run;

  @BeforeAll
  static void runSeed() {
    run = CliRun.of("seed");
  }

  @Test
  void exitsZeroWithNothingOnStderr() {
    assertEquals(ExitCodes.OK, run.exitCode(), run::toString);
    assertEquals("", run.err());
  }

  @Test
  void printsTheDotProduct47() {
    assertTrue(
        run.out().contains("   = " + SEED.get("dot").get("score").asDouble()), run::toString);
  }

  @Test
  void printsTheDocumentsScoresAndWeightsAsPyTorchDid() {
    for (String key : List.of("scores", "weights")) {
      for (String row : rows(TestTensors.matrix(SEED.get(key)))) {
        assertTrue(run.out().contains(row), () -> key + " row " + row + " missing in\n" + run);
      }
    }
  }

  @Test
  void printsTheScaledWeightsOfTheGoldenFile() {
    try (NDManager manager = TestTensors.manager()) {
      NDArray scaled =
          Npz.read(manager, Path.of("models", "seed", "expected.npz")).get("weights_scaled");
      for (String row : rows(TestTensors.doubles(scaled))) {
        assertTrue(run.out().contains(row), () -> "scaled row " + row + " missing in\n" + run);
      }
    }
  }

  @Test
  void labelsEveryStepWithItsPyTorchLine() {
    for (String line :
        List.of(
            "PyTorch: Attention_Scores = torch.matmul(Q, K.T)",
            "PyTorch: Attention_Weights = F.softmax(Attention_Scores, dim=-1)",
            "PyTorch: F.softmax(Attention_Scores, dim=0)",
            "PyTorch: attn_scores_scaled = torch.matmul(Q, K.T) / (d_k ** 0.5)",
            "PyTorch: output = torch.matmul(attn_weights_scaled, V)")) {
      assertTrue(run.out().contains(line), () -> line + " missing in\n" + run);
    }
    assertTrue(run.out().contains("column sums [1.0000, 1.0000, 1.0000]"), run::toString);
  }

  @Test
  void oneCallAgreesWithTheSteps() {
    assertTrue(run.out().contains("max |result.output() - output| = 0.0000"), run::toString);
  }

  /** Formats a 3×3 row-major matrix as the bracketed rows PyTorch prints, 4 decimals. */
  private static List<String> rows(double[] matrix) {
    List<String> rows = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      rows.add(
          String.format(
              Locale.ROOT,
              "[%.4f, %.4f, %.4f]",
              matrix[3 * i],
              matrix[3 * i + 1],
              matrix[3 * i + 2]));
    }
    return rows;
  }
}
