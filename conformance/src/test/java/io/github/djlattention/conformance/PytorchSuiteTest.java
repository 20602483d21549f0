package io.github.djlattention.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.ort.OrtDevice;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Runs the {@code pytorch} suite: the block loaded from each reference model's state dict must
 * reproduce PyTorch's eager outputs.
 */
class PytorchSuiteTest {

  private static NDManager manager;
  private static SuiteResult result;

  @BeforeAll
  static void runSuite() {
    manager = NDManager.newBaseManager(Device.cpu());
    result =
        new ConformanceRunner(manager)
            .run(PytorchSuite.standard(PytorchModels.DEFAULT_DIRECTORY, OrtDevice.CPU, 1));
  }

  @AfterAll
  static void close() {
    manager.close();
  }

  @TestFactory
  Stream<DynamicTest> blockReproducesPytorch() {
    return result.cases().stream()
        .map(
            c ->
                DynamicTest.dynamicTest(
                    c.name(),
                    () ->
                        assertTrue(
                            c.project().agrees(),
                            () -> c.name() + ": " + c.project().explanation())));
  }

  @Test
  void runsEveryModelOfTheManifest() {
    assertEquals(9, result.total());
    assertEquals(0, result.skipped());
    assertTrue(result.cases().stream().anyMatch(c -> c.name().equals("mha_causal")));
  }

  @Test
  void onnxRuntimeAgreesOnPytorchsGraphsAndOnBothExports() {
    for (String implementation :
        new String[] {
          PytorchOnnxImplementation.NAME,
          ExportedOnnxImplementation.name(17),
          ExportedOnnxImplementation.name(23)
        }) {
      assertEquals(9, result.ran(implementation), implementation);
      assertEquals(9, result.agreeing(implementation), implementation);
    }
  }

  @Test
  void reportsTheWorstElementOfEachOutput() {
    CaseResult causal =
        result.cases().stream()
            .filter(c -> c.name().equals("mha_causal"))
            .findFirst()
            .orElseThrow();
    Comparison weights = causal.project().comparisons().get(1);
    assertEquals("weights", weights.output());
    assertEquals(3, weights.elements().worst().index().length);
    double maxAbs = weights.elements().statistics().maxAbsError();
    assertTrue(maxAbs < 1e-6, () -> "max abs " + maxAbs);
  }
}
