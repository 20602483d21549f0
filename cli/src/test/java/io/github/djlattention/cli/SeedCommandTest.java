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
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code seed} prints the document's numbers, each step beside its PyTorch line. */
class SeedCommandTest {

  /** A printed tensor row of three numbers: {@code [0.2082, 0.3663, 0.4255]}. */
  private static final Pattern PRINTED_ROW =
      Pattern.compile("\\[(-?[0-9.]+), (-?[0-9.]+), (-?[0-9.]+)\\]");

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
      assertPrintsRows(key, TestTensors.matrix(SEED.get(key)));
    }
  }

  @Test
  void printsTheScaledWeightsOfTheGoldenFile() {
    try (NDManager manager = TestTensors.manager()) {
      NDArray scaled =
          Npz.read(manager, Path.of("models", "seed", "expected.npz")).get("weights_scaled");
      assertPrintsRows("scaled", TestTensors.doubles(scaled));
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

  /**
   * Asserts that every row of a 3×3 row-major matrix is printed, to the 4 decimals PyTorch prints:
   * within half a unit of the last decimal plus float32 rounding, so a value on a rounding boundary
   * (0.42555) may print either way on CPUs that round the last bit differently.
   */
  private void assertPrintsRows(String what, double[] matrix) {
    List<double[]> printed = new ArrayList<>();
    Matcher m = PRINTED_ROW.matcher(run.out());
    while (m.find()) {
      printed.add(
          new double[] {
            Double.parseDouble(m.group(1)),
            Double.parseDouble(m.group(2)),
            Double.parseDouble(m.group(3))
          });
    }
    for (int i = 0; i < 3; i++) {
      double[] row = Arrays.copyOfRange(matrix, 3 * i, 3 * i + 3);
      boolean found = false;
      for (double[] candidate : printed) {
        boolean close = true;
        for (int j = 0; j < 3; j++) {
          close &= Math.abs(candidate[j] - row[j]) <= 0.5e-4 + 1e-6;
        }
        found |= close;
      }
      assertTrue(found, () -> what + " row " + Arrays.toString(row) + " missing in\n" + run);
    }
  }
}
