package io.github.djlattention.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.djlattention.io.InputLimits;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
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
   * @throws IllegalArgumentException when the manifest or a model folder is missing, or an entry
   *     names a folder outside {@code directory} (absolute, with {@code ..}, or through a symbolic
   *     link)
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
      Path dir = confined(manifest, directory, name);
      if (!Files.isRegularFile(dir.resolve("model.onnx"))) {
        throw new IllegalArgumentException(
            manifest + " lists " + name + ", but " + dir + " has no model.onnx");
      }
      for (String file : List.of("model.onnx", "inputs.npz", "outputs.npz", "state_dict.npz")) {
        confined(manifest, directory, name + "/" + file);
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

  /**
   * Resolves a manifest entry's folder, refusing one that is not inside {@code directory}: an empty
   * name, an absolute path, a {@code ..} component, or a symbolic link that leads out of it.
   */
  static Path confined(Path manifest, Path directory, String name) {
    String why = null;
    Path relative = null;
    try {
      relative = Path.of(name);
    } catch (InvalidPathException e) {
      why = "is not a valid path";
    }
    if (why == null) {
      if (name.isBlank()) {
        why = "is empty";
      } else if (relative.isAbsolute() || name.startsWith("/") || name.startsWith("\\")) {
        why = "is an absolute path";
      } else {
        for (Path part : relative) {
          if (part.toString().equals("..")) {
            why = "contains '..'";
          }
        }
      }
    }
    Path dir = why == null ? directory.resolve(relative) : null;
    if (why == null && Files.exists(dir)) {
      try {
        if (!dir.toRealPath().startsWith(directory.toRealPath())) {
          why = "leads out of " + directory + " through a symbolic link";
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot resolve " + dir + ": " + e.getMessage(), e);
      }
    }
    if (why != null) {
      throw new IllegalArgumentException(
          manifest
              + " lists the model '"
              + name
              + "', which "
              + why
              + "; every model must be a folder inside "
              + directory);
    }
    return dir;
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
