package io.github.djlattention.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.io.Npz;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code verify-model} from text and from an .npz of int64 token ids; its reports and errors. */
class VerifyModelCommandTest {

  @TempDir Path directory;

  @Test
  void textsThroughTheTokenizerBesideTheModelAllAgree() throws Exception {
    Path json = directory.resolve("report.json");
    Path html = directory.resolve("report.html");
    Path saved = directory.resolve("inputs.npz");
    CliRun run =
        CliRun.of(
            "verify-model",
            InspectCommandTest.QUANTIZED.toString(),
            "--text",
            "Hello world",
            "--text",
            "The quick brown fox jumps over the lazy dog.",
            "--json",
            json.toString(),
            "--html",
            html.toString(),
            "--save-inputs",
            saved.toString(),
            "--write-case",
            directory.resolve("cases").toString(),
            "--case-site",
            "5");
    assertEquals(0, run.exitCode(), run.toString());
    assertTrue(
        run.out().contains("6 of 6 sites agree, 0 deviate, 0 not verified -> PASS"), run.out());
    assertTrue(
        run.err().contains("verify-model: [6/6] /encoder/layer.5/attention/self: agree"),
        run.err());
    JsonNode root = new ObjectMapper().readTree(Files.readString(json));
    assertTrue(root.get("allAgree").asBoolean());
    assertTrue(Files.readString(html).contains("data:image/png;base64,"));
    assertTrue(
        Files.isRegularFile(
            directory.resolve("cases/site-05-encoder_layer.5_attention_self/model.onnx")));

    // The saved token ids run again through --inputs: int64 inputs, same verdict.
    CliRun again =
        CliRun.of(
            "verify-model",
            InspectCommandTest.QUANTIZED.toString(),
            "--inputs",
            saved.toString(),
            "--quiet");
    assertEquals(0, again.exitCode(), again.toString());
    assertTrue(again.out().contains("arrays from " + saved), again.out());
    assertTrue(again.out().contains("input_ids (2, 12) int64"), again.out());
    assertEquals("", again.err());
  }

  @Test
  void badInputsAreOneLineAndExitTwo() throws Exception {
    String model = InspectCommandTest.FLOAT.toString();
    assertBad(CliRun.of("verify-model", model), "give the inputs: --inputs FILE.npz, or --text");
    Path npz = directory.resolve("wrong.npz");
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      Npz.write(npz, Map.of("input_ids", manager.create(new long[][] {{101, 102}})));
    }
    assertBad(
        CliRun.of("verify-model", model, "--inputs", npz.toString(), "--text", "x"),
        "give either --inputs or --text, not both");
    assertBad(
        CliRun.of("verify-model", model, "--inputs", npz.toString()),
        "the inputs do not fit the model: missing [attention_mask, token_type_ids]");
    assertBad(
        CliRun.of(
            "verify-model",
            model,
            "--text",
            "x",
            "--tokenizer",
            directory.resolve("t.json").toString()),
        "does not exist");
    assertBad(CliRun.of("verify-model", model, "--text", "x", "--json", model), "--json");
  }

  private static void assertBad(CliRun run, String text) {
    assertEquals(2, run.exitCode(), run.toString());
    String line = run.errLines().get(run.errLines().size() - 1);
    assertTrue(line.startsWith("djl-attention verify-model: "), run.err());
    assertTrue(line.contains(text), run.err());
  }
}
