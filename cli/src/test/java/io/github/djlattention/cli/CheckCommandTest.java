package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.testing.ReferenceModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** {@code check} on the PyTorch reference models: passes, fails, and rejects bad input. */
class CheckCommandTest {

  @TempDir Path dir;

  static List<ReferenceModels.Model> models() {
    return ReferenceModels.all();
  }

  static List<String> args(ReferenceModels.Model model, String... extra) {
    Path d = model.dir();
    List<String> args =
        new ArrayList<>(List.of("check", "--onnx", d.resolve("model.onnx").toString()));
    args.addAll(List.of("--weights", d.resolve("state_dict.npz").toString()));
    args.addAll(List.of("--inputs", d.resolve("inputs.npz").toString()));
    args.addAll(List.of("--expected", d.resolve("outputs.npz").toString()));
    if (model.heads() > 0) {
      args.addAll(List.of("--heads", Integer.toString(model.heads())));
    }
    if (model.causal()) {
      args.add("--causal");
    }
    args.addAll(List.of(extra));
    return args;
  }

  private static ReferenceModels.Model model(String name) {
    return ReferenceModels.all().stream()
        .filter(m -> m.name().equals(name))
        .findFirst()
        .orElseThrow();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("models")
  void everyReferenceModelPassesAgainstPyTorch(ReferenceModels.Model model) throws Exception {
    Path json = dir.resolve("report.json");
    CliRun run = CliRun.of(args(model, "--json", json.toString()).toArray(new String[0]));
    assertEquals(0, run.exitCode(), run.toString());
    JsonNode report = new ObjectMapper().readTree(json.toFile());
    assertTrue(report.get("passed").asBoolean());
    for (String pair : List.of("djl_vs_ort", "djl_vs_expected", "ort_vs_expected")) {
      JsonNode node = report.get(pair);
      assertTrue(node.get("passed").asBoolean(), pair);
      assertTrue(node.get("max_abs").asDouble() <= 1e-4, pair);
      assertEquals(3, node.get("worst_index").size(), pair);
      assertEquals(List.of("output", "weights"), fieldNames(node.get("outputs")), pair);
    }
  }

  private static List<String> fieldNames(JsonNode node) {
    List<String> names = new ArrayList<>();
    node.fieldNames().forEachRemaining(names::add);
    return names;
  }

  @Test
  void aWrongBlockFailsWithExitOne() throws Exception {
    // mha_causal checked without --causal: the DJL block attends to future keys.
    ReferenceModels.Model causal = model("mha_causal");
    List<String> args = args(causal, "--json", dir.resolve("r.json").toString());
    args.remove("--causal");
    CliRun run = CliRun.of(args.toArray(new String[0]));
    assertEquals(1, run.exitCode(), run.toString());
    assertTrue(run.out().contains("FAIL"), run.out());
    JsonNode report = new ObjectMapper().readTree(dir.resolve("r.json").toFile());
    assertFalse(report.get("djl_vs_ort").get("passed").asBoolean());
    assertTrue(report.get("ort_vs_expected").get("passed").asBoolean());
  }

  @Test
  void inputsThatDoNotMatchTheModelAreBadInput() throws Exception {
    // mha_float_mask's model takes attn_mask; mha_self_bias's inputs lack it.
    ReferenceModels.Model masked = model("mha_float_mask");
    List<String> args = args(masked);
    int i = args.indexOf("--inputs");
    args.set(i + 1, model("mha_self_bias").dir().resolve("inputs.npz").toString());
    CliRun missing = CliRun.of(args.toArray(new String[0]));
    assertEquals(2, missing.exitCode(), missing.toString());
    assertEquals(1, missing.errLines().size(), missing.toString());
    assertTrue(missing.err().contains("missing [attn_mask]"), missing.err());

    ReferenceModels.Model plain = model("mha_self_bias");
    List<String> extraArgs = args(plain);
    int j = extraArgs.indexOf("--inputs");
    extraArgs.set(j + 1, masked.dir().resolve("inputs.npz").toString());
    CliRun extra = CliRun.of(extraArgs.toArray(new String[0]));
    assertEquals(2, extra.exitCode(), extra.toString());
    assertTrue(extra.err().contains("extra [attn_mask]"), extra.err());
  }

  @Test
  void missingHeadsAndMissingFilesAreBadInputAndWriteNoReport() {
    Path json = dir.resolve("report.json");
    List<String> args = args(model("mha_cross"), "--json", json.toString());
    int i = args.indexOf("--heads");
    args.remove(i + 1);
    args.remove(i);
    CliRun noHeads = CliRun.of(args.toArray(new String[0]));
    assertEquals(2, noHeads.exitCode(), noHeads.toString());
    assertTrue(noHeads.err().contains("heads"), noHeads.err());

    List<String> missingFile = args(model("mha_cross"), "--json", json.toString());
    missingFile.set(missingFile.indexOf("--weights") + 1, dir.resolve("nope.npz").toString());
    CliRun noFile = CliRun.of(missingFile.toArray(new String[0]));
    assertEquals(2, noFile.exitCode(), noFile.toString());
    assertEquals(1, noFile.errLines().size(), noFile.toString());
    assertFalse(Files.exists(json));
  }
}
