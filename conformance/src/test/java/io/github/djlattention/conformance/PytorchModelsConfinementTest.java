package io.github.djlattention.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, class 6: a {@code --models} manifest may only name folders inside the directory it lies
 * in. Generated family: absolute paths, {@code ..} in every position, and symbolic links that lead
 * out (the folder itself or one of its files).
 */
class PytorchModelsConfinementTest {
  @TempDir Path dir;

  private static final Path SEED = Path.of("models/seed_self_attention");

  private Path copySeed(Path to) throws Exception {
    Files.createDirectories(to);
    for (String file : List.of("model.onnx", "inputs.npz", "outputs.npz", "state_dict.npz")) {
      Files.copy(SEED.resolve(file), to.resolve(file));
    }
    return to;
  }

  private Path manifest(Path models, String name) throws Exception {
    ObjectMapper mapper = new ObjectMapper();
    ObjectNode root = mapper.createObjectNode();
    ObjectNode model = root.putArray("models").addObject();
    model.put("name", name);
    model.putObject("config").put("embed_dim", 8);
    model.putObject("inputs").putArray("x").add(2).add(5).add(8);
    Files.createDirectories(models);
    return Files.writeString(models.resolve("manifest.json"), mapper.writeValueAsString(root));
  }

  @Test
  void entriesOutsideTheDirectoryAreRefused() throws Exception {
    Path models = dir.resolve("suite/models");
    Path outside = copySeed(dir.resolve("outside"));
    copySeed(models.resolve("inside"));
    copySeed(models.resolve("nested/deeper"));
    Files.createSymbolicLink(models.resolve("escape"), outside);
    Path half = Files.createDirectories(models.resolve("half"));
    for (String file : List.of("inputs.npz", "outputs.npz", "state_dict.npz")) {
      Files.copy(SEED.resolve(file), half.resolve(file));
    }
    Files.createSymbolicLink(half.resolve("model.onnx"), outside.resolve("model.onnx"));

    List<String> bad = new ArrayList<>();
    bad.add(outside.toString());
    bad.add(outside.toString() + "/");
    bad.add("/" + outside.toString());
    bad.add("escape");
    bad.add("escape/");
    bad.add("half");
    bad.add("");
    bad.add(" ");
    for (String climb : List.of("..", "../..", "inside/..", "nested/../..", "./..")) {
      bad.add(climb + "/outside");
      bad.add("inside/" + climb + "/outside");
    }
    bad.add("../../outside");
    bad.add("inside/../../outside");
    int refused = 0;
    for (String name : bad) {
      Path manifest = manifest(models, name);
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> PytorchModels.load(models), name);
      assertTrue(
          e.getMessage().startsWith(manifest + " lists the model '"), name + ": " + e.getMessage());
      assertTrue(
          e.getMessage().endsWith("; every model must be a folder inside " + models),
          e.getMessage());
      refused++;
    }
    assertEquals(20, refused);

    for (String good : List.of("inside", "./inside", "nested/deeper", "inside/")) {
      manifest(models, good);
      List<PytorchModelCase> cases = PytorchModels.load(models);
      assertEquals(1, cases.size(), good);
    }
  }
}
