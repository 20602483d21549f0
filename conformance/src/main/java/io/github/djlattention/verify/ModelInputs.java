package io.github.djlattention.verify;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.github.djlattention.io.Npz;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The inputs of one model run: arrays by graph input name, from an {@code .npz} file (any element
 * type the model takes, int64 token ids included) or from text through DJL's Hugging Face
 * tokenizer.
 *
 * @param arrays the inputs by graph input name
 * @param description how they were made, for the report
 * @param texts the texts, when they were tokenized (else empty)
 */
public record ModelInputs(Map<String, NDArray> arrays, String description, List<String> texts) {

  /** Copies the map and the list. */
  public ModelInputs {
    arrays = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(arrays));
    texts = List.copyOf(texts);
  }

  /**
   * Reads inputs from an {@code .npz} archive whose entries are named after the graph inputs.
   *
   * @param file the archive
   * @param manager owns the arrays
   * @return the inputs
   * @throws IllegalArgumentException when the archive cannot be read (see {@link Npz#read})
   */
  public static ModelInputs fromNpz(Path file, NDManager manager) {
    Map<String, NDArray> arrays = Npz.read(manager, file);
    return new ModelInputs(arrays, "arrays from " + file, List.of());
  }

  /**
   * Tokenizes texts as one batch, padded to the longest, with DJL's {@link HuggingFaceTokenizer}:
   * {@code input_ids}, {@code attention_mask} and {@code token_type_ids} (int64, (B, S)), of which
   * the model's inputs take those they name.
   *
   * @param texts the texts, at least one
   * @param tokenizer a {@code tokenizer.json}
   * @param modelInputs the model's graph input names
   * @param manager owns the arrays
   * @return the inputs
   * @throws IllegalArgumentException when there is no text, the tokenizer file is missing or not a
   *     tokenizer, or the model takes an input the tokenizer does not make
   */
  public static ModelInputs fromText(
      List<String> texts, Path tokenizer, Set<String> modelInputs, NDManager manager) {
    if (texts.isEmpty()) {
      throw new IllegalArgumentException("--text: give at least one text");
    }
    if (!Files.isRegularFile(tokenizer)) {
      throw new IllegalArgumentException(
          "tokenizer "
              + tokenizer
              + (Files.exists(tokenizer) ? " is not a regular file" : " does not exist"));
    }
    Encoding[] encodings;
    try (HuggingFaceTokenizer hf =
        HuggingFaceTokenizer.builder()
            .optTokenizerPath(tokenizer)
            .optPadding(true)
            .optTruncation(true)
            .build()) {
      encodings = hf.batchEncode(texts);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot read tokenizer " + tokenizer + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      if (e instanceof IllegalArgumentException) {
        throw e;
      }
      throw new IllegalArgumentException(
          "tokenizer " + tokenizer + " cannot be used: " + e.getMessage(), e);
    }
    int batch = encodings.length;
    int length = encodings[0].getIds().length;
    long[][] ids = new long[batch][];
    long[][] mask = new long[batch][];
    long[][] types = new long[batch][];
    for (int b = 0; b < batch; b++) {
      ids[b] = encodings[b].getIds();
      mask[b] = encodings[b].getAttentionMask();
      types[b] = encodings[b].getTypeIds();
      if (ids[b].length != length) {
        throw new IllegalStateException("the tokenizer did not pad the batch to one length");
      }
    }
    Map<String, long[][]> made = new LinkedHashMap<>();
    made.put("input_ids", ids);
    made.put("attention_mask", mask);
    made.put("token_type_ids", types);
    Map<String, NDArray> arrays = new LinkedHashMap<>();
    List<String> missing = new ArrayList<>();
    for (String input : modelInputs) {
      long[][] values = made.get(input);
      if (values == null) {
        missing.add(input);
      } else {
        arrays.put(input, manager.create(values));
      }
    }
    if (!missing.isEmpty()) {
      throw new IllegalArgumentException(
          "the model takes "
              + missing
              + ", which a tokenizer does not make (it makes "
              + made.keySet()
              + "); give the inputs with --inputs FILE.npz");
    }
    long padded = 0;
    for (long[] row : mask) {
      for (long m : row) {
        padded += m == 0 ? 1 : 0;
      }
    }
    return new ModelInputs(
        arrays,
        batch
            + " text(s) tokenized by "
            + tokenizer.getFileName()
            + ", padded to "
            + length
            + " tokens ("
            + padded
            + " padding positions)",
        texts);
  }

  /**
   * Checks that the inputs are exactly the model's.
   *
   * <p>An input with an empty axis is refused too: ONNX Runtime 1.26 kills the process on some of
   * them (see {@code check}), so none reaches it.
   *
   * @param modelInputs the model's graph input names
   * @throws IllegalArgumentException naming the missing and the unknown inputs, or an input with an
   *     empty axis
   */
  public void requireExactly(Set<String> modelInputs) {
    arrays.forEach(
        (name, array) -> {
          if (array.getShape().dimension() > 0 && array.size() == 0) {
            throw new IllegalArgumentException(
                "input '" + name + "' " + array.getShape() + " has an empty axis");
          }
        });
    Set<String> missing = new TreeSet<>(modelInputs);
    missing.removeAll(arrays.keySet());
    Set<String> unknown = new TreeSet<>(arrays.keySet());
    unknown.removeAll(modelInputs);
    if (!missing.isEmpty() || !unknown.isEmpty()) {
      throw new IllegalArgumentException(
          "the inputs do not fit the model: "
              + (missing.isEmpty() ? "" : "missing " + missing)
              + (!missing.isEmpty() && !unknown.isEmpty() ? ", " : "")
              + (unknown.isEmpty() ? "" : "not inputs of the model " + unknown)
              + "; the model's inputs are "
              + modelInputs);
    }
  }
}
