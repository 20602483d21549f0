package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import io.github.djlattention.testing.ReferenceModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code export} end to end: a model written from a PyTorch state dict, in both opsets, passes
 * {@code check} against PyTorch's outputs; bad arguments are bad input.
 */
class ExportCommandTest {

  @TempDir Path dir;

  static Stream<Arguments> torchModels() {
    return Stream.of("mha_kdim", "mha_float_mask", "mha_causal", "seed_self_attention_bias")
        .flatMap(name -> Stream.of(Arguments.of(name, 17), Arguments.of(name, 23)));
  }

  @ParameterizedTest(name = "{0} opset {1}")
  @MethodSource("torchModels")
  void exportFromAStateDictReproducesPyTorch(String name, int opset) throws Exception {
    ReferenceModels.Model model =
        ReferenceModels.all().stream().filter(m -> m.name().equals(name)).findFirst().orElseThrow();
    Path onnx = dir.resolve(name + ".onnx");
    Path weights = model.dir().resolve("state_dict.npz");
    List<String> export =
        new java.util.ArrayList<>(
            List.of(
                "export",
                "--weights",
                weights.toString(),
                "--opset",
                Integer.toString(opset),
                "--out",
                onnx.toString()));
    if (model.heads() > 0) {
      export.addAll(List.of("--heads", Integer.toString(model.heads())));
    }
    if (model.causal()) {
      export.add("--causal");
    }
    if (model.maskInput()) {
      export.addAll(List.of("--mask", "float"));
    }
    CliRun exported = CliRun.of(export.toArray(new String[0]));
    assertEquals(0, exported.exitCode(), exported.toString());
    assertEquals(
        opset, ModelProto.parseFrom(Files.readAllBytes(onnx)).getOpsetImport(0).getVersion());
    // No --heads, no --causal: check reads them from the exported model's metadata.
    CliRun check =
        CliRun.of(
            "check",
            "--onnx",
            onnx.toString(),
            "--weights",
            weights.toString(),
            "--inputs",
            model.dir().resolve("inputs.npz").toString(),
            "--expected",
            model.dir().resolve("outputs.npz").toString());
    assertEquals(0, check.exitCode(), check.toString());
  }

  @Test
  void randomWeightsWithGroupedHeads() throws Exception {
    Path onnx = dir.resolve("gqa.onnx");
    CliRun run =
        CliRun.of(
            "export",
            "--embed",
            "16",
            "--heads",
            "4",
            "--kv-heads",
            "2",
            "--bias",
            "--causal",
            "--opset",
            "23",
            "--seed",
            "7",
            "--out",
            onnx.toString());
    assertEquals(0, run.exitCode(), run.toString());
    ModelProto model = ModelProto.parseFrom(Files.readAllBytes(onnx));
    assertTrue(
        model.getGraph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("Attention")));
    assertEquals(
        List.of("query", "key", "value"),
        model.getGraph().getInputList().stream().map(v -> v.getName()).toList());
  }

  @Test
  void disagreementsAndMissingSizesAreBadInputAndWriteNothing() throws Exception {
    Path onnx = dir.resolve("model.onnx");
    Path weights = ReferenceModels.ROOT.resolve("mha_self_bias").resolve("state_dict.npz");
    String[][] bad = {
      {"export", "--weights", weights.toString(), "--heads", "4", "--embed", "12"},
      {"export", "--weights", weights.toString()},
      {
        "export",
        "--weights",
        ReferenceModels.ROOT.resolve("mha_self_nobias/state_dict.npz").toString(),
        "--heads",
        "2",
        "--bias"
      },
      {"export", "--heads", "4"},
      {"export", "--embed", "10", "--heads", "4"},
      {"export", "--embed", "8", "--heads", "2", "--opset", "18"},
      {"export", "--embed", "8", "--heads", "2", "--mask", "int"},
    };
    for (String[] args : bad) {
      String[] full =
          Stream.concat(Stream.of(args), Stream.of("--out", onnx.toString()))
              .toArray(String[]::new);
      CliRun run = CliRun.of(full);
      assertEquals(2, run.exitCode(), String.join(" ", args) + "\n" + run);
      assertEquals(1, run.errLines().size(), run.toString());
      assertFalse(Files.exists(onnx), String.join(" ", args));
    }
  }
}
