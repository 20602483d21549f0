package io.github.djlattention.verify;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.github.djlattention.io.Npz;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Inputs from text through DJL's Hugging Face tokenizer (offline, from the jar) and from .npz. */
class ModelInputsTest {

  @TempDir Path directory;

  @Test
  void textsBecomeOnePaddedInt64Batch() {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      ModelInputs inputs =
          ModelInputs.fromText(
              List.of("Hello world", "The quick brown fox jumps over the lazy dog."),
              MiniLm.tokenizer(MiniLm.FLOAT),
              Set.of("input_ids", "attention_mask"),
              manager);
      NDArray ids = inputs.arrays().get("input_ids");
      NDArray mask = inputs.arrays().get("attention_mask");
      assertEquals(DataType.INT64, ids.getDataType());
      assertEquals(2, ids.getShape().get(0));
      long length = ids.getShape().get(1);
      assertEquals(12, length, "[CLS] + 10 word pieces + [SEP]");
      assertEquals(101, ids.getLong(0, 0), "[CLS]");
      assertEquals(102, ids.getLong(0, 3), "[SEP] after hello world");
      assertEquals(0, ids.getLong(0, 4), "[PAD]");
      assertEquals(4, mask.get(0).sum().getLong());
      assertEquals(12, mask.get(1).sum().getLong());
      assertEquals(Set.of("input_ids", "attention_mask"), inputs.arrays().keySet());
      assertTrue(inputs.description().contains("(8 padding positions)"), inputs.description());
    }
  }

  @Test
  void badInputsAreNamed() throws Exception {
    try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  ModelInputs.fromText(
                      List.of("x"),
                      MiniLm.tokenizer(MiniLm.FLOAT),
                      Set.of("pixel_values"),
                      manager));
      assertTrue(e.getMessage().contains("[pixel_values]"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  ModelInputs.fromText(
                      List.of("x"), directory.resolve("none.json"), Set.of(), manager));
      assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
      Path npz = directory.resolve("in.npz");
      Npz.write(npz, Map.of("input_ids", manager.create(new long[][] {{101, 102}})));
      ModelInputs read = ModelInputs.fromNpz(npz, manager);
      assertEquals(DataType.INT64, read.arrays().get("input_ids").getDataType());
      e =
          assertThrows(
              IllegalArgumentException.class,
              // an ordered set: Set.of iterates in an order that changes from one JVM to the next
              () ->
                  read.requireExactly(new LinkedHashSet<>(List.of("input_ids", "attention_mask"))));
      assertEquals(
          "the inputs do not fit the model: missing [attention_mask]; the model's inputs are"
              + " [input_ids, attention_mask]",
          e.getMessage());
    }
  }
}
