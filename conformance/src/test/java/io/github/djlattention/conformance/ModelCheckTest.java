package io.github.djlattention.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.djlattention.compare.ElementComparison;
import io.github.djlattention.compare.Tolerance;
import io.github.djlattention.io.Npz;
import io.github.djlattention.ort.OrtDevice;
import io.github.djlattention.testing.ReferenceModels;
import io.github.djlattention.testing.TestTensors;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** {@link ModelCheck} as a library call on the PyTorch reference models. */
class ModelCheckTest {

  @TempDir Path dir;

  static List<ReferenceModels.Model> models() {
    return ReferenceModels.all();
  }

  private static ModelCheck.Builder builder(ReferenceModels.Model model) {
    Path d = model.dir();
    ModelCheck.Builder builder =
        ModelCheck.builder()
            .setModel(d.resolve("model.onnx"))
            .setWeights(d.resolve("state_dict.npz"))
            .setInputs(d.resolve("inputs.npz"))
            .optExpected(d.resolve("outputs.npz"))
            .optCausal(model.causal());
    if (model.heads() > 0) {
      builder.optHeads(model.heads());
    }
    return builder;
  }

  private static ReferenceModels.Model model(String name) {
    return models().stream().filter(m -> m.name().equals(name)).findFirst().orElseThrow();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("models")
  void everyReferenceModelPassesAllThreePairs(ReferenceModels.Model model) {
    ModelCheck.Result result = builder(model).build().run();
    assertTrue(result.passed(), () -> model + ": " + result);
    assertEquals(
        List.of(ModelCheck.DJL_VS_ORT, ModelCheck.DJL_VS_EXPECTED, ModelCheck.ORT_VS_EXPECTED),
        List.copyOf(result.pairs().keySet()));
    assertEquals(OrtDevice.CPU, result.device());
    assertEquals(new Tolerance(0, ModelCheck.DEFAULT_ATOL), result.tolerance());
    for (ModelCheck.Pair pair : result.pairs().values()) {
      assertEquals(
          List.of("output", "weights"), pair.outputs().stream().map(Comparison::output).toList());
      for (Comparison c : pair.outputs()) {
        ElementComparison.Statistics s = c.elements().statistics();
        assertTrue(s.maxAbsError() <= ModelCheck.DEFAULT_ATOL, pair.name() + " " + c.output());
        assertTrue(s.cosineSimilarity() > 0.999999, pair.name() + " " + c.output());
      }
    }
  }

  @Test
  void aWrongCausalFlagFailsTheDjlPairsOnly() {
    ModelCheck.Result result = builder(model("mha_causal")).optCausal(false).build().run();
    assertFalse(result.passed());
    assertFalse(result.pairs().get(ModelCheck.DJL_VS_ORT).passed());
    assertFalse(result.pairs().get(ModelCheck.DJL_VS_EXPECTED).passed());
    assertTrue(result.pairs().get(ModelCheck.ORT_VS_EXPECTED).passed());
    Optional<Comparison> worst = result.pairs().get(ModelCheck.DJL_VS_ORT).worst();
    assertTrue(worst.isPresent());
    assertFalse(worst.get().agrees());
    assertTrue(worst.get().elements().mismatched() > 0);
  }

  @Test
  void withoutExpectedOutputsOnlyTheDjlOrtPairRuns() {
    ModelCheck.Result result = builder(model("mha_self_bias")).optExpected(null).build().run();
    assertEquals(List.of(ModelCheck.DJL_VS_ORT), List.copyOf(result.pairs().keySet()));
    assertTrue(result.passed());
  }

  @Test
  void aPairWithNoOutputInCommonFails() {
    Path renamed = dir.resolve("outputs.npz");
    rewrite(
        model("mha_self_bias").dir().resolve("outputs.npz"), renamed, n -> "other_" + n, a -> a);
    ModelCheck.Result result = builder(model("mha_self_bias")).optExpected(renamed).build().run();
    assertTrue(result.pairs().get(ModelCheck.DJL_VS_ORT).passed());
    ModelCheck.Pair none = result.pairs().get(ModelCheck.DJL_VS_EXPECTED);
    assertTrue(none.outputs().isEmpty());
    assertFalse(none.passed());
    assertTrue(none.worst().isEmpty());
    assertFalse(result.passed());
  }

  @Test
  void inputsTheBlockCannotTakeAndBadSettingsAreNamed() {
    Path ints = dir.resolve("inputs.npz");
    rewrite(
        model("mha_self_bias").dir().resolve("inputs.npz"),
        ints,
        n -> n,
        a -> a.toType(DataType.INT64, false));
    IllegalArgumentException integer =
        assertThrows(
            IllegalArgumentException.class,
            () -> builder(model("mha_self_bias")).setInputs(ints).build().run());
    assertTrue(
        integer.getMessage().contains("is int64; the block runs float32"), integer.getMessage());
    IllegalArgumentException atol =
        assertThrows(IllegalArgumentException.class, () -> ModelCheck.builder().optAtol(-1));
    assertTrue(atol.getMessage().contains("atol must be finite"), atol.getMessage());
    IllegalArgumentException unset =
        assertThrows(IllegalArgumentException.class, () -> ModelCheck.builder().build());
    assertTrue(unset.getMessage().contains("setModel, setWeights and setInputs"));
  }

  /** Writes {@code source}'s arrays to {@code target}, renamed and changed. */
  private static void rewrite(
      Path source, Path target, UnaryOperator<String> name, UnaryOperator<NDArray> value) {
    try (NDManager m = TestTensors.manager()) {
      Map<String, NDArray> arrays = new LinkedHashMap<>();
      Npz.read(m, source).forEach((n, a) -> arrays.put(name.apply(n), value.apply(a)));
      Npz.write(target, arrays);
    }
  }
}
