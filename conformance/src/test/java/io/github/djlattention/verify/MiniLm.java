package io.github.djlattention.verify;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;

/** The all-MiniLM-L6-v2 models the build unpacks into target/models/, and runs on them. */
final class MiniLm {

  static final String FLOAT = "all-minilm-l6-v2";
  static final String QUANTIZED = "all-minilm-l6-v2-q";

  /** Texts as the HTML report lists them. */
  static final java.util.List<String> TEXTS_FOR_REPORT = ModelsSuite.TEXTS;

  private MiniLm() {}

  static Path model(String name) {
    Path file = ModelsSuite.model(ModelsSuite.DEFAULT_DIRECTORY, name);
    assertTrue(
        Files.isRegularFile(file),
        file.toAbsolutePath() + " is missing: the onnx module's build unpacks it");
    return file;
  }

  static Path tokenizer(String name) {
    return ModelsSuite.tokenizer(ModelsSuite.DEFAULT_DIRECTORY, name);
  }

  /** The suite's texts, tokenized for the model. */
  static ModelInputs inputs(String name, NDManager manager) {
    return ModelInputs.fromText(
        ModelsSuite.TEXTS,
        tokenizer(name),
        new java.util.LinkedHashSet<>(
            java.util.List.of("input_ids", "attention_mask", "token_type_ids")),
        manager);
  }

  /** verify-model on a MiniLM model with the given settings. */
  static ModelReport verify(String name, VerifySettings settings, NDManager manager) {
    return ModelVerifier.builder()
        .optSettings(settings)
        .build()
        .verify(model(name), inputs(name, manager), manager);
  }
}
