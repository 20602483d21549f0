package io.github.djlattention.onnx.inspect;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** The all-MiniLM-L6-v2 models that the build unpacks from Maven Central into target/models/. */
final class MiniLmFiles {

  static final Path FLOAT = Path.of("target/models/all-minilm-l6-v2/all-minilm-l6-v2.onnx");
  static final Path QUANTIZED = Path.of("target/models/all-minilm-l6-v2-q/all-minilm-l6-v2-q.onnx");

  private MiniLmFiles() {}

  /** The file, which must exist: the onnx module's build unpacks it (generate-resources). */
  static Path require(Path file) {
    assertTrue(
        Files.isRegularFile(file),
        file.toAbsolutePath()
            + " is missing: the onnx module's build unpacks it (mvn -pl onnx generate-resources)");
    return file;
  }
}
