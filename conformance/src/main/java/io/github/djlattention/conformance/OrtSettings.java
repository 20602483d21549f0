package io.github.djlattention.conformance;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.onnxruntime.OrtLoggingLevel;
import io.github.djlattention.ort.OrtDevice;
import io.github.djlattention.ort.OrtRunner;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * How the implementations on ONNX Runtime run a model: on one device, with a number of intra-op
 * threads, one inter-op thread and only fatal messages logged, in a session that is closed after
 * its one run.
 *
 * @param device where ONNX Runtime runs
 * @param threads intra-op threads per session
 */
record OrtSettings(OrtDevice device, int threads) {

  /**
   * Opens a session on the model, runs it once and closes it.
   *
   * @param model the serialized ONNX model
   * @param inputs graph inputs by name
   * @param outputs names of the graph outputs to compute
   * @param manager the manager that will own the outputs; views of them must not outlive it
   * @return outputs by name
   * @throws IllegalArgumentException if ONNX Runtime rejects the model, an input or an output name
   * @throws IllegalStateException if ONNX Runtime fails otherwise
   */
  Map<String, NDArray> runOnce(
      byte[] model, Map<String, NDArray> inputs, Set<String> outputs, NDManager manager) {
    return runOnce(builder().build(model), inputs, outputs, manager);
  }

  /**
   * Opens a session on the model file, runs it once and closes it.
   *
   * @param model the {@code .onnx} file
   * @param inputs graph inputs by name
   * @param outputs names of the graph outputs to compute
   * @param manager the manager that will own the outputs; views of them must not outlive it
   * @return outputs by name
   * @throws IllegalArgumentException if the file is missing, or ONNX Runtime rejects the model, an
   *     input or an output name
   * @throws IllegalStateException if ONNX Runtime fails otherwise
   */
  Map<String, NDArray> runOnce(
      Path model, Map<String, NDArray> inputs, Set<String> outputs, NDManager manager) {
    return runOnce(builder().build(model), inputs, outputs, manager);
  }

  private OrtRunner.Builder builder() {
    return OrtRunner.builder()
        .optDevice(device)
        .optIntraOpThreads(threads)
        .optInterOpThreads(1)
        .optLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
  }

  private static Map<String, NDArray> runOnce(
      OrtRunner opened, Map<String, NDArray> inputs, Set<String> outputs, NDManager manager) {
    try (OrtRunner runner = opened) {
      return runner.run(inputs, outputs, manager);
    }
  }
}
