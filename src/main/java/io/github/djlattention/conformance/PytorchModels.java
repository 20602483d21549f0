package io.github.djlattention.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.io.InputLimits;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** Reads {@code models/manifest.json} into {@link PytorchModelCase}s, in manifest order. */
public final class PytorchModels {

  /** Where the project keeps the models, relative to the repository root. */
  public static final Path DEFAULT_DIRECTORY = Path.of("models");

  private PytorchModels() {}

  /**
   * Loads every model the manifest lists.
   *
   * @param directory the folder holding {@code manifest.json} and one sub-folder per model
   * @return the cases
   * @throws IllegalArgumentException when the manifest or a model folder is missing
   * @throws UncheckedIOException when the manifest cannot be read
   */
  public static List<PytorchModelCase> load(Path directory) {
    Path manifest = directory.resolve("manifest.json");
    if (!Files.isRegularFile(manifest)) {
      throw new IllegalArgumentException("no model manifest at " + manifest.toAbsolutePath());
    }
    JsonNode root;
    try {
      root =
          new ObjectMapper().readTree(InputLimits.readFile(manifest, InputLimits.Limit.TEXT_BYTES));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + manifest + ": " + e.getMessage(), e);
    }
    List<PytorchModelCase> cases = new ArrayList<>();
    for (JsonNode model : root.path("models")) {
      String name = model.path("name").asText();
      Path dir = directory.resolve(name);
      if (!Files.isRegularFile(dir.resolve("model.onnx"))) {
        throw new IllegalArgumentException(
            manifest + " lists " + name + ", but " + dir + " has no model.onnx");
      }
      JsonNode config = model.path("config");
      List<String> inputs = new ArrayList<>();
      int maskRank = 0;
      for (Iterator<String> it = model.path("inputs").fieldNames(); it.hasNext(); ) {
        String input = it.next();
        inputs.add(input);
        if (input.equals("attn_mask")) {
          maskRank = model.path("inputs").get(input).size();
        }
      }
      cases.add(
          new PytorchModelCase(
              name,
              group(config),
              dir,
              config.path("num_heads").asInt(0),
              config.path("causal").asBoolean(false),
              inputs,
              maskRank));
    }
    if (cases.isEmpty()) {
      throw new IllegalArgumentException(manifest + " lists no models");
    }
    return cases;
  }

  private static String group(JsonNode config) {
    if (!config.has("num_heads")) {
      return "seed module";
    }
    if (config.path("causal").asBoolean(false)) {
      return "causal";
    }
    if (config.path("attn_mask_input").asBoolean(false)) {
      return "float mask";
    }
    int embed = config.path("embed_dim").asInt();
    if (config.path("kdim").asInt(embed) != embed || config.path("vdim").asInt(embed) != embed) {
      return "kdim/vdim";
    }
    if (config.path("seq_q").asInt() != config.path("seq_kv").asInt()) {
      return "cross-attention";
    }
    return "self-attention";
  }
}
