package io.github.djlattention.blocks;

import static io.github.djlattention.testing.TestTensors.assertClose;
import static io.github.djlattention.testing.TestTensors.doubles;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import io.github.djlattention.io.Npz;
import io.github.djlattention.testing.ReferenceModels;
import io.github.djlattention.testing.TestTensors;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The key acceptance test of weight import: a block loaded from each PyTorch {@code state_dict.npz}
 * in {@code models/} reproduces PyTorch's {@code outputs.npz} (output and head-averaged weights)
 * from {@code inputs.npz}.
 */
class StateDictsModelsTest {

  private static final double TOLERANCE = 1e-5;
  private static double worst;

  static List<ReferenceModels.Model> models() {
    return ReferenceModels.all();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("models")
  void loadedBlockReproducesPyTorch(ReferenceModels.Model model) {
    try (NDManager manager = TestTensors.manager()) {
      Map<String, NDArray> stateDict = Npz.read(manager, model.dir().resolve("state_dict.npz"));
      Map<String, NDArray> inputs = Npz.read(manager, model.dir().resolve("inputs.npz"));
      Map<String, NDArray> expected = Npz.read(manager, model.dir().resolve("outputs.npz"));
      Block block =
          StateDicts.load(
              manager, stateDict, model.heads(), model.causal(), AttentionWeights.AVERAGED);
      assertEquals(
          model.heads() == 0 ? SelfAttentionBlock.class : MultiHeadAttentionBlock.class,
          block.getClass());
      NDList outputs =
          block.forward(
              new ParameterStore(manager, false),
              new NDList(inputs.values().toArray(new NDArray[0])),
              false);
      compare(model + " output", expected.get("output"), outputs.get(0));
      compare(model + " weights", expected.get("weights"), outputs.get(1));
    }
  }

  private static void compare(String what, NDArray expected, NDArray actual) {
    assertEquals(expected.getShape(), actual.getShape(), what + " shape");
    double[] want = doubles(expected);
    double[] got = doubles(actual);
    assertClose(what, want, got, TOLERANCE, 0);
    synchronized (StateDictsModelsTest.class) {
      worst = Math.max(worst, TestTensors.maxAbsError(want, got));
    }
  }

  @AfterAll
  static void printWorst() {
    System.out.printf("state dict import vs PyTorch: max abs error %.3e%n", worst);
  }
}
