package io.github.djlattention.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The PyTorch reference models of {@code models/manifest.json}, for data-driven tests. */
public final class ReferenceModels {

  /** The models folder, relative to the project root (Maven's working directory). */
  public static final Path ROOT = Path.of("models");

  /**
   * One model folder.
   *
   * @param name the folder name
   * @param heads the number of heads, 0 for the single-head seed module
   * @param causal whether the module masks future keys
   * @param maskInput whether the graph takes an {@code attn_mask} input
   */
  public record Model(String name, int heads, boolean causal, boolean maskInput) {

    /** The model's folder. */
    public Path dir() {
      return ROOT.resolve(name);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  private ReferenceModels() {}

  /** Every model listed in the manifest. */
  public static List<Model> all() {
    JsonNode manifest;
    try {
      manifest = new ObjectMapper().readTree(ROOT.resolve("manifest.json").toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<Model> models = new ArrayList<>();
    for (JsonNode model : manifest.get("models")) {
      JsonNode config = model.get("config");
      models.add(
          new Model(
              model.get("name").asText(),
              config.path("num_heads").asInt(0),
              config.path("causal").asBoolean(false),
              config.path("attn_mask_input").asBoolean(false)));
    }
    return models;
  }
}
